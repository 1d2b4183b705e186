"""Reviewer decisions (contract section 6): an append-only ``decisions.csv`` of confirm/dismiss rows."""
from __future__ import annotations

import csv
import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from fraud.exprs import fmt

from fraud.config import Config
from fraud.errors import DecisionError
from fraud.inputs import LoadedInput, read_input

DECISIONS_HEADER = ("finding_id", "decision", "decided_at", "reviewer", "note")
VALID = ("confirm", "dismiss")


def latest_decisions(loaded: LoadedInput) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest valid decision per finding, and the rows rejected for an unknown decision word."""
    f = loaded.frame.with_columns(pl.col("decision").str.to_lowercase())
    bad = f.filter(~pl.col("decision").is_in(VALID)).select(
        pl.lit("decisions").alias("input"), pl.col("_file").alias("file"), pl.col("_row").alias("row"),
        fmt("decision must be confirm or dismiss: {}", pl.col("decision")).alias("reason"),
        pl.struct(pl.col("finding_id", "decision", "decided_at", "reviewer", "note").cast(pl.String))
        .struct.json_encode().alias("raw"))
    good = (f.filter(pl.col("decision").is_in(VALID)).sort(["finding_id", "decided_at", "_file", "_row"])
            .group_by("finding_id", maintain_order=True).last())
    return good.select("finding_id", "decision", "decided_at", "reviewer", "note"), bad


def load_decisions(path: str | Path, cfg: Config) -> tuple[pl.DataFrame, pl.DataFrame, LoadedInput]:
    loaded = read_input("decisions", path, cfg)
    good, bad = latest_decisions(loaded)
    return good, bad, loaded


def append_decision(path: str | Path, finding_id: str, decision: str, *, note: str = "", reviewer: str = "",
                    known_ids: set[str] | None = None, force: bool = False,
                    now: datetime | None = None) -> dict[str, str]:
    """Append one decision row, holding an exclusive lock while writing (concurrent reviewers both land).

    Refuses an unknown ``finding_id`` (not in ``known_ids``) unless ``force``.
    """
    if decision not in VALID:
        raise DecisionError(f"decision must be one of {', '.join(VALID)}, got {decision!r}")
    if known_ids is not None and finding_id not in known_ids and not force:
        raise DecisionError(f"unknown finding id {finding_id!r} (not in the scan's findings; use --force to record "
                            "it anyway)")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ts = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = {"finding_id": finding_id, "decision": decision, "decided_at": ts,
           "reviewer": reviewer or os.environ.get("USER", ""), "note": note}
    with open(p, "a+", newline="", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0, os.SEEK_END)
            w = csv.DictWriter(fh, fieldnames=DECISIONS_HEADER)
            if fh.tell() == 0:
                w.writeheader()
            w.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return row
