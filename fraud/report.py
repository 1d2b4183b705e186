"""The review report: one self-contained HTML file (no network), and the case data it shows.

All log-derived strings reach the page as JSON inside a ``<script type="application/json">`` block (with
``<``, ``>`` and ``&`` escaped) and are put on the page with ``textContent``, never as HTML.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jinja2
import polars as pl

from fraud.config import Config


def case_queue(findings: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Users with findings, ranked by penalty (most negative first), then worst severity, then user id."""
    sev_rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
    per = (findings.filter(pl.col("user_id").is_not_null())
           .with_columns(pl.col("severity").replace_strict(sev_rank, default=0, return_dtype=pl.Int8).alias("_sev"))
           .group_by("user_id").agg(pl.col("_sev").max().alias("worst"), pl.col("rule").unique().sort().alias("rules")))
    inv = {v: k for k, v in sev_rank.items()}
    return (scores.join(per, on="user_id", how="inner")
            .sort(["penalty", "worst", "user_id"], descending=[False, True, False])
            .with_columns(pl.col("worst").replace_strict(inv, return_dtype=pl.String).alias("worst_severity")))


def case_data(findings: pl.DataFrame, scores: pl.DataFrame, profiles: pl.DataFrame, top_n: int,
              decisions_path: str = "decisions.csv") -> list[dict[str, Any]]:
    """Full case records (score, profile, findings with evidence and review commands) for the top ``top_n``."""
    q = case_queue(findings, scores).head(top_n)
    users = q["user_id"].to_list()
    f = findings.filter(pl.col("user_id").is_in(users)).sort(["user_id", "first_ts", "rule"])
    fl = f.with_columns(pl.col("first_ts", "last_ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dicts()
    by_user: dict[str, list[dict[str, Any]]] = {}
    for r in fl:
        r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else {}
        r["review"] = {d: f"fraud review {r['finding_id']} --{d} --decisions {decisions_path}"
                       for d in ("confirm", "dismiss")}
        by_user.setdefault(r["user_id"], []).append(r)
    prof = {r["user_id"]: r for r in profiles.filter(pl.col("user_id").is_in(users)).to_dicts()}
    cases = []
    for row in q.drop("worst").with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dicts():
        row["findings"] = by_user.get(row["user_id"], [])
        row["profile"] = prof.get(row["user_id"], {})
        cases.append(row)
    return cases


def _safe_json(obj: Any) -> str:
    s = json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
    return s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_report(findings: pl.DataFrame, scores: pl.DataFrame, profiles: pl.DataFrame,
                  summary: dict[str, Any], cfg: Config, decisions_path: str = "decisions.csv") -> str:
    """The report HTML as a string."""
    tiers = [t for t, _, _ in cfg.tier_bands()]
    mig = scores.group_by("tier_before", "tier_after").len()
    matrix = {a: {b: 0 for b in tiers} for a in tiers}
    for a, b, n in mig.iter_rows():
        if a in matrix and b in matrix[a]:
            matrix[a][b] = n
    shift = (scores["score_after"] - scores["score_before"])
    edges = [-10_000, -100, -50, -20, -1, 0, 20, 50, 10_000]
    labels = ["< -100", "-100..-51", "-50..-21", "-20..-1", "0", "1..20", "21..50", "> 50"]
    hist = [int(((shift > lo) & (shift <= hi)).sum()) if lo != -1 else int((shift == 0).sum())
            for lo, hi in zip(edges[:-1], edges[1:])]
    queue = case_queue(findings, scores)
    data = {
        "summary": summary,
        "tiers": tiers,
        "migration": matrix,
        "shift": {"labels": labels, "counts": hist},
        "queue": queue.select("user_id", "score_before", "score_after", "penalty", "bonus", "tier_before",
                              "tier_after", "n_findings", "top_rule", "worst_severity", "rules").to_dicts(),
        "cases": case_data(findings, scores, profiles, cfg.report_top_n, decisions_path),
        "top_n": cfg.report_top_n,
    }
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tpl = env.from_string(resources.files("fraud").joinpath("templates/report.html.j2").read_text(encoding="utf-8"))
    return tpl.render(data_json=jinja2.utils.markupsafe.Markup(_safe_json(data)), title="fraud scan report",
                      n_users=scores.height, n_findings=findings.height)
