"""User-agent parsing at scale: each *distinct* user agent is parsed once and joined back.

ua-parser 1.x resolves browser, OS and device with its native regex resolver (``ua-parser-rs``); the result is
handed to ``user-agents``' ``UserAgent`` (instead of letting it call ua-parser's slow pure-Python path) so we
keep its device classification (mobile / tablet / pc / bot). The bot and emulator signatures of
:mod:`fraud.fingerprint.patterns` are evaluated on the same distinct frame, so every check reads one table.
"""
from __future__ import annotations

import time

from functools import lru_cache

import polars as pl
from ua_parser import OS, BasicResolver, Device, Parser, RegexResolver, UserAgent as UaResult, load_builtins
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

from fraud.context import ScanContext
from fraud.fingerprint import patterns

AGENT_SCHEMA: dict[str, pl.DataType] = {
    "user_agent": pl.String, "browser_family": pl.String, "browser_major": pl.String, "os_family": pl.String,
    "os_version": pl.String, "device_family": pl.String, "device_brand": pl.String, "device_model": pl.String,
    "device_class": pl.String,
}
# What ua-parser's compat API reports for a domain no regex resolved.
_OTHER_UA, _OTHER_OS, _OTHER_DEVICE = UaResult("Other"), OS("Other"), Device("Other")


@lru_cache(maxsize=1)
def _parser() -> Parser:
    """A ua-parser ``Parser`` on the native (rs) resolver when installed, without a cache (inputs are distinct)."""
    resolver = RegexResolver or BasicResolver
    return Parser(resolver(load_builtins()))


def _device_class(ua: UserAgent) -> str:
    """user-agents' classification: bot, tablet, mobile, pc, else other."""
    if ua.is_bot:
        return "bot"
    if ua.is_tablet:
        return "tablet"
    if ua.is_mobile:
        return "mobile"
    if ua.is_pc:
        return "pc"
    return "other"


def parse_one(ua: str) -> tuple[str | None, ...]:
    """Parse one user agent: (browser family, browser major, OS family, OS version, device family, brand,
    model, device class)."""
    r = _parser().parse(ua)
    b, o, d = r.user_agent or _OTHER_UA, r.os or _OTHER_OS, r.device or _OTHER_DEVICE
    obj = object.__new__(UserAgent)  # user-agents' classifier, fed the native parse
    obj.ua_string = ua
    obj.browser = parse_browser(b.family, b.major, b.minor, b.patch)
    obj.os = parse_operating_system(o.family, o.major, o.minor, o.patch)
    obj.device = parse_device(d.family, d.brand, d.model)
    os_version = ".".join(v for v in (o.major, o.minor, o.patch) if v) or None
    return (b.family, b.major, o.family, os_version, d.family, d.brand, d.model, _device_class(obj))


def parse_agents(agents: list[str]) -> pl.DataFrame:
    """Parse distinct user agents (a loop over distinct values only) into :data:`AGENT_SCHEMA` rows."""
    rows = [(ua, *parse_one(ua)) for ua in agents]
    return _open_harmony(pl.DataFrame(rows, schema=AGENT_SCHEMA, orient="row"))


def _open_harmony(parsed: pl.DataFrame) -> pl.DataFrame:
    """HarmonyOS NEXT browsers ("Mozilla/5.0 (Phone; OpenHarmony 5.0) ... ArkWeb/4.1") are unknown to ua-parser:
    read them as HarmonyOS on the device type the agent names. A HarmonyOS PC or 2-in-1 keeps the type "other"
    (not compared): its OS family is Android's here, whose devices are mobile."""
    m = pl.col("user_agent").str.extract_groups(
        r"^Mozilla/5\.0 \((?<kind>Phone|Tablet|PC|2in1); OpenHarmony (?<version>[0-9.]+)\)")
    kind, version = m.struct.field("kind"), m.struct.field("version")
    unknown = (pl.col("os_family").fill_null("Other") == "Other") & kind.is_not_null()
    return parsed.with_columns(
        pl.when(unknown).then(pl.lit("HarmonyOS")).otherwise(pl.col("os_family")).alias("os_family"),
        pl.when(unknown).then(version).otherwise(pl.col("os_version")).alias("os_version"),
        pl.when(unknown).then(kind.replace_strict({"Phone": "mobile", "Tablet": "tablet"},
                                                  default=pl.col("device_class")))
        .otherwise(pl.col("device_class")).alias("device_class"))


def classify(parsed: pl.DataFrame, min_length: int) -> pl.DataFrame:
    """Add the bot columns (``bot_kind``, ``bot_pattern``) and ``emulator_sig`` to parsed distinct agents."""
    ua = pl.col("user_agent")
    # a browser or app on a known device; "compatible;" and a contact URL are what crawlers add to such an agent
    shaped = (pl.col("device_class").is_in(["mobile", "tablet", "pc"])
              & (pl.col("os_family").fill_null("Other") != "Other")
              & ~ua.str.contains(r"\(compatible;|(?i)https?://|\bwww\."))
    out = parsed.with_columns(*patterns.bot_columns(ua, min_length, pl.col("device_class") == "bot", shaped),
                              patterns.emulator_signature(ua).alias("emulator_sig"))
    # Name the crawler-user-agents regex that matched: resolved in Python once per distinct matched text
    # (e.g. "Googlebot/"), on the smallest agent carrying it.
    need = (out.filter((pl.col("bot_kind") == "crawler") & pl.col("bot_pattern").is_null())
            .select("user_agent", ua.str.extract(f"({patterns.ALL_CRAWLERS_ANY})", 1).alias("_text"))
            .with_columns(pl.col("user_agent").min().over("_text").alias("_rep")))
    reps = need.select("_text", "_rep").unique().sort("_text", nulls_last=True)
    if reps.height:
        names = reps.with_columns(pl.Series("_p", [patterns.crawler_pattern(u) for u in reps["_rep"]],
                                            dtype=pl.String))
        found = need.join(names, on=["_text", "_rep"], how="left", nulls_equal=True).select("user_agent", "_p")
        out = (out.join(found, on="user_agent", how="left")
               .with_columns(pl.coalesce("bot_pattern", "_p").alias("bot_pattern")).drop("_p"))
    return out


def agent_table(ctx: ScanContext) -> pl.DataFrame:
    """One row per distinct non-null ``user_agent`` of the logins: the parse, device class, bot kind and
    pattern, and emulator signature. Materialised once per scan (parsing needs Python) and cached."""

    def build() -> pl.DataFrame:
        t0 = time.perf_counter()
        distinct = ctx.logins.select(pl.col("user_agent").drop_nulls().unique().sort()).collect()["user_agent"]
        t1 = time.perf_counter()
        parsed = parse_agents(distinct.to_list())
        table = classify(parsed, int(ctx.cfg.rule("device.bot_agent")["min_length"]))
        secs = time.perf_counter() - t1
        # Reported in summary.json: parsing cost against the rest of the fingerprint stage.
        ctx.notes["fingerprint.user_agents"] = {
            "distinct_user_agents": distinct.len(), "distinct_s": round(t1 - t0, 3), "parse_s": round(secs, 3),
            "user_agents_per_s": round(distinct.len() / secs) if secs > 0 else None}
        return table

    return ctx.cached("fingerprint.agents", build)


def with_agents(lf: pl.LazyFrame, ctx: ScanContext) -> pl.LazyFrame:
    """Join the parsed agent columns onto rows with a ``user_agent`` column (null agents get null columns)."""
    return lf.join(agent_table(ctx).lazy(), on="user_agent", how="left")
