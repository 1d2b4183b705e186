"""Partitioned scans: inputs larger than memory are scanned one slice at a time, with the same outputs as a
scan that holds everything in memory (:func:`fraud.pipeline.scan`).

1. **Spool** – each input file is streamed once into Parquet slices by ``hash(user_id) % shards``
   (:mod:`fraud.spool`), each row keeping its 1-based row number.
2. **Parse** – slice by slice, rows are parsed and validated as in :mod:`fraud.parsing` (rejected rows are set
   aside exactly once) and the typed rows are stored three ways: by user slice, by device slice
   (``hash(device_id)``, device-less rows with their user) and, for logins, by IP slice (only the rows the
   IP-keyed checks read, :func:`slice_rows`: failed logins).
3. **Checks** – each registered check runs where its key (:class:`fraud.registry.Check`) gives it every row
   it needs: ``user`` checks and the profiles on the user slices, ``device`` checks on the device slices
   (logins and snapshots), ``ip`` checks on the IP slices (logins), and ``population`` checks once on what
   the user slices gathered. User agents are parsed once over all slices.
4. **Finish** – the checks' post-steps, finding ids, scores, profiles, rejected rows and counts, in the same
   order as an in-memory scan.

Peak memory is about one slice's working set plus the findings, scores and profiles of the whole batch.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from fraud.config import Config
from fraud.context import ScanContext
from fraud.decisions import load_decisions
from fraud.errors import FraudError, first_line
from fraud.exprs import ipv6_net64
from fraud.scoring import conflicting_scores
from fraud.fingerprint.account import SPANS_SCHEMA, SPRAY_SPANS, spray_spans
from fraud.fingerprint.useragent import agent_table
from fraud.duplicates import split_duplicates
from fraud.columns import first_names
from fraud.encoding import UTF8, encoding_note
from fraud.leftovers import owned_prefix, remove_abandoned
from fraud.inputs import REJECTED_COLUMNS, LoadedInput, absent_columns, file_format, given_columns
from fraud.pipeline import (INPUT_KINDS, Progress, ScanInputs, ScanResult, Timer, all_rejected, build_profiles,
                            collect_checks, finish_findings, input_files, score_stage, summarize)
from fraud.parsing import split_rows
from fraud.records import EMPTY_ROW, EXTRA_HASH, LAST_NULL
from fraud.registry import all_checks
from fraud.schema import INPUT_SCHEMAS
from fraud.spool import SHARD, SpooledFile, device_key, read_parts, shard_of, spool_file

DEVICE_KINDS = ("logins", "devices")
# The logins columns the device- and IP-keyed checks read: their slices store only these (the IP copy of the
# logins drops the long user agents, the device copy the positions and amounts), and the slices' frames are not
# padded, so a check that reads another column fails in the partition tests instead of seeing nulls.
SLICE_COLUMNS = {"device": {"logins": ("user_id", "ts", "event", "success", "device_id", "user_agent")},
                 "ip": {"logins": ("user_id", "ts", "event", "success", "ip")}}
MAX_NOTES = ("exclusion_passes",)  # per-slice notes combined by max instead of sum


def _merge_status(acc: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    """A check is ``ok`` when it evaluated on any slice (its findings add up); else the reason of the slice that
    got furthest (:class:`fraud.registry.NotEvaluated`'s stage; the first of those) stays: that is where the
    whole batch stops (a slice without snapshots says "no snapshot names an OS" where the batch has one)."""
    for name, st in new.items():
        cur = acc.get(name)
        if cur is None or (st["status"] == "ok" and cur["status"] != "ok"):
            acc[name] = dict(st)
        elif st["status"] == "ok":
            cur["findings"] += st["findings"]
        elif cur["status"] == "not evaluated" and st["status"] == "not evaluated" \
                and st.get("stage", 0) > cur.get("stage", 0):
            acc[name] = dict(st)


def _merge_notes(acc: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    for name, notes in new.items():
        cur = acc.setdefault(name, {})
        for k, v in notes.items():
            if k not in cur:
                cur[k] = v
            elif isinstance(v, bool):
                cur[k] = cur[k] and v
            elif isinstance(v, (int, float)) and isinstance(cur[k], (int, float)):
                cur[k] = max(cur[k], v) if k in MAX_NOTES else cur[k] + v
            elif isinstance(v, dict) and isinstance(cur[k], dict):  # counts per name: added up
                cur[k] = {n: cur[k].get(n, 0) + v.get(n, 0) for n in cur[k].keys() | v.keys()}


class _Work:
    """The working folders of one partitioned scan."""

    def __init__(self, root: Path, shards: int) -> None:
        self.root, self.shards = root, shards
        self._held = 0
        (root / "tmp").mkdir(parents=True)

    def raw(self, kind: str, fi: int) -> Path:
        return self.root / "raw" / kind / str(fi)

    def user(self, kind: str, s: int) -> Path:
        return self.root / "user" / kind / f"{s:05d}.parquet"

    def by(self, key: str, kind: str, part: int, s: int) -> Path:
        return self.root / key / kind / f"{part:05d}" / f"{s:05d}.parquet"

    def write(self, df: pl.DataFrame, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            df.write_parquet(path, compression="lz4", statistics=False)  # read whole, never filtered
        except Exception as e:  # noqa: BLE001 - a full disk or a vanished folder, said in one line
            raise FraudError(f"{path}: cannot write a working file of the sliced scan ({first_line(e)}); free space "
                             "or point --work-dir at a bigger disk") from None

    def split_write(self, df: pl.DataFrame, key_name: str, key: pl.Expr, kind: str, s: int) -> None:
        """Store ``df``'s rows by the slice of ``key``."""
        keyed = df.with_columns(shard_of(key, self.shards).alias(SHARD))
        for (part,), rows in keyed.partition_by(SHARD, as_dict=True, include_key=False).items():
            self.write(rows, self.by(key_name, kind, part, s))

    def hold(self, df: pl.DataFrame) -> pl.DataFrame | Path:
        """Keep a slice's result for the end of the scan: on disk when it has rows (what the whole batch holds
        while the next slices run: 1.5M findings, 2M users' profiles and features at 100M events), else as is."""
        if df.height == 0:
            return df
        self._held += 1
        path = self.root / "held" / f"{self._held:06d}.parquet"
        self.write(df, path)
        return path

    @staticmethod
    def take(held: pl.DataFrame | Path) -> pl.DataFrame:
        """A result :meth:`hold` kept."""
        return held if isinstance(held, pl.DataFrame) else pl.read_parquet(held)

    def scan_user(self, kind: str) -> pl.LazyFrame:
        return pl.scan_parquet(sorted((self.root / "user" / kind).glob("*.parquet"))).drop("_fi", "_row")


def _stored_schema(kind: str, key: str = "user") -> dict[str, pl.DataType]:
    """The columns of ``kind``'s rows stored in ``key``'s slices (their file index and row number last)."""
    schema = INPUT_SCHEMAS[kind].polars_schema()
    cols = SLICE_COLUMNS.get(key, {}).get(kind, tuple(schema))
    return {**{c: schema[c] for c in cols}, "_row": pl.Int64, "_fi": pl.Int32}


def slice_rows(key: str) -> pl.Expr | None:
    """The logins rows ``key``'s slices store: those some check of that key reads (its registered ``rows``), or
    every row (None) when one of them names none. ``ip.spray`` reads only failed logins, so the IP slices hold a
    few percent of the events instead of a third copy of all of them."""
    checks = [c for c in all_checks() if c.key == key]
    if not checks or any(c.rows is None for c in checks):
        return None
    return pl.any_horizontal([c.rows() for c in checks])


def _keep(frame: pl.DataFrame, rows: pl.Expr | None) -> pl.DataFrame:
    return frame if rows is None else frame.filter(rows)


def _parse_slices(work: _Work, kinds: list[str], spooled: dict[str, list[SpooledFile]], cfg: Config
                  ) -> tuple[list[pl.DataFrame], dict[str, int], dict[str, Counter], dict[str, Counter],
                             dict[str, set[str]], frozenset[str]]:
    """Parse every raw slice; store the typed rows by user, device and IP slice. Returns the rejected rows
    (with ``_k``/``_fi`` for input order), the rows used per kind, the placeholder ids read as missing and the
    rows per event name, per kind; per kind the canonical columns with a value in some valid row; and the event
    kinds the logins hold (:meth:`fraud.context.ScanContext.event_kinds`, the whole batch's)."""
    rejects, used, event_kinds = [], dict.fromkeys(kinds, 0), set()
    valued: dict[str, set[str]] = {k: set() for k in kinds}
    placeholders: dict[str, Counter] = {k: Counter() for k in kinds}
    events: dict[str, Counter] = {k: Counter() for k in kinds}
    device_rows, ip_rows = slice_rows("device"), slice_rows("ip")
    for s in range(work.shards):
        for k in kinds:
            goods = []
            for fi, sf in enumerate(spooled[k]):
                parts = sorted((work.raw(k, fi) / f"{SHARD}={s}").glob("*.parquet"))
                if sf.blank or not parts:
                    continue
                raw = pl.read_parquet(parts)
                shutil.rmtree(parts[0].parent)  # the raw slice is parsed once: free its disk space now
                if EMPTY_ROW in raw.columns:  # a CSV file's empty lines are no rows
                    raw = (raw.filter(~pl.col("_row").is_in(sf.blank_rows)) if sf.blank_rows else raw).drop(EMPTY_ROW)
                raw = raw.drop(LAST_NULL, strict=False)
                good, bad, found, names, has = split_rows(raw, INPUT_SCHEMAS[k], cfg, Path(sf.path), k,
                                                          file_format(sf.path) == "ndjson", sf.headers, sf.float_ids,
                                                          sf.decimal_comma)
                valued[k] |= has
                placeholders[k].update(found)
                events[k].update(names)
                goods.append(good.drop("_file").with_columns(pl.lit(fi, pl.Int32).alias("_fi")))
                if bad.height:
                    rejects.append(bad.with_columns(pl.lit(INPUT_KINDS.index(k)).alias("_k"),
                                                    pl.lit(fi).alias("_fi")))
            frame = pl.concat([pl.DataFrame(schema=_stored_schema(k)), *goods], how="diagonal_relaxed")
            # a row and its repeats share their user (or device) key, so they meet in one slice
            frame, dups = split_duplicates(frame, k, "_fi", [str(Path(sf.path)) for sf in spooled[k]])
            frame = frame.drop(EXTRA_HASH, strict=False)
            if dups.height:
                rejects.append(dups.with_columns(pl.lit(INPUT_KINDS.index(k)).alias("_k"), pl.col("_src").alias("_fi"))
                               .drop("_src"))
            used[k] += frame.height
            if k == "logins":
                event_kinds.update(frame["event"].drop_nulls().unique().to_list())
            work.write(frame, work.user(k, s))
            if k in DEVICE_KINDS:
                rows = device_rows if k == "logins" else None
                work.split_write(_keep(frame, rows).select(list(_stored_schema(k, "device"))), "device",
                                 device_key(), k, s)
            if k == "logins":
                # an IPv6 address by its /64 network: ip.spray counts a network's failures together too
                work.split_write(_keep(frame, ip_rows).select(list(_stored_schema(k, "ip"))), "ip",
                                 pl.coalesce(ipv6_net64(pl.col("ip")), pl.col("ip")), k, s)
    return rejects, used, placeholders, events, valued, frozenset(event_kinds)


def _context(cfg: Config, model: Any, given: list[str], frames: dict[str, pl.DataFrame | pl.LazyFrame],
             agents: pl.DataFrame | None, absent: dict[str, frozenset[str]], rows: dict[str, int], *,
             pad: bool = True, event_kinds: frozenset[str] | None = None) -> ScanContext:
    ctx = ScanContext.from_frames(cfg, model=model, pad=pad, **frames)
    ctx.given = set(given)
    ctx.absent = dict(absent)  # what the input files gave, not what a slice's frame holds
    for kind, n in rows.items():
        # the whole batch's rows, not the slice's: a check runs on a slice that holds none of its input's rows
        # (a device seen only in snapshots, an IP slice without failed logins) as it runs on the whole batch
        ctx.provide(f"rows.{kind}", n)
    if event_kinds is not None:  # the whole batch's event kinds, likewise
        ctx.provide("logins.event_kinds", event_kinds)
    if agents is not None:
        ctx.provide("fingerprint.agents", agents)
    return ctx


def _agents(work: _Work, cfg: Config, notes: dict[str, Any]) -> pl.DataFrame:
    """The parsed user-agent table over every slice (distinct agents found with the streaming engine)."""
    distinct = work.scan_user("logins").select(pl.col("user_agent").drop_nulls().unique()).collect(
        engine="streaming")
    ctx = ScanContext.from_frames(cfg, logins=distinct)
    table = agent_table(ctx)
    _merge_notes(notes, ctx.notes)
    return table


WORK_PREFIX = "fraud-scan-"


class _Prepared:
    """Spooled and parsed inputs of a partitioned scan or fit (working files in a temporary folder)."""

    def __init__(self, inputs: ScanInputs, cfg: Config, shards: int, work_dir: str | Path | None, timer: Timer,
                 progress: Progress | None) -> None:
        try:
            if work_dir is not None:
                Path(work_dir).mkdir(parents=True, exist_ok=True)
            remove_abandoned(work_dir, WORK_PREFIX)  # working folders that scans killed on this host left
            self.tmp = tempfile.TemporaryDirectory(prefix=owned_prefix(WORK_PREFIX), dir=work_dir)
        except OSError as e:
            raise FraudError(f"{work_dir or tempfile.gettempdir()}: cannot create the sliced scan's working folder "
                             f"({e.strerror or e})") from None
        try:
            self.work = work = _Work(Path(self.tmp.name), shards)
            files = input_files(inputs)
            self.kinds = list(files)
            if progress:
                progress("spool")
            with timer("spool"):
                self.spooled = {k: [spool_file(k, p, cfg, work.raw(k, fi), work.root / "tmp", shards)
                                    for fi, p in enumerate(ps)] for k, ps in files.items()}
                shutil.rmtree(work.root / "tmp")  # decompressed copies of gzip inputs
            if progress:
                progress("read")
            with timer("read"):
                rejects, self.used, self.placeholders, self.events, valued, self.event_kinds = _parse_slices(
                    work, self.kinds, self.spooled, cfg)
            self.rejected = pl.concat(rejects).sort("_k", "_fi", "row").drop("_k", "_fi") if rejects else None
            self.absent = {k: absent_columns(k, given_columns(k, valued[k], self.events[k], cfg.reader_events()))
                           for k in self.kinds}
        except BaseException:
            self.tmp.cleanup()
            raise

    def loaded(self) -> dict[str, LoadedInput]:
        """Per input kind: files, rows read, used and rejected (the rows themselves stay in the working files)."""
        return {k: LoadedInput(kind=k, frame=pl.DataFrame(schema=INPUT_SCHEMAS[k].polars_schema()),
                               rejected=(self.rejected.filter(pl.col("input") == k) if self.rejected is not None
                                         else pl.DataFrame(schema=REJECTED_COLUMNS)),
                               files=[sf.path for sf in self.spooled[k]],
                               rows_read=sum(sf.rows_read for sf in self.spooled[k]),
                               extra_columns=sorted({c for sf in self.spooled[k] for c in sf.extra_columns}),
                               used=self.used[k], placeholders=dict(self.placeholders[k]),
                               events=dict(self.events[k]),
                               encodings={sf.path: note for sf in self.spooled[k]
                                          if (note := encoding_note(sf.notes.get("encoding", UTF8),
                                                                    sf.notes.get("replaced")))},
                               unread_aliases=first_names(sf.notes.get("unread", {}) for sf in self.spooled[k]),
                               decimal_comma={sf.path: sorted(sf.decimal_comma) for sf in self.spooled[k]
                                              if sf.decimal_comma})
                for k in self.kinds}

    def user_slice(self, s: int, cfg: Config, model: Any, agents: pl.DataFrame | None, spans: pl.DataFrame
                   ) -> tuple[ScanContext, pl.DataFrame | None]:
        """The context of user slice ``s`` (given the whole batch's spray ``spans``) and its scores rows (with
        ``_fi``/``_row`` for input order)."""
        frames = {k: pl.read_parquet(self.work.user(k, s)) for k in self.kinds}
        ctx = _context(cfg, model, self.kinds, {k: f.drop("_fi", "_row") for k, f in frames.items()}, agents,
                       self.absent, self.used, event_kinds=self.event_kinds)
        ctx.provide(SPRAY_SPANS, spans)
        return ctx, frames.get("scores")

    def key_slices(self, key: str, cfg: Config, model: Any, agents: pl.DataFrame | None,
                   progress: Progress | None = None) -> Iterator[ScanContext]:
        """The context of each device (``key`` "device") or IP ("ip") slice, one after another."""
        kinds_of_key = DEVICE_KINDS if key == "device" else ("logins",)
        for part in range(self.work.shards):
            if progress:
                progress(f"{key}s {part + 1}/{self.work.shards}")
            frames = {k: read_parts(list((self.work.root / key / k / f"{part:05d}").glob("*.parquet")),
                                    _stored_schema(k, key)).drop("_fi", "_row")
                      for k in kinds_of_key if k in self.kinds}
            yield _context(cfg, model, self.kinds, frames, agents, self.absent, self.used, pad=False,
                           event_kinds=self.event_kinds)

    def spray_spans(self, cfg: Config) -> pl.DataFrame:
        """The whole batch's password-spray spans (:func:`fraud.fingerprint.account.spray_spans`), from the IP
        slices."""
        return _spans_together([spray_spans(ctx) for ctx in self.key_slices("ip", cfg, None, None)])


def _spans_together(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat([pl.DataFrame(schema=SPANS_SCHEMA), *parts]).sort("net", "ip", "from_ts")


def _put_together(gathered: dict[str, list[pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """The per-user frames the user slices gathered, concatenated in ``user_id`` order (the in-memory order)."""
    return {name: pl.concat(parts).sort("user_id") for name, parts in gathered.items()}


def gather_partitioned(inputs: ScanInputs, cfg: Config, shards: int,
                       gather: Callable[[ScanContext], dict[str, pl.DataFrame]], *,
                       work_dir: str | Path | None = None) -> tuple[dict[str, pl.DataFrame], dict[str, LoadedInput]]:
    """What a population check's ``gather`` hook collects from every user slice, put together (``fraud fit`` on
    a history larger than memory), and the row counts per input."""
    prep = _Prepared(inputs, cfg, shards, work_dir, Timer(), None)
    try:
        gathered: dict[str, list[pl.DataFrame]] = {}
        spans = prep.spray_spans(cfg)
        for s in range(shards):
            for name, df in gather(prep.user_slice(s, cfg, None, None, spans)[0]).items():
                gathered.setdefault(name, []).append(df)
        return _put_together(gathered), prep.loaded()
    finally:
        prep.tmp.cleanup()


def scan_partitioned(inputs: ScanInputs, cfg: Config, shards: int, *, model: Any = None,
                     progress: Progress | None = None, composite: bool = False,
                     work_dir: str | Path | None = None, id_secret: str | None = None) -> ScanResult:
    """:func:`fraud.pipeline.scan` in ``shards`` slices (see the module doc); same outputs, bounded memory.
    The result's context reads the working files, which ``result.close()`` removes."""
    timer, t0, c0 = Timer(), time.perf_counter(), time.process_time()
    prep = _Prepared(inputs, cfg, shards, work_dir, timer, progress)
    try:
        with timer("read"):
            dec, dec_bad, dec_loaded = (load_decisions(inputs.decisions, cfg) if inputs.decisions is not None
                                        else (None, None, None))
        findings, status, notes, users, profiles, scores_in, scored_only = _run_slices(prep, cfg, model, timer,
                                                                                      progress, id_secret)
        if progress:
            progress("score")
        scores, findings = score_stage(findings, users, scores_in, cfg, dec, composite, timer, profiles)
        loaded = prep.loaded()
        rejected = all_rejected([prep.rejected] if prep.rejected is not None else [], dec_loaded, dec_bad)
        for name, extra in notes.items():
            status.setdefault(name, {}).update(extra)
        timer.stages["total"] = round(time.perf_counter() - t0, 4)
        timer.cpu["total"] = round(time.process_time() - c0, 4)
        summary = summarize(loaded, findings, scores, status, timer, cfg, rejected, dec_loaded)
        summary["users_without_events"] = scored_only
        summary["users_with_conflicting_scores"] = conflicting_scores(scores_in)
        summary["shards"] = shards
        ctx = _context(cfg, model, prep.kinds, {k: prep.work.scan_user(k) for k in prep.kinds}, None, prep.absent,
                       prep.used, event_kinds=prep.event_kinds)
        return ScanResult(findings=findings, scores=scores, profiles=profiles, rejected=rejected, summary=summary,
                          context=ctx, loaded=loaded, work=prep.tmp)
    except BaseException:
        prep.tmp.cleanup()
        raise


def _run_slices(prep: _Prepared, cfg: Config, model: Any, timer: Timer, progress: Progress | None,
                id_secret: str | None = None):
    """Run every check on its slices; (findings, status, notes, users, profiles, scores input, users without
    events: a user's rows of every kind are in one user slice)."""
    work, kinds = prep.work, prep.kinds
    notes: dict[str, Any] = {}
    status: dict[str, dict[str, Any]] = {}
    # what each slice adds to the whole batch is held on disk until the end (:meth:`_Work.hold`)
    raw: dict[str, list[pl.DataFrame | Path]] = {}
    with timer("agents"):  # parsed once for every slice
        agents = _agents(work, cfg, notes) if prep.used.get("logins") else None
    population = [c for c in all_checks() if c.key == "population" and all(n in kinds for n in c.needs)
                  and any(cfg.rule(r).enabled for r in c.rules)]
    gathered: dict[str, list[pl.DataFrame | Path]] = {}
    users: list[pl.DataFrame | Path] = []
    profiles: list[pl.DataFrame | Path] = []
    scores_parts: list[pl.DataFrame | Path] = []
    scored_only = 0

    def run(ctx: ScanContext, key: str) -> None:
        found, st = collect_checks(ctx, (key,), timer)
        for name, df in found.items():
            raw.setdefault(name, []).append(work.hold(df))
        _merge_status(status, st)
        _merge_notes(notes, ctx.notes)

    def taken(held: list[pl.DataFrame | Path]) -> list[pl.DataFrame]:
        return [work.take(h) for h in held]

    # The IP slices first: the password sprays they find are given to every user slice, whose behaviour
    # features leave the sprays' failed attempts out (the victims are not penalised)
    spans = []
    for ctx in prep.key_slices("ip", cfg, model, agents, progress):
        run(ctx, "ip")
        spans.append(spray_spans(ctx))
    spans = _spans_together(spans)
    for s in range(work.shards):
        if progress:
            progress(f"users {s + 1}/{work.shards}")
        ctx, scores_rows = prep.user_slice(s, cfg, model, agents, spans)
        if scores_rows is not None:
            scores_parts.append(work.hold(scores_rows))
        run(ctx, "user")
        scored_only += ctx.users_without_events()
        with timer("profiles"):
            u = ctx.users().collect()
            users.append(work.hold(u))
            profiles.append(work.hold(build_profiles(ctx, u)))
        with timer("population"):  # the slice's part of the population checks' input
            for check in population:
                for name, df in check.gather(ctx).items():
                    gathered.setdefault(name, []).append(work.hold(df))
        del ctx
    for ctx in prep.key_slices("device", cfg, model, agents, progress):
        run(ctx, "device")
    if any(c.key == "population" for c in all_checks()):  # a disabled one says so, as in memory
        ctx = _context(cfg, model, kinds, {}, agents, prep.absent, prep.used, event_kinds=prep.event_kinds)
        for name, frame in _put_together({n: taken(parts) for n, parts in gathered.items()}).items():
            ctx.provide(name, frame)
        del gathered
        run(ctx, "population")
    findings = finish_findings({n: pl.concat(taken(p), how="vertical_relaxed") for n, p in raw.items()}, cfg,
                               status, timer, id_secret)
    with timer("profiles"):
        all_users = pl.concat(taken(users)).unique().sort("user_id")
        all_profiles = pl.concat(taken(profiles)).sort("user_id")
    scores_in = None
    if scores_parts:
        scores_in = pl.concat(taken(scores_parts)).sort("_fi", "_row").drop("_fi", "_row")
    return findings, status, notes, all_users, all_profiles, scores_in, scored_only
