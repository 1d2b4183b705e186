"""The scan pipeline: inputs -> registered checks (fingerprint, geo, behaviour) -> findings -> scores ->
profiles -> outputs. :func:`run_checks` is the I/O-free core; :func:`scan` adds reading and writing."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from fraud import warmup
from fraud.composite import DIMENSIONS, composite_scores
from fraud.config import FAMILIES, Config, load_config
from fraud.context import ScanContext
from fraud.decisions import latest_decisions, load_decisions
from fraud.errors import InputError
from fraud.findings import empty_findings, finalize
from fraud.fingerprint import useragent
from fraud.geo import gazetteer
from fraud.inputs import (REJECTED_COLUMNS, LoadedInput, absent_columns, find_inputs, in_file_order, read_input,
                          resolve_specs)
from fraud.parsing import IDENTIFIER_COLUMNS, NO_VALUE_NAME_COLUMNS, OUTCOME_EVENT_NAMES, outcome_rows
from fraud.registry import KEYS, PROFILE_PARTS, REGISTRY, NotEvaluated, all_checks, identities
from fraud.schema import BOOL, EVENT_KINDS, INPUT_SCHEMAS, PROFILES_SCHEMA, SEVERITY_ORDER
from fraud.scoring import conflicting_scores, score_users

INPUT_KINDS = ("logins", "devices", "locations", "scores")
# Shared tables a family builds before its checks: the parsed user agents (Python work) overlap the geo family's
# positions (Polars work), which the fingerprint checks' local days wait for otherwise.
FAMILY_FIRST: dict[str, tuple[Callable[[ScanContext], object], ...]] = {"fingerprint": (useragent.agent_table,)}
Progress = Callable[[str], None]


@dataclass
class ScanInputs:
    """Where a scan reads from: a file, glob or folder per input kind (``logins`` required)."""

    logins: Any = None
    devices: Any = None
    locations: Any = None
    scores: Any = None
    decisions: Any = None
    folder: Any = None  # the input folder a scan of a folder took its files from (its decisions.* included)

    @classmethod
    def from_folder(cls, folder: str | Path, **overrides: Any) -> "ScanInputs":
        found = find_inputs(folder)
        kw = {k: (v if len(v) > 1 else v[0]) for k, v in found.items()}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw, folder=folder)


@dataclass
class ScanResult:
    findings: pl.DataFrame
    scores: pl.DataFrame
    profiles: pl.DataFrame
    rejected: pl.DataFrame
    summary: dict[str, Any]
    context: ScanContext | None = None
    loaded: dict[str, LoadedInput] = field(default_factory=dict)
    work: Any = None  # a partitioned scan's working files (the context reads them); removed by close()

    def close(self) -> None:
        """Remove a partitioned scan's working files (the context cannot be read after this)."""
        if self.work is not None:
            self.work.cleanup()
            self.work = None


