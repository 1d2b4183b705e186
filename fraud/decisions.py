"""Reviewer decisions (contract section 6): an append-only ``decisions.csv`` of confirm/dismiss rows."""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from fraud.exprs import fmt

from fraud.config import Config, rule_ids
from fraud.errors import DecisionError
from fraud.encoding import sniff_separator
from fraud.inputs import FORMATS, LoadedInput, read_input
from fraud.schema import INPUT_SCHEMAS, REJECTED_COLUMNS
from fraud.outputs import csv_text

DECISIONS_HEADER = ("finding_id", "decision", "decided_at", "reviewer", "note")
REQUIRED = DECISIONS_HEADER[:3]
VALID = ("confirm", "dismiss")


def latest_decisions(loaded: LoadedInput) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest valid decision per finding, and the rows rejected for an unknown decision word."""
    f = loaded.frame.with_columns(pl.col("decision").str.to_lowercase())
    bad = f.filter(~pl.col("decision").is_in(VALID)).select(
        pl.lit("decisions").alias("input"), pl.col("_file").alias("file"), pl.col("_row").alias("row"),
        fmt("decision must be confirm or dismiss: {}", pl.col("decision")).alias("reason"),
        # the row as a decisions file writes it (the time in ISO 8601 UTC, not the parsed value's own notation)
        pl.struct(pl.col("finding_id", "decision"), pl.col("decided_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
                  .str.replace(r"\.0+Z$", "Z"), pl.col("reviewer", "note").cast(pl.String))
        .struct.json_encode().alias("raw"))
    good = (f.filter(pl.col("decision").is_in(VALID)).sort(["finding_id", "decided_at", "_file", "_row"])
            .group_by("finding_id", maintain_order=True).last())
    return good.select("finding_id", "decision", "decided_at", "reviewer", "note"), bad


def not_written_yet(path: str | Path | list) -> bool:
    """Whether ``path`` names a decisions file that no review has written yet: a plain path (no glob, no dangling
    link) in an existing folder. A nightly scan given ``--decisions F`` from its first night on reads it as no
    decisions (and says so); a path in a folder that does not exist stays an error (a typo)."""
    if not isinstance(path, (str, Path)) or any(ch in str(path) for ch in "*?["):
        return False
    p = Path(path)
    return not p.exists() and not p.is_symlink() and p.parent.is_dir()


def load_decisions(path: str | Path, cfg: Config) -> tuple[pl.DataFrame, pl.DataFrame, LoadedInput]:
    """The latest valid decision per finding in ``path``, its rejected rows and the read input; a file not written
    yet (:func:`not_written_yet`) holds none."""
    if not_written_yet(path):
        schema = {**INPUT_SCHEMAS["decisions"].polars_schema(), "_file": pl.String, "_row": pl.Int64}
        loaded = LoadedInput(kind="decisions", frame=pl.DataFrame(schema=schema),
                             rejected=pl.DataFrame(schema=REJECTED_COLUMNS), not_written_yet=str(path))
        return latest_decisions(loaded)[0], pl.DataFrame(schema=REJECTED_COLUMNS), loaded
    loaded = read_input("decisions", path, cfg)
    good, bad = latest_decisions(loaded)
    return good, bad, loaded


def append_decision(path: str | Path, finding_id: str, decision: str, *, note: str = "", reviewer: str = "",
                    known_ids: set[str] | None = None, force: bool = False,
                    now: datetime | None = None) -> dict[str, str]:
    """Append one decision row, holding an exclusive lock while writing (concurrent reviewers both land).

    Refuses an unknown ``finding_id`` (not in ``known_ids``) unless ``force``.
    """
    return append_decisions(path, [finding_id], decision, note=note, reviewer=reviewer, known_ids=known_ids,
                            force=force, now=now)[0]


def append_decisions(path: str | Path, finding_ids: list[str], decision: str, *, note: str = "",
                     reviewer: str = "", known_ids: set[str] | None = None, force: bool = False,
                     now: datetime | None = None) -> list[dict[str, str]]:
    """Append one decision row per finding id (an id given twice is one) under one exclusive lock (all or none:
    every id is checked first). Refuses an id not in ``known_ids`` unless ``force``, and an id whose file already
    holds a decision dated after this one's time: the latest ``decided_at`` holds, so the new row would be
    recorded and never take effect."""
    if decision not in VALID:
        raise DecisionError(f"decision must be one of {', '.join(VALID)}, got {decision!r}")
    finding_ids = list(dict.fromkeys(finding_ids))
    if not finding_ids:
        raise DecisionError("no finding to decide on")
    unknown = [f for f in finding_ids if known_ids is not None and f not in known_ids]
    if unknown and not force:
        raise DecisionError(f"unknown finding id {unknown[0]!r} (not in the scan's findings; use --force to record "
                            "it anyway)")
    p = Path(path)
    if FORMATS.get(p.suffix.lower()) != "csv":  # a Parquet, NDJSON or gzip file would be corrupted
        raise DecisionError(f"{p}: decisions are appended to a CSV file (.csv); give --decisions a .csv path")
    ts = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # the free-text cells take the formula guard of every CSV output: auditors open decisions.csv in spreadsheets
    rows = [{"finding_id": fid, "decision": decision, "decided_at": ts,
             "reviewer": csv_text(reviewer or os.environ.get("USER", "")), "note": csv_text(note)}
            for fid in finding_ids]
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                head = fh.readline(HEADER_BYTES)
                size = fh.seek(0, os.SEEK_END)
                if size:
                    _refuse_overridden(p, head, finding_ids, ts)
                fh.write(_rows_text(p, head, size, fh, rows).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError as e:
        raise DecisionError(f"{p}: cannot write decisions ({e.strerror or e})") from None
    return rows


HEADER_BYTES = 1 << 16


def _refuse_overridden(p: Path, head: bytes, finding_ids: list[str], ts: str) -> None:
    """Raise when the file already decides one of ``finding_ids`` with a ``decided_at`` after ``ts`` (a clock
    set wrong, a date typed by hand: 2031 for 2021). Read with the csv module, not Polars: reviewers may run in
    forked processes, where Polars' thread pool is not safe; times in ISO 8601 (what ``fraud review`` writes)
    are compared, others cannot be and are left to the scan."""
    cells, sep = _header_fields(p, head)
    names = [c.strip().lower() for c in cells]
    at, fid, dec = names.index("decided_at"), names.index("finding_id"), names.index("decision")
    wanted, now = set(finding_ids), datetime.fromisoformat(ts)
    later: dict[str, tuple[datetime, str]] = {}
    with open(p, encoding="utf-8-sig", errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        next(rows, None)
        for row in rows:
            if len(row) <= max(at, fid, dec) or row[fid].strip() not in wanted:
                continue
            decision = row[dec].strip().lower()
            try:
                when = datetime.fromisoformat(row[at].strip())
            except ValueError:
                continue
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
            if decision in VALID and when > now and (row[fid].strip() not in later
                                                     or when > later[row[fid].strip()][0]):
                later[row[fid].strip()] = (when, decision)
    if later:
        first = min(later)
        when, decision = later[first]
        raise DecisionError(
            f"{p}: finding {first} already has a {decision} dated {when.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}, "
            f"after this decision ({ts}): the latest decided_at holds, so this one would never take effect; correct "
            "or remove that row first" + (f" ({len(later)} findings are so)" if len(later) > 1 else ""))


def _header_fields(p: Path, head: bytes) -> tuple[list[str], str]:
    """An existing decisions file's header cells and separator. A file whose header lacks a required column is
    no decisions file (a logins file given by mistake, a header of other names): appending there would lose the
    decision (the next scan rejects the row) or corrupt an input."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    sep = sniff_separator(text.encode("utf-8"))
    cells = next(csv.reader([text], delimiter=sep), [])
    names = {c.strip().lower() for c in cells}
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise DecisionError(f"{p}: not a decisions file: its header has no {', '.join(missing)} column (give "
                            "--decisions a decisions file or a new path)")
    return cells, sep


