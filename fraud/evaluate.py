"""Precision and recall per rule of a scan against a labels file (``user_id, rule`` and, for IP rules, ``ip``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from fraud.errors import InputError, first_line

IP_RULES = ("ip.spray",)


def _subject(df: pl.DataFrame) -> pl.DataFrame:
    """(rule, subject): the user for account rules, the IP for IP rules."""
    ip = pl.col("ip") if "ip" in df.columns else pl.lit(None, pl.String)
    return df.select(
        pl.col("rule"),
        pl.when(pl.col("rule").is_in(IP_RULES)).then(ip).otherwise(pl.col("user_id")).alias("subject"),
    ).filter(pl.col("subject").is_not_null() & (pl.col("subject") != "")).unique()


def load_labels(path: str | Path) -> pl.DataFrame:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: labels file not found")
    try:
        df = pl.read_csv(p, infer_schema=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{p}: cannot read labels ({first_line(e)})") from None
    for c in ("user_id", "rule"):
        if c not in df.columns:
            raise InputError(f"{p}: missing required column {c!r}")
    return df


def load_findings(out: str | Path) -> pl.DataFrame:
    p = Path(out) / "findings.parquet"
    if not p.exists():
        raise InputError(f"{p}: no findings here (run `fraud scan --out {out}` first)")
    return pl.read_parquet(p)


def evaluate(findings: pl.DataFrame, labels: pl.DataFrame) -> dict[str, Any]:
    """Per rule: true/false positives, false negatives, precision and recall (null when undefined)."""
    pred = _subject(findings)
    truth = _subject(labels)
    rules = sorted(set(pred["rule"]) | set(truth["rule"]))
    out: dict[str, Any] = {}
    for r in rules:
        p = set(pred.filter(pl.col("rule") == r)["subject"])
        t = set(truth.filter(pl.col("rule") == r)["subject"])
        tp, fp, fn = len(p & t), len(p - t), len(t - p)
        out[r] = {"labelled": len(t), "flagged": len(p), "tp": tp, "fp": fp, "fn": fn,
                  "precision": round(tp / (tp + fp), 4) if p else None,
                  "recall": round(tp / (tp + fn), 4) if t else None}
    tp = sum(v["tp"] for v in out.values())
    fp = sum(v["fp"] for v in out.values())
    fn = sum(v["fn"] for v in out.values())
    return {"rules": out, "micro": {"tp": tp, "fp": fp, "fn": fn,
                                    "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                                    "recall": round(tp / (tp + fn), 4) if tp + fn else None}}
