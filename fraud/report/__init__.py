"""The review report: ``report.html`` (one self-contained file, no network needed) and ``report.md``.

Safety: every log-derived string reaches the page only as JSON data (gzip-compressed and base64-encoded inside a
``<script type="application/octet-stream">`` block, so no log text is ever part of the HTML source) and is put on
the page with ``textContent``; text handed to a chart is entity-escaped first. A Content-Security-Policy lets only
the report's own two inline scripts run and forbids every fetch. Charts use plotly.js (its basic bundle, vendored
in ``fraud/templates``), inlined, so the file renders without any network.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
import polars as pl

from fraud.config import Config
from fraud.report.cases import (MAX_EVENTS, MAX_FINDINGS_PER_RULE, MAX_POSITIONS, WINDOW_DAYS, case_data,
                                case_queue, load_user_case, ranked_users, review_commands, user_case,
                                with_rule_lists)
from fraud.report.markdown import render_markdown_data
from fraud.report.overview import overview
from fraud.schema import SEVERITY_ORDER

if TYPE_CHECKING:
    from fraud.pipeline import ScanResult

__all__ = ["case_data", "case_queue", "decode_payload", "load_user_case", "render_markdown", "render_report",
           "report_data", "review_commands", "user_case"]

# The case queue lists at most this many users (the top of the ranking); the rest are counted.
QUEUE_LIMIT = 20_000


def _queue_columns(q: pl.DataFrame, tiers: list[str], rules: list[str],
                   findings: pl.DataFrame | None = None) -> dict[str, Any]:
    """The queue as compact columns (indices into ``tiers``, ``rules`` and the severity order), and per user the
    distinct devices and IPs its findings name (``k``: what the search box finds beyond the case cards)."""
    if findings is not None and findings.height:
        keys = (findings.filter(pl.col("user_id").is_not_null())
                .select("user_id", pl.concat_list(pl.col("device_id", "ip").cast(pl.String)).alias("k"))
                .explode("k").drop_nulls().unique(maintain_order=True)
                .group_by("user_id", maintain_order=True).agg(pl.col("k").head(20)))
        q = q.join(keys, on="user_id", how="left", maintain_order="left").with_columns(
            pl.col("k").fill_null(pl.lit([], pl.List(pl.String))))
    else:
        q = q.with_columns(pl.lit([], pl.List(pl.String)).alias("k"))
    ti = {t: i for i, t in enumerate(tiers)}
    ri = {r: i for i, r in enumerate(rules)}
    q = q.with_columns(
        pl.col("tier_before").replace_strict(ti, default=-1, return_dtype=pl.Int16).alias("tb"),
        pl.col("tier_after").replace_strict(ti, default=-1, return_dtype=pl.Int16).alias("ta"),
        pl.col("top_rule").replace_strict(ri, default=-1, return_dtype=pl.Int16).alias("top"),
        pl.col("rules").list.eval(pl.element().replace_strict(ri, default=-1, return_dtype=pl.Int16)).alias("rs"),
    )
    return {"u": q["user_id"].to_list(), "sb": q["score_before"].to_list(), "sa": q["score_after"].to_list(),
            "p": q["penalty"].to_list(), "b": q["bonus"].to_list(), "n": q["n_findings"].to_list(),
            "tb": q["tb"].to_list(), "ta": q["ta"].to_list(), "w": q["worst"].to_list(), "top": q["top"].to_list(),
            "rs": q["rs"].to_list(), "sv": q["severities"].to_list(), "k": q["k"].to_list()}


def report_data(res: ScanResult, cfg: Config, decisions_path: str = "decisions.csv", *, top_n: int | None = None,
                queue_limit: int = QUEUE_LIMIT, timings: dict[str, float] | None = None,
                scan_dir: str | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-able data (built once for both the HTML and the Markdown)."""
    top_n = cfg.report_top_n if top_n is None else top_n
    findings, scores = res.findings, res.scores
    summary = dict(res.summary)
    if timings:
        summary["timings_s"] = {**summary.get("timings_s", {}), **timings}
    ranked = ranked_users(findings, scores)
    q = with_rule_lists(findings, ranked.head(max(queue_limit, top_n)))
    tiers = [t for t, _, _ in cfg.tier_bands()]
    rules = sorted(findings.filter(pl.col("user_id").is_not_null())["rule"].unique().to_list())
    cases = case_data(findings, scores, res.profiles, top_n, decisions_path, res.context, queue=q, scan_dir=scan_dir,
                      max_findings_per_rule=MAX_FINDINGS_PER_RULE)
    cd = cfg.rules.get("geo.commute_deviation")
    return {
        "meta": {
            "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": summary.get("config", cfg.source),
            "top_n": top_n, "queue_total": ranked.height, "queue_limit": queue_limit,
            "decisions_path": decisions_path, "scan_dir": scan_dir, "dismiss_cap_share": cfg.dismiss_cap_share,
            "tiers": tiers, "severities": list(SEVERITY_ORDER), "rules": rules,
            "window_days": WINDOW_DAYS, "max_events": MAX_EVENTS, "max_positions": MAX_POSITIONS,
            "commute": {"max_deviation": float(cd.params.get("max_deviation", 0.15)) if cd else 0.15,
                        "min_detour_km": float(cd.params.get("min_detour_km", 1.0)) if cd else 1.0},
        },
        "overview": overview(findings, scores, summary, cfg, len(cases), decisions_path, scan_dir),
        "queue": _queue_columns(q.head(max(queue_limit, len(cases))), tiers, rules, findings),
        "cases": cases,
    }