def _rows_text(p: Path, head: bytes, size: int, fh, rows: list[dict[str, str]]) -> str:
    """The CSV text appended for ``rows``: a header first in a new file; in an existing one, the cells in its
    header's order and separator (columns it lacks are left out, columns it has that a decision does not fill
    stay empty), after a line end when its last line has none."""
    buf = io.StringIO()
    if size == 0:
        w = csv.writer(buf)
        w.writerow(DECISIONS_HEADER)
        w.writerows([[r[c] for c in DECISIONS_HEADER] for r in rows])
        return buf.getvalue()
    cells, sep = _header_fields(p, head)
    csv.writer(buf, delimiter=sep).writerows([[r.get(c.strip().lower(), "") for c in cells] for r in rows])
    fh.seek(size - 1)
    ended = fh.read(1) in (b"\n", b"\r")
    return buf.getvalue() if ended else "\r\n" + buf.getvalue()


def _scan_review(out: str | Path) -> dict:
    """``summary.json``'s ``review`` of the scan in ``out`` ({} when there is none)."""
    try:
        summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    review = summary.get("review") if isinstance(summary, dict) else None
    return review if isinstance(review, dict) else {}


def scan_decisions_file(out: str | Path) -> str | None:
    """The decisions file a scan's review commands write to (``summary.json``'s ``review.decisions``), or None
    when ``out`` holds no such summary."""
    path = _scan_review(out).get("decisions")
    return path if isinstance(path, str) else None


def next_scan_reads(out: str | Path) -> bool:
    """Whether the same scan command as the one that wrote ``out`` reads its review commands' decisions file (a
    scan given its input files one by one reads decisions only when given ``--decisions``)."""
    return _scan_review(out).get("next_scan_reads", True) is not False


def findings_of(findings: pl.DataFrame, user_id: str, rule: str | None = None) -> list[str]:
    """The ids a bulk review decides on, in the scan's order: one user's findings of ``rule``, or without a rule
    the user's penalties only (clearing a user must not take back the bonuses it earned)."""
    if rule is not None and rule not in rule_ids():  # a typo would read as "this user has none"
        raise DecisionError(f"unknown rule {rule!r} (`fraud rules` lists the rule ids)")
    f = findings.filter(pl.col("user_id") == user_id)
    f = f.filter(pl.col("rule") == rule) if rule is not None else f.filter(pl.col("points") < 0)
    if f.height == 0:
        raise DecisionError(f"no {'findings' if rule else 'penalty findings'} of user {user_id!r}"
                            + (f" for rule {rule!r}" if rule else "") + " in the scan")
    return f["finding_id"].to_list()
