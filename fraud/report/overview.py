"""Aggregates over every user and finding of a scan, for the report's overview (vectorised, any size)."""
from __future__ import annotations

import json

from typing import Any

import polars as pl

from fraud.config import Config
from fraud.report.cases import review_commands
from fraud.schema import SEVERITY_ORDER

SHIFT_BIN = 10  # points per bar of the score shift histogram


def rule_severity_counts(findings: pl.DataFrame) -> dict[str, Any]:
    """Findings per rule and severity, plus the points that counted per rule."""
    if findings.height == 0:
        return {"rules": [], "severities": list(SEVERITY_ORDER), "counts": [], "families": [], "points": [],
                "users": []}
    counted = pl.col("counted") if "counted" in findings.columns else pl.lit(True)
    per = (findings.group_by("rule").agg(pl.first("family"), pl.len().alias("n"),
                                         pl.col("points").filter(counted).sum().alias("points"),
                                         pl.col("user_id").drop_nulls().n_unique().alias("users"))
           .sort(["n", "rule"], descending=[True, False]))
    rs = findings.group_by("rule", "severity").len()
    m = {(r, s): n for r, s, n in rs.iter_rows()}
    rules = per["rule"].to_list()
    return {"rules": rules, "severities": list(SEVERITY_ORDER), "families": per["family"].to_list(),
            "points": per["points"].to_list(), "users": per["users"].to_list(),
            "counts": [[m.get((r, s), 0) for s in SEVERITY_ORDER] for r in rules]}


def score_shift(scores: pl.DataFrame) -> dict[str, Any]:
    """Histogram of ``score_after - score_before`` over users whose score moved (bins of SHIFT_BIN points)."""
    d = scores.select((pl.col("score_after") - pl.col("score_before")).alias("d"))
    moved = d.filter(pl.col("d") != 0)
    h = (moved.with_columns((pl.col("d") / SHIFT_BIN).floor().cast(pl.Int64).alias("b"))
         .group_by("b").len().sort("b"))
    return {"bin": SHIFT_BIN, "lo": [b * SHIFT_BIN for b in h["b"].to_list()], "counts": h["len"].to_list(),
            "unchanged": int(d.height - moved.height), "down": int((d["d"] < 0).sum()), "up": int((d["d"] > 0).sum()),
            "mean": round(float(d["d"].mean() or 0), 2), "min": int(d["d"].min() or 0), "max": int(d["d"].max() or 0)}


def tier_migration(scores: pl.DataFrame, cfg: Config) -> dict[str, Any]:
    tiers = [t for t, _, _ in cfg.tier_bands()]
    m = {(a, b): n for a, b, n in scores.group_by("tier_before", "tier_after").len().iter_rows()}
    return {"tiers": tiers, "bands": [[t, lo, hi] for t, lo, hi in cfg.tier_bands()],
            "matrix": [[m.get((a, b), 0) for b in tiers] for a in tiers]}


def ip_findings(findings: pl.DataFrame, limit: int = 50) -> list[dict[str, Any]]:
    """Findings about an IP and no user (e.g. ``ip.spray``): the first ``limit`` by points and time."""
    f = findings.filter(pl.col("user_id").is_null())
    if f.height == 0:
        return []
    rows = (f.sort(["points", "first_ts"]).head(limit)
            .select("finding_id", "rule", "severity", "ip", pl.col("first_ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "summary", "evidence",
                    pl.col("decision") if "decision" in f.columns else pl.lit(None, pl.String).alias("decision"))
            .to_dicts())
    for r in rows:  # the accounts an IP finding names (ip.spray's victims), for the reviewer
        accounts = json.loads(r.pop("evidence") or "{}").get("accounts")
        r["accounts"] = accounts if isinstance(accounts, list) else []
    return rows


def overview(findings: pl.DataFrame, scores: pl.DataFrame, summary: dict[str, Any], cfg: Config,
             n_cases: int, decisions_path: str = "decisions.csv", scan_dir: str | None = None) -> dict[str, Any]:
    ip_list = ip_findings(findings)
    for r in ip_list:  # the same review commands as a case card's findings
        r["review"] = review_commands(r["finding_id"], decisions_path, scan_dir)
    flagged = findings.filter(pl.col("user_id").is_not_null())["user_id"].n_unique() if findings.height else 0
    ip_only = int(findings["user_id"].is_null().sum()) if findings.height else 0
    return {
        "users": scores.height,
        "users_flagged": int(flagged),
        "users_penalised": int((scores["penalty"] < 0).sum()),
        "tier_changed": int((scores["tier_before"] != scores["tier_after"]).sum()) if scores.height else 0,
        "findings": findings.height,
        "ip_findings": ip_only,
        "ip_list": ip_list,
        "mean_before": round(float(scores["score_before"].mean() or 0), 1),
        "mean_after": round(float(scores["score_after"].mean() or 0), 1),
        "by_rule": rule_severity_counts(findings),
        "shift": score_shift(scores),
        "migration": tier_migration(scores, cfg),
        "cases_in_report": n_cases,
        "summary": summary,
    }