class Timer:
    """Wall-clock seconds per named stage, in the order the stages ran, and the CPU seconds of the process (all
    its threads: Polars' pool, the detectors') in each: their ratio is how many cores the stage kept busy."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _T:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                timer.stages[name] = round(timer.stages.get(name, 0.0) + time.perf_counter() - self.t, 4)
                timer.cpu[name] = round(timer.cpu.get(name, 0.0) + time.process_time() - self.c, 4)

        return _T()

    def add(self, name: str, wall_s: float) -> None:
        """Add wall-clock seconds to a stage that ran beside others (its CPU seconds cannot be told apart)."""
        self.stages[name] = round(self.stages.get(name, 0.0) + wall_s, 4)


def collect_checks(ctx: ScanContext, keys: tuple[str, ...] = KEYS, timer: Timer | None = None,
                   progress: Progress | None = None) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, Any]]]:
    """Run every enabled registered check whose key is in ``keys``: raw findings per check name (before the
    post-steps and finalisation) and a status per rule (``ok`` with its findings, ``disabled`` or ``not
    evaluated`` with the reason; a check emitting two rules reports each)."""
    timer = timer or Timer()
    warmup.wait_tasks()  # the per-process tables, built while the inputs were read
    outlier = ctx.cfg.rule("behavior.outlier")
    if outlier.enabled and (ctx.model is not None or ctx.rows("logins") >= int(outlier["min_users"])):
        warmup.want_imports()  # the ensemble may fit (users <= logins rows): its libraries load meanwhile
    status: dict[str, dict[str, Any]] = {}

    def say(check, st: dict[str, Any]) -> None:
        # one entry per rule: a check that emits two rules (behavior.sigma and behavior.repeated) reports each
        for r in check.rules:
            status[r] = dict(st)

    plan: dict[str, list[tuple[Any, list[str]]]] = {}
    for check in all_checks():
        if check.key not in keys:
            continue
        enabled = [r for r in check.rules if ctx.cfg.rule(r).enabled]
        if not enabled:
            say(check, {"status": "disabled"})
            continue
        missing = [k for k in check.needs if not ctx.has(k)]
        if missing:
            say(check, {"status": "not evaluated", "reason": f"no {', '.join(missing)} input"})
            continue
        # no rows first: a column with a value in no valid row (all rejected) is no column either
        empty = [k for k in check.needs if check.key != "population" and ctx.rows(k) == 0]
        if empty:
            say(check, {"status": "not evaluated", "reason": f"no {', '.join(empty)} rows to read"})
            continue
        absent = [c for c in check.columns if c in ctx.absent.get("logins", ())]
        if absent:
            # missing from the file or empty in every row: either way no row gives a value
            say(check, {"status": "not evaluated", "reason": "no logins row has a value in the "
                        + " or ".join(absent) + (" columns" if len(absent) > 1 else " column")})
            continue
        plan.setdefault(check.family, []).append((check, enabled))
    families = [f for f in FAMILIES if f in plan]

    def run_family(family: str):
        """One family's checks: their eager preparations (shared tables, fits) then one collect of their plans;
        (wall seconds, per check its frame or the NotEvaluated that stopped it)."""
        t = time.perf_counter()
        lazy, results = [], {}
        for build in FAMILY_FIRST.get(family, ()):
            build(ctx)
        for check, enabled in plan[family]:
            if stop.is_set():  # the scan was stopped (Ctrl-C, an error in an earlier family): start no more checks
                return time.perf_counter() - t, results
            try:
                lazy.append((check, check.fn(ctx).filter(pl.col("rule").is_in(enabled))))
            except NotEvaluated as e:
                results[check.name] = e
        for (check, _), df in zip(lazy, pl.collect_all([lf for _, lf in lazy])):
            results[check.name] = df
        return time.perf_counter() - t, results

    if progress and families:
        progress("checks (" + ", ".join(families) + ")")
    # The families run side by side: one's Python work (parsing user agents, a detector's fit) and single-threaded
    # Polars steps overlap another's; their shared tables are built once (ScanContext.cached waits for a build
    # in progress). Results are taken in the registry's order, whatever finished first.
    # An error is raised from the first family in that order that failed (every earlier one has finished): the
    # same error on every run. Ctrl-C, or that error, stops the later families before their next check.
    stop = threading.Event()
    with timer("checks"):
        if len(families) > 1:
            pool = ThreadPoolExecutor(max_workers=len(families), thread_name_prefix="fraud-checks")
            try:
                futures = [pool.submit(run_family, f) for f in families]
                done = {f: fut.result() for f, fut in zip(families, futures)}
            except BaseException:
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
        else:
            done = {f: run_family(f) for f in families}
    out: dict[str, pl.DataFrame] = {}
    for family in families:
        wall, results = done[family]
        timer.add(family, wall)
        for check, enabled in plan[family]:
            got = results[check.name]
            if isinstance(got, NotEvaluated):  # the stage orders a check's reasons (a sliced scan keeps the furthest)
                for r in check.rules:
                    status[r] = ({"status": "not evaluated", "reason": str(got), "stage": got.stage} if r in enabled
                                 else {"status": "disabled"})
                continue
            by_rule = dict(got.group_by("rule").len().iter_rows()) if len(check.rules) > 1 else {check.name: got.height}
            for r in check.rules:
                status[r] = {"status": "ok", "findings": by_rule.get(r, 0)} if r in enabled else {"status": "disabled"}
            out[check.name] = got
    return out, status


def finish_findings(raw: dict[str, pl.DataFrame], cfg: Config, status: dict[str, dict[str, Any]],
                    timer: Timer | None = None, id_secret: str | None = None) -> pl.DataFrame:
    """Apply each check's post-step to its raw findings, then finalise all of them (ids, order, family; ids keyed
    with ``id_secret``: :func:`fraud.findings.finalize`)."""
    timer = timer or Timer()
    with timer("findings"):
        parts = [empty_findings().collect()]
        for name, df in sorted(raw.items()):
            post = REGISTRY[name].post
            if post is not None:
                df = post(df, cfg)
                status[name]["findings"] = df.height
            parts.append(df)
        return finalize(pl.concat(parts, how="vertical_relaxed"), cfg, identities(), id_secret)


def run_checks(ctx: ScanContext, timer: Timer | None = None, progress: Progress | None = None,
               id_secret: str | None = None) -> tuple[pl.DataFrame, dict[str, dict[str, Any]]]:
    """Run every enabled registered check on the context; findings (finalised) and a status per check."""
    raw, status = collect_checks(ctx, KEYS, timer, progress)
    findings = finish_findings(raw, ctx.cfg, status, timer, id_secret)
    for name, extra in ctx.notes.items():
        status.setdefault(name, {}).update(extra)
    return findings, status


def build_profiles(ctx: ScanContext, users: pl.DataFrame) -> pl.DataFrame:
    """One row per user: what registered profile parts inferred (home, work, time zone, main device)."""
    prof = users.lazy()
    for _, part in sorted(PROFILE_PARTS.items()):
        lf = part(ctx)
        cols = [c for c in lf.collect_schema().names() if c != "user_id"]
        prof = prof.drop([c for c in cols if c in prof.collect_schema().names()]).join(lf, on="user_id", how="left")
    have = prof.collect_schema().names()
    prof = prof.with_columns([pl.lit(None, t).alias(c) for c, t in PROFILES_SCHEMA.items() if c not in have])
    prof = prof.with_columns(pl.col("timezone").fill_null(ctx.cfg.timezone))
    return prof.select([pl.col(c).cast(t) for c, t in PROFILES_SCHEMA.items()]).sort("user_id").collect()


def context_from(loaded: dict[str, LoadedInput], cfg: Config, model: Any = None) -> ScanContext:
    """The scan context over the parsed inputs (provenance columns dropped)."""
    ctx = ScanContext.from_frames(cfg, model=model, **{k: v.frame.drop("_file", "_row") for k, v in loaded.items()})
    ctx.absent = {k: absent_columns(k, li.columns) for k, li in loaded.items() if k in ctx.given}
    return ctx


def read_inputs(inputs: ScanInputs, cfg: Config, timer: Timer) -> dict[str, LoadedInput]:
    """Every given input kind read and parsed in memory (:func:`fraud.inputs.read_input`)."""
    loaded = {}
    for kind, paths in input_files(inputs).items():
        with timer("read"):
            loaded[kind] = read_input(kind, paths, cfg)
    return loaded


MAX_LISTED_EVENT_KINDS = 20
MAX_LISTED_REASONS = 5
MAX_LISTED_DECISIONS = 20  # decisions on findings a scan did not make, listed in summary.json (latest first)
# A repeated row's reason names the file and row of its first copy: one kind in the summary, whichever file that is
DUPLICATE_KIND = "duplicate of an earlier row (every column equal)"


def top_counts(counts: dict[str, int], n: int = MAX_LISTED_REASONS) -> dict[str, int]:
    """The ``n`` largest counts of a note's counts per name, largest first (ties by name)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def rejection_reasons(rejected: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per input kind, the most frequent kinds of rejection (a row's reasons each count; a reason without the value
    it quotes and with row numbers as ``row …``: ``bad boolean in column success``; a repeated row as
    :data:`DUPLICATE_KIND`, whichever file holds its first copy), most frequent first: what a first look at a new
    export needs, where rejected.csv lists every row. The same rows split into other files give the same kinds."""
    if rejected.height == 0:
        return {}
    r = pl.col("r")
    kinds = (rejected.select("input", pl.col("reason").str.split("; ").alias("r")).explode("r")
             .with_columns(pl.when(r.str.starts_with("duplicate of ")).then(pl.lit(DUPLICATE_KIND))
                           .otherwise(r.str.replace(r": .*$", "").str.replace_all(r"\brow \d+", "row …")
                                      .str.replace(r"^local time .*? in column", "local time in column"))  # no colon
                           .alias("r"))
             .group_by("input", "r").len().sort(["input", "len", "r"], descending=[False, True, False]))
    return {k: dict(g.head(MAX_LISTED_REASONS).select("r", "len").iter_rows())
            for (k,), g in kinds.group_by("input", maintain_order=True)}


def unread_event_kinds(events: dict[str, int], cfg: Config) -> dict[str, int]:
    """Event names read (rows per name) that no rule reads: no contract kind, login outcome name, nor sensitive or
    payment event of the config. The most frequent :data:`MAX_LISTED_EVENT_KINDS`, most frequent first."""
    known = {*EVENT_KINDS, *OUTCOME_EVENT_NAMES, *cfg.reader_events(),
             *cfg.rule("device.new_device_sensitive")["sensitive_events"],
             *cfg.rule("behavior.sigma")["payment_events"], *cfg.rule("geo.cross_border_spend")["events"]}
    unread = sorted(((k, n) for k, n in events.items() if k not in known and n), key=lambda kn: (-kn[1], kn[0]))
    return dict(unread[:MAX_LISTED_EVENT_KINDS])


def summarize(loaded: dict[str, LoadedInput], findings: pl.DataFrame, scores: pl.DataFrame,
              status: dict[str, Any], timer: Timer, cfg: Config, rejected: pl.DataFrame,
              decisions: LoadedInput | None) -> dict[str, Any]:
    def counts(col: str, order: list[str] | None = None) -> dict[str, int]:
        d = dict(findings.group_by(col).len().sort(col).iter_rows())
        return {k: d.get(k, 0) for k in order} if order else d

    def read_as_missing(li: LoadedInput) -> dict[str, dict[str, int]]:
        """The values read as missing, per column: identifier placeholders and addresses that name nothing,
        and the "no value" markers of number and flag columns (NaN, ``null``, ``NA`` ...)."""
        ids = {c: n for c, n in sorted(li.placeholders.items()) if n and c in IDENTIFIER_COLUMNS}
        names = {c: n for c, n in sorted(li.placeholders.items()) if n and c in NO_VALUE_NAME_COLUMNS}
        kinds = INPUT_SCHEMAS[li.kind].columns if li.kind in INPUT_SCHEMAS else {}
        flags = {c: n for c, n in sorted(li.placeholders.items()) if n and kinds.get(c) == BOOL}
        nums = {c: n for c, n in sorted(li.placeholders.items())
                if n and c not in IDENTIFIER_COLUMNS | NO_VALUE_NAME_COLUMNS.keys() and kinds.get(c) != BOOL}
        outcome = outcome_rows(li.events, cfg.events)
        unread = unread_event_kinds(li.events, cfg)
        return {**({"placeholder_ids_read_as_missing": ids} if ids else {}),
                **({"no_value_names_read_as_missing": names} if names else {}),
                **({"no_value_numbers_read_as_missing": nums} if nums else {}),
                **({"no_value_flags_read_as_missing": flags} if flags else {}),
                **({"login_outcome_event_names": outcome} if outcome else {}),
                **({"event_kinds_no_rule_reads": unread} if unread else {})}

    reasons = rejection_reasons(rejected)
    inputs = {k: {"files": li.files, "rows_read": li.rows_read, "rows_used": li.rows_used,
                  "rows_rejected": li.rows_rejected, "extra_columns": li.extra_columns, **read_as_missing(li),
                  **({"files_not_utf8": li.encodings} if li.encodings else {}),
                  **({"optional_columns_under_other_names": li.unread_aliases} if li.unread_aliases else {}),
                  **({"decimal_comma_columns": li.decimal_comma} if li.decimal_comma else {}),
                  **({"rejection_reasons": reasons[k]} if reasons.get(k) else {})}
              for k, li in loaded.items()}
    if decisions is not None:  # rejected here: unparseable rows and rows with an unknown decision word
        n_bad = int(rejected.filter(pl.col("input") == "decisions").height)
        # decided findings this scan did not make (their evidence changed, or another scan's): not applied
        latest = (latest_decisions(decisions)[0].join(findings.select("finding_id"), on="finding_id", how="anti")
                  .sort("decided_at", "finding_id", descending=[True, False], nulls_last=True))
        inputs["decisions"] = {"files": decisions.files, **({"file_not_written_yet": decisions.not_written_yet}
                                                            if decisions.not_written_yet else {}),
                               "rows_read": decisions.rows_read,
                               "rows_used": decisions.rows_read - n_bad, "rows_rejected": n_bad,
                               "findings_not_in_scan": latest.height,
                               **({"not_in_scan": [
                                   {"finding_id": r["finding_id"], "decision": r["decision"],
                                    "decided_at": r["decided_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
                                    if r["decided_at"] is not None else None}
                                   for r in latest.head(MAX_LISTED_DECISIONS).iter_rows(named=True)]}
                                  if latest.height else {}),
                               # which dismissals did not apply, as the inputs say (it was a bare count)
                               **({"rejection_reasons": reasons["decisions"]} if reasons.get("decisions") else {})}
    tiers = [t for t, _, _ in cfg.tier_bands()]
    return {
        "tool": "fraud",
        "config": cfg.source,
        "inputs": inputs,
        "rows_read": sum(v["rows_read"] for v in inputs.values()),
        "rows_rejected": rejected.height,
        "users": scores.height,
        "findings": {"total": findings.height, "by_rule": counts("rule"),
                     "by_severity": counts("severity", list(SEVERITY_ORDER)), "by_family": counts("family")},
        # a rule's status (and its counts); counts of shared stages that are no rule (positions, homes, user
        # agents) under notes, so every checks entry has a status
        "checks": {k: {kk: vv for kk, vv in v.items() if kk != "stage"} for k, v in sorted(status.items())
                   if "status" in v},
        "notes": {k: {kk: top_counts(vv) if isinstance(vv, dict) else vv for kk, vv in v.items()}
                  for k, v in sorted(status.items()) if "status" not in v},
        "scores": {
            "tier_before": {t: int((scores["tier_before"] == t).sum()) for t in tiers},
            "tier_after": {t: int((scores["tier_after"] == t).sum()) for t in tiers},
            "mean_before": round(float(scores["score_before"].mean() or 0), 2),
            "mean_after": round(float(scores["score_after"].mean() or 0), 2),
            "users_penalised": int((scores["penalty"] < 0).sum()),
        },
        "timings_s": timer.stages,
        "cpu_s": timer.cpu,  # CPU seconds per stage (all threads): cpu_s / timings_s = cores busy
    }


def score_stage(findings: pl.DataFrame, users: pl.DataFrame, scores_in: pl.DataFrame | None, cfg: Config,
                decisions: pl.DataFrame | None, composite: bool, timer: Timer,
                profiles: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Scores of every user (and the findings with their counted points); see :func:`fraud.scoring.score_users`
    (the profiles' time zones place whole-day point windows on local days) and, with ``composite``,
    :func:`fraud.composite.composite_scores`."""
    with timer("score"):
        scores_in = scores_in if scores_in is not None else pl.DataFrame(schema={"user_id": pl.String,
                                                                                 "score": pl.Int64})
        zones = profiles.select("user_id", "timezone") if profiles is not None else None
        scores, findings = score_users(findings, users, scores_in, cfg, decisions, zones)
        if composite:
            if not scores_in.select(pl.all_horizontal(pl.col(d).is_not_null() for d in DIMENSIONS).any()).item():
                raise InputError("--composite needs a scores input with the columns payment, social, consumption, "
                                 "location, device, complaints")
            scores = composite_scores(scores, findings, scores_in, cfg, zones)
    return scores, findings


