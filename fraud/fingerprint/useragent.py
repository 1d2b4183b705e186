"""User-agent parsing at scale: each *distinct* user agent is parsed once and joined back.

ua-parser 1.x resolves browser, OS and device with its native regex resolver (``ua-parser-rs``), whose three
extractors are called directly (ua-parser's own wrapper objects cost as much again as the regexes). The device
class (mobile / tablet / pc / bot / other) is ``user-agents``' classification, written as column expressions
over the distinct agents with that library's own family lists (its per-agent Python properties were half of
the parse: 139k distinct agents 5.6 -> 2.6 s). The bot and emulator signatures of
:mod:`fraud.fingerprint.patterns` are evaluated on the same distinct frame, so every check reads one table.
"""
from __future__ import annotations

import time

from functools import lru_cache

import polars as pl
from ua_parser import BasicResolver, Domain, RegexResolver, load_builtins
from user_agents import parsers as ua_classes

from fraud.context import ScanContext
from fraud.fingerprint import patterns

AGENT_SCHEMA: dict[str, pl.DataType] = {
    "user_agent": pl.String, "browser_family": pl.String, "browser_major": pl.String, "os_family": pl.String,
    "os_version": pl.String, "device_family": pl.String, "device_brand": pl.String, "device_model": pl.String,
    "device_class": pl.String,
}
# The raw parse of one agent: browser family and major, OS family and version parts, device family/brand/model.
_RAW = ("browser_family", "browser_major", "os_family", "_os_major", "_os_minor", "_os_patch", "device_family",
        "device_brand", "device_model")
OTHER = "Other"  # what ua-parser's compat API (and so user-agents) reports for a domain no regex resolved
APPLE_MOBILE_OS_FAMILIES = ("iOS", "iPadOS", "watchOS", "tvOS")  # ua-parser's OS families of Apple's devices
SPIDER_WORD = r"(?i)bot\b|spider|crawl|slurp"  # "Googlebot", "SomeBot/1.0"; not "Abbott" or "Cubot X30"


@lru_cache(maxsize=1)
def _resolver():
    """ua-parser's native (rs) resolver when installed, else its pure-Python one; no cache (inputs are
    distinct)."""
    return (RegexResolver or BasicResolver)(load_builtins())


def prepare() -> None:
    """Load ua-parser's regexes (0.2 s, once per process): :mod:`fraud.warmup` runs it early."""
    _resolver()


def _extract(agents: list[str]) -> list[tuple]:
    """The raw parse (:data:`_RAW`) of each agent: the one loop over distinct values. The native resolver's three
    extractors are called directly; the pure-Python one gives domain objects with the same fields."""
    r = _resolver()
    if RegexResolver is None:
        parts = ((p.user_agent, p.os, p.device) for p in (r(s, Domain.ALL) for s in agents))
    else:
        ux, ox, dx = r.ua.extract, r.os.extract, r.de.extract
        parts = ((ux(s), ox(s), dx(s)) for s in agents)
    return [((b.family, b.major) if b else (OTHER, None))
            + ((o.family, o.major, o.minor, o.patch) if o else (OTHER, None, None, None))
            + ((d.family, d.brand, d.model) if d else (OTHER, None, None)) for b, o, d in parts]


def device_class(ua: pl.Expr | str = "user_agent", browser: str = "browser_family", os: str = "os_family",
                 device: str = "device_family", os_parts: tuple[str, str, str] = ("_os_major", "_os_minor",
                                                                                   "_os_patch"),
                 version: pl.Expr | None = None, spider: bool = True) -> pl.Expr:
    """user-agents' device class (``bot``, ``tablet``, ``mobile``, ``pc``, else ``other``, in that precedence) of
    parsed agents: ``UserAgent.is_bot`` / ``is_tablet`` / ``is_mobile`` / ``is_pc`` of user-agents 2.2, one
    condition per test of theirs, on their family lists. ``version`` is the OS version string (default: the
    ``os_parts`` joined); without ``spider`` the class is the one the agent has apart from ua-parser's Spider."""
    ua = pl.col(ua) if isinstance(ua, str) else ua
    bf, of, df = pl.col(browser), pl.col(os), pl.col(device)

    def has(text: str, e: pl.Expr = ua) -> pl.Expr:
        return e.str.contains(text, literal=True)

    if version is None:
        version = pl.concat_str(*os_parts, separator=".", ignore_nulls=True)  # their os.version_string
    tablet = (df.is_in(ua_classes.TABLET_DEVICE_FAMILIES)
              | ((of == "Android") & ~has("Mobile Safari") & (bf != "Firefox Mobile"))
              | ((of == "Windows") & version.str.starts_with("RT"))
              | ((of == "Firefox OS") & ~has("Mobile", bf)))
    mobile = (df.is_in(ua_classes.MOBILE_DEVICE_FAMILIES) | bf.is_in(ua_classes.MOBILE_BROWSER_FAMILIES)
              | (of.is_in(["Android", "Firefox OS"]) & ~tablet)
              | ((of == "BlackBerry OS") & (df != "Blackberry Playbook")) | of.is_in(ua_classes.MOBILE_OS_FAMILIES)
              | has("J2ME") | has("MIDP") | has("iPhone;") | has("Googlebot-Mobile")
              | ((df == "Spider") & has("Mobile", bf)) | (has("NokiaBrowser") & has("Mobile")))
    pc = (has("Windows NT") | of.is_in(ua_classes.PC_OS_FAMILIES) | ((of == "Windows") & (version == "ME"))
          | ((of == "Mac OS X") & ~has("Silk"))
          | (~has("Maemo") & (has("Chrome OS", of) | (has("Linux") & has("X11")))))
    return (pl.when(pl.lit(spider) & (df == "Spider")).then(pl.lit("bot")).when(tablet).then(pl.lit("tablet"))
            .when(mobile).then(pl.lit("mobile")).when(pc).then(pl.lit("pc")).otherwise(pl.lit("other")))


