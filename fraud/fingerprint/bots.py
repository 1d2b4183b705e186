"""``device.bot_agent``: sign-ins whose user agent is a crawler, an HTTP library or command-line client,
an automation tool or a headless browser, or is empty.

Known crawlers come from the maintained ``crawler-user-agents`` patterns; the tool and headless patterns
below cover what those leave out. Each distinct user agent is matched once and joined back.
"""
from __future__ import annotations

import crawleruseragents
import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.registry import register

# (name, regex) pairs checked in order; the first that matches names the finding's pattern.
TOOL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("headless browser", r"(?i)HeadlessChrome|PhantomJS|SlimerJS|Electron/.*HeadlessChrome"),
    ("automation", r"(?i)selenium|webdriver|puppeteer|playwright|cypress"),
    ("http library", r"(?i)^(python-requests|python-urllib|python-httpx|aiohttp|Go-http-client|okhttp|"
                     r"Java/|Apache-HttpClient|libwww-perl|node-fetch|axios|Wget|curl|HTTPie|Scrapy|"
                     r"PostmanRuntime|insomnia|Dalvik/[0-9.]+$)"),
)
CRAWLER_PATTERNS: tuple[str, ...] = tuple(d["pattern"] for d in crawleruseragents.CRAWLER_USER_AGENTS_DATA)


def classify_agents(agents: pl.LazyFrame) -> pl.LazyFrame:
    """For distinct ``user_agent`` values: ``bot_kind`` and ``bot_pattern`` (null when not a bot)."""
    ua = pl.col("user_agent")
    crawler_any = "|".join(f"(?:{p})" for p in CRAWLER_PATTERNS)
    kind = pl.lit(None, pl.String)
    pattern = pl.lit(None, pl.String)
    for name, rx in reversed(TOOL_PATTERNS):
        hit = ua.str.contains(rx)
        kind = pl.when(hit).then(pl.lit(name)).otherwise(kind)
        pattern = pl.when(hit).then(ua.str.extract(f"({rx.removeprefix('(?i)')})" if not rx.startswith("(?i)")
                                                   else f"(?i)({rx.removeprefix('(?i)')})", 1)).otherwise(pattern)
    is_crawler = ua.str.contains(crawler_any)
    empty = ua.is_null() | (ua.str.strip_chars().str.len_chars() < 4)
    return agents.with_columns(
        pl.when(empty).then(pl.lit("empty"))
        .when(kind.is_not_null()).then(kind)
        .when(is_crawler).then(pl.lit("crawler")).otherwise(None).alias("bot_kind"),
        pl.when(empty).then(pl.lit("empty or too short"))
        .when(kind.is_not_null()).then(pattern)
        .when(is_crawler).then(ua.str.extract(f"({crawler_any})", 1)).otherwise(None).alias("bot_pattern"),
    )


@register("device.bot_agent", rules="device.bot_agent", family="fingerprint")
def bot_agent(ctx: ScanContext) -> pl.LazyFrame:
    rule = ctx.cfg.rule("device.bot_agent")
    ev = ctx.logins
    if not rule["flag_empty"]:
        ev = ev.filter(pl.col("user_agent").is_not_null())
    agents = classify_agents(ev.select("user_agent").unique())
    hits = ev.join(agents.filter(pl.col("bot_kind").is_not_null()), on="user_agent", how="inner", nulls_equal=True)
    if not rule["flag_empty"]:
        hits = hits.filter(pl.col("bot_kind") != "empty")
    per = hits.group_by("user_id", "user_agent", "bot_kind", "bot_pattern").agg(
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"), pl.len().alias("events"),
        pl.col("device_id").drop_nulls().min().alias("device_id"), pl.col("ip").drop_nulls().min().alias("ip"),
    )
    return emit(
        per, rule, device_id="device_id", ip="ip",
        evidence={"user_agent": pl.col("user_agent").str.slice(0, 300), "kind": "bot_kind",
                  "pattern": "bot_pattern", "events": "events"},
        summary=pl.format("{} events with a {} user agent ({})", pl.col("events"), pl.col("bot_kind"),
                          pl.col("bot_pattern").str.slice(0, 60)),
    )