def all_rejected(parts: list[pl.DataFrame], dec_loaded: LoadedInput | None,
                 dec_bad: pl.DataFrame | None) -> pl.DataFrame:
    """Rejected rows of the inputs (in input order) followed by those of the decisions file."""
    dec = []
    if dec_loaded is not None:  # both kinds of rejected decision rows, in file and row order
        both = pl.concat([pl.DataFrame(schema=REJECTED_COLUMNS), dec_loaded.rejected, dec_bad], how="vertical_relaxed")
        dec = [in_file_order(both, dec_loaded.files)]
    return pl.concat([pl.DataFrame(schema=REJECTED_COLUMNS), *parts, *dec], how="vertical_relaxed")


def scan(inputs: ScanInputs, cfg: Config | None = None, *, model: Any = None,
         progress: Progress | None = None, composite: bool = False, shards: int | str = "auto",
         memory_gb: float | None = None, work_dir: str | Path | None = None,
         id_secret: str | None = None) -> ScanResult:
    """Read the inputs, run every check, score the users and build profiles and the summary (no writing).

    ``composite``: recompute scores from the six dimension sub-scores where the scores input carries them
    (see :mod:`fraud.composite`). ``shards``: ``auto`` scans in memory when the inputs fit ``memory_gb``
    (default :func:`fraud.spool.default_memory_gb`) and in slices otherwise (:mod:`fraud.shards`, working
    files under ``work_dir``); a number forces that many slices (1 = in memory). ``id_secret``: finding ids are
    keyed hashes (``--pseudonymize``: a plain hash of the clear ids could be brute-forced back to them)."""
    cfg = cfg or load_config()
    warmup.start(tasks=(gazetteer.prepare, useragent.prepare))
    n = resolve_shards(inputs, shards, memory_gb)
    if n > 1:
        from fraud.shards import scan_partitioned

        return scan_partitioned(inputs, cfg, n, model=model, progress=progress, composite=composite,
                                work_dir=work_dir, id_secret=id_secret)
    timer = Timer()
    t0, c0 = time.perf_counter(), time.process_time()
    if progress:
        progress("read")
    loaded = read_inputs(inputs, cfg, timer)
    dec, dec_bad, dec_loaded = (None, None, None)
    if inputs.decisions is not None:
        with timer("read"):
            dec, dec_bad, dec_loaded = load_decisions(inputs.decisions, cfg)
    ctx = context_from(loaded, cfg, model)
    findings, status = run_checks(ctx, timer, progress, id_secret)
    if progress:
        progress("score")
    users = ctx.users().collect()
    with timer("profiles"):
        profiles = build_profiles(ctx, users)
    scores, findings = score_stage(findings, users, loaded["scores"].frame if "scores" in loaded else None, cfg,
                                   dec, composite, timer, profiles)
    rejected = all_rejected([li.rejected for li in loaded.values()], dec_loaded, dec_bad)
    timer.stages["total"] = round(time.perf_counter() - t0, 4)
    timer.cpu["total"] = round(time.process_time() - c0, 4)
    summary = summarize(loaded, findings, scores, status, timer, cfg, rejected, dec_loaded)
    summary["users_without_events"] = ctx.users_without_events()
    summary["users_with_conflicting_scores"] = conflicting_scores(
        loaded["scores"].frame if "scores" in loaded else None)
    summary["shards"] = 1
    return ScanResult(findings=findings, scores=scores, profiles=profiles, rejected=rejected, summary=summary,
                      context=ctx, loaded=loaded)


def input_files(inputs: ScanInputs) -> dict[str, list[Path]]:
    """The files of each given input kind, in reading order (logins are required)."""
    if inputs.logins is None:
        raise InputError("no logins input given (use --logins FILE or a folder holding logins.*)")
    return {kind: resolve_specs(getattr(inputs, kind)) for kind in INPUT_KINDS if getattr(inputs, kind) is not None}


def resolve_shards(inputs: ScanInputs, shards: int | str, memory_gb: float | None) -> int:
    """The number of slices: ``auto`` sizes them from the input rows (and the width of their data) and the memory
    budget."""
    from fraud.spool import choose_shards, estimate_input, working_gb

    if shards == "auto":
        sizes = {kind: estimate_input(paths) for kind, paths in input_files(inputs).items()}
        rows = {kind: n for kind, (n, _) in sizes.items()}
        return choose_shards(working_gb(rows, sum(b for _, b in sizes.values())), memory_gb)
    try:
        n = int(shards)
    except (TypeError, ValueError):
        raise InputError(f"--shards must be a whole number or auto, not {shards!r}") from None
    if not 1 <= n <= 4096:
        raise InputError(f"--shards must be between 1 and 4096, not {n}")
    return n