def encode_payload(data: Any) -> str:
    """JSON, gzip-compressed, base64: safe anywhere in HTML and a fraction of the raw size."""
    raw = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def decode_payload(html: str) -> dict[str, Any]:
    """The data embedded in a rendered report (for tests and tools)."""
    m = re.search(r'<script type="application/octet-stream" id="data"[^>]*>([A-Za-z0-9+/=\s]*)</script>', html)
    if not m:
        raise ValueError("no report data block found")
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))).decode("utf-8"))


_SCRIPT_CLOSE = re.compile(r"</(script)", re.IGNORECASE)


def _inline_js(js: str) -> str:
    """JavaScript safe to inline in a ``<script>`` element (no closing tag or comment opener inside)."""
    return _SCRIPT_CLOSE.sub(r"<\\/\1", js).replace("<!--", "<\\!--")


# plotly.js "basic" bundle (scatter, bar, pie; MIT licence in plotly-basic.LICENSE), vendored from the npm package
# plotly.js-basic-dist-min: a quarter of the full bundle's size, so the report opens quickly. To update it:
# `npm pack plotly.js-basic-dist-min@VERSION` and copy plotly-basic.min.js and LICENSE into fraud/templates/.
PLOTLY_FILE = "plotly-basic.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The inlined charting library ('' when the file is missing: the report then shows tables only)."""
    try:
        return _template(PLOTLY_FILE)
    except FileNotFoundError:
        return ""


def _template(name: str) -> str:
    return resources.files("fraud").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def render_report(res: ScanResult, cfg: Config, decisions_path: str = "decisions.csv", *,
                  data: dict[str, Any] | None = None) -> str:
    """The report HTML as a string (``data`` from :func:`report_data`, built here when not given)."""
    data = data if data is not None else report_data(res, cfg, decisions_path)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tpl = env.from_string(_template("report.html.j2"))
    ov = data["overview"]
    safe = jinja2.utils.markupsafe.Markup
    app_js, lib_js = _inline_js(_template("report.js")), _inline_js(plotly_js())
    # Only these two inline scripts may run (Content-Security-Policy hashes), and nothing may be fetched.
    script_src = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()}'"
                          for js in (lib_js, app_js))
    return tpl.render(title="fraud review report", payload=safe(encode_payload(data)),
                      css=safe(_template("report.css")), app_js=safe(app_js), plotly_js=safe(lib_js),
                      script_src=safe(script_src),
                      n_users=ov["users"], n_findings=ov["findings"], generated_at=data["meta"]["generated_at"])


def render_markdown(res: ScanResult, cfg: Config, decisions_path: str = "decisions.csv", *,
                    data: dict[str, Any] | None = None, top: int = 20) -> str:
    """``report.md``: the overview and the top ``top`` cases, for tickets and terminals."""
    data = data if data is not None else report_data(res, cfg, decisions_path, top_n=top)
    return render_markdown_data(data, top=top)