def parse_agents(agents: list[str]) -> pl.DataFrame:
    """Parse distinct user agents (a loop over distinct values only) into :data:`AGENT_SCHEMA` rows."""
    raw = pl.DataFrame(_extract(agents), schema=dict.fromkeys(_RAW, pl.String), orient="row").with_columns(
        pl.Series("user_agent", agents, dtype=pl.String))
    parts = [pl.when(pl.col(c) != "").then(pl.col(c)) for c in ("_os_major", "_os_minor", "_os_patch")]
    parsed = raw.select(
        "user_agent", "browser_family", "browser_major", "os_family",
        pl.concat_str(parts, separator=".", ignore_nulls=True).replace("", None).alias("os_version"),
        "device_family", "device_brand", "device_model", device_class().alias("device_class"))
    return _hbbtv(_open_harmony(parsed))


# Platforms an HbbTV agent names, the most specific first (a Tizen TV writes "(Linux; Tizen 2.3)")
HBBTV_PLATFORMS = (("Tizen", r"\bTizen\b"), ("webOS", r"\b(?:Web0S|webOS)\b"), ("Android", r"\bAndroid\b"),
                   ("Linux", r"\bLinux\b"))


def _hbbtv(parsed: pl.DataFrame) -> pl.DataFrame:
    """A smart TV's HbbTV block ("HbbTV/1.5.1 (+DRM;Samsung;SmartTV2017;...)") makes ua-parser read the maker as
    the OS (family Samsung, version 2017). The OS is then the platform the agent names before it
    (:data:`HBBTV_PLATFORMS`) with its version, else unknown ("Other")."""
    ua = pl.col("user_agent")
    maker = ua.str.contains("HbbTV/", literal=True) & (pl.col("os_family") == pl.col("device_brand"))
    family = patterns.first_match(ua, HBBTV_PLATFORMS)
    version = pl.coalesce([pl.when(family == name).then(ua.str.extract(rf"{rx}[ /]([0-9][0-9.]*[0-9])", 1))
                           for name, rx in HBBTV_PLATFORMS])
    return parsed.with_columns(
        pl.when(maker).then(family.fill_null(OTHER)).otherwise(pl.col("os_family")).alias("os_family"),
        pl.when(maker).then(version).otherwise(pl.col("os_version")).alias("os_version"))


def parse_one(ua: str) -> tuple[str | None, ...]:
    """Parse one user agent: (browser family, browser major, OS family, OS version, device family, brand,
    model, device class)."""
    return parse_agents([ua]).row(0)[1:]


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
    # A browser or app on a known device; "compatible;" and a contact URL are what crawlers add to such an agent.
    # The device is read apart from ua-parser's Spider, whose last regex takes any agent with "bot", "yahoo",
    # "Sogou", "WhatsApp" ... in it (WhatsApp Desktop on Electron), and an iOS app's own stack that names no
    # iPhone ("GoPay/1.62.0 (com.gojek.gopay; build:1620; iOS 17.5.1) Alamofire/5.9.1") is on a device too.
    device = pl.when(pl.col("device_class") == "bot").then(
        device_class(version=pl.col("os_version").fill_null(""), spider=False)).otherwise(pl.col("device_class"))
    shaped = ((device.is_in(["mobile", "tablet", "pc"])
               | ((device == "other") & pl.col("os_family").is_in(APPLE_MOBILE_OS_FAMILIES)))
              & (pl.col("os_family").fill_null("Other") != "Other")
              & ~ua.str.contains(r"\(compatible;|(?i)https?://|\bwww\."))
    # ua-parser's Spider is believed of a device's agent only when a word of it says bot, spider or crawler
    spider = (pl.col("device_class") == "bot") & (~shaped | ua.str.contains(SPIDER_WORD))
    # the signatures are read on the agent without quotes around it, a "User-Agent:" label or invisible characters
    # (a quoted "-" is no agent, not garbage; a zero-width space hides no crawler)
    bare = pl.col("_bare")
    out = patterns.with_tool_match(parsed.with_columns(patterns.bare_agent(ua).alias("_bare")), "_bare").with_columns(
        *patterns.bot_columns(bare, min_length, spider, shaped, pl.col("_tool")),
        patterns.emulator_signature(ua, agent=True).alias("emulator_sig")).drop("_tool")
    # Name the crawler-user-agents regex that matched: resolved in Python once per distinct matched text
    # (e.g. "Googlebot/"), on the smallest agent carrying it.
    need = (out.filter((pl.col("bot_kind") == "crawler") & pl.col("bot_pattern").is_null())
            .select("user_agent", bare, bare.str.extract(f"({patterns.ALL_CRAWLERS_ANY})", 1).alias("_text"))
            .with_columns(bare.min().over("_text").alias("_rep")).drop("_bare"))
    out = out.drop("_bare")
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
