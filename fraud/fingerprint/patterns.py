"""Signature tables of the fingerprint checks (what a user agent or device model looks like when it is a bot,
an automation tool, an HTTP library or an emulator), as Polars expressions over a ``user_agent`` column.

These are detection vocabularies, not thresholds: the rules' numbers live in ``rules.toml``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import crawleruseragents
import polars as pl

# A missing user agent (:func:`fraud.exprs.is_missing`) is no evidence of a bot (not evaluated unless
# ``flag_missing`` is set), a missing hardware id no id.
from fraud.exprs import is_missing, visible

# (kind, name, regex) in priority order: the first match names the finding's pattern.
TOOL_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("headless browser", "HeadlessChrome", r"Headless(?:Chrome|Edg)"),
    ("headless browser", "PhantomJS", r"PhantomJS"),
    ("headless browser", "SlimerJS", r"SlimerJS"),
    ("automation", "Selenium", r"(?i)selenium"),
    ("automation", "WebDriver", r"(?i)webdriver"),
    ("automation", "Puppeteer", r"(?i)puppeteer"),
    ("automation", "Playwright", r"(?i)playwright"),
    ("automation", "Cypress", r"(?i)\bcypress/"),
    ("automation", "WeChat DevTools", r"(?i)wechatdevtools"),
    ("headless browser", "Zombie.js", r"\bZombie\.js/"),
    ("automation", "load or attack tool", r"^Mozilla/4\.0 \(Hydra\)$|^k6/[0-9]|(?i:projectdiscovery|^nuclei\b)"
     r"|^ApacheBench/|^Artillery\b|^Gatling\b|^Apache-JMeter|^wrk\b|^hey/[0-9]|^Vegeta\b|^Locust\b"
     r"|^gobuster/|^Fuzz Faster U Fool\b|^ffuf/"),
    # Log4Shell, template and script injection; Shellshock's function definition; a SQL tautology
    ("automation", "injection payload", r"(?i)\$\{jndi:|<script\b|\$\{\$\{|\{\{7\*7\}\}|^\(\)\s*\{\s*:\s*;?\s*\}\s*;"
     r"|\bor\s+'?1'?\s*=\s*'?1"),
    ("automation", "health check or uptime probe",
     r"^NewRelicPinger/|^kube-probe/|^ELB-HealthChecker/|^GoogleHC/|^Amazon-Route53-Health-Check-Service"),
    # (and ua-parser's family name for it, which Auth0's logs write in place of the agent: "Python Requests 2.31.0 /
    # Other 0.0.0")
    ("http library", "python-requests", r"(?i)python-requests|^Python Requests [0-9]"),
    ("http library", "python-urllib", r"(?i)python-urllib"),
    ("http library", "python-httpx", r"(?i)python-httpx|^httpx/"),
    ("http library", "aiohttp", r"(?i)aiohttp"),
    ("http library", "Go-http-client", r"Go-http-client"),
    ("http library", "okhttp (no app token)", r"(?i)^okhttp/[0-9][0-9A-Za-z.-]*$"),  # also 5.0.0-alpha.14
    ("http library", "Java HTTP client",
     r"^Java/[0-9._]+|^Java-http-client/|^Apache-Http(?:Async)?Client|^Jakarta Commons-HttpClient|^ReactorNetty/"
     r"|^Apache-CXF/|^Vert\.x-WebClient/"),
    ("http library", "Go HTTP library", r"^go-resty/|^fasthttp\b"),
    ("http library", "node HTTP client",
     r"(?i)^(?:node-fetch|axios|undici|got|node-superagent|needle)\b|^node$|\bjsdom/[0-9]"),
    ("http library", "Deno", r"^Deno/[0-9.]+$"),
    ("http library", "Bun", r"^Bun/[0-9.]+$"),
    ("http library", "libwww-perl", r"(?i)libwww-perl|^lwp-"),
    ("http library", "Ruby HTTP client",
     r"(?i)^(?:Ruby|Faraday|rest-client|http\.rb|Typhoeus)\b|^HTTPClient/[0-9.]+ \([^)]*\bruby\b"),
    ("http library", "Perl HTTP client", r"^Mojolicious\b|^HTTP-Tiny/"),
    ("http library", "PHP HTTP client", r"(?i)^(?:GuzzleHttp|PHP-Curl-Class|Symfony HttpClient)\b"),
    ("http library", "Python websockets", r"^Python/[0-9.]+ websockets/[0-9]"),
    ("http library", "RestSharp", r"(?i)^RestSharp"),
    ("http library", "Scrapy", r"(?i)\bScrapy/"),
    ("http library", "Dalvik (no app token)", r"^Dalvik/[0-9.]+$"),
    ("http library", "CFNetwork (no app token)", r"^CFNetwork/[0-9.]+(?: Darwin/[0-9.]+)?$"),
    ("http library", "Alamofire (no app token)", r"^Alamofire/[0-9.]+$"),
    ("http library", "Dart (no app token)", r"^Dart/[0-9.]+ \(dart:io\)$"),
    # gRPC's default agents: a mobile app's stack sent bare (an app that set no agent of its own, as okhttp), and
    # the server-side libraries (scripts and services); "MyBank/5.2 grpc-java-okhttp/1.54.0" is an app's own agent
    ("http library", "gRPC mobile stack (no app token)",
     r"^grpc-(?:java-okhttp|java-cronet|objc(?:-cfstream)?|swift(?:-nio)?|kotlin)/[0-9][0-9A-Za-z.-]*"
     r"(?: grpc-c/[0-9][0-9A-Za-z.-]*)?(?: \([^()]*\))?$"),
    ("http library", "gRPC library",
     r"^grpc-(?:go|java-netty|java|python(?:-asyncio)?|node-js|node|dotnet|csharp|ruby|php|c|cpp|rust)/[0-9]"
     r"|^tonic/[0-9]"),
    # Windows' own fetchers (certificate revocation lists, background downloads, push): the system, not a person
    ("http library", "Windows system fetcher",
     r"^Microsoft-CryptoAPI/|^Microsoft BITS/|^Microsoft-Delivery-Optimization/|^Microsoft-WNS/"),
    ("http library", "Ktor client", r"(?i)^ktor(?:-client| client)"),
    ("http library", "reqwest", r"^reqwest/"),
    ("http library", "other HTTP library",
     r"^ureq/|^hackney/|^lua-resty-http/|^cpp-httplib/|^libcurl/|^WinHTTP\b|^req/[0-9]"),  # req: Elixir's
    # cloud SDKs and their command lines: scripts on a server, never a person's browser or app
    ("http library", "cloud SDK or CLI",
     r"^aws-(?:sdk-|cli/)|^Boto3/|^Botocore/|^google-api-(?:python|nodejs|go|java|dotnet|php|ruby)-client/"
     r"|^google-cloud-sdk|^gcloud/|^azsdk-|^azure-cli/|^Microsoft\.Azure\.|^AzureSDK"),
    ("cli client", "curl", r"(?i)^curl/|^PycURL"),
    ("cli client", "Wget", r"(?i)^Wget/"),
    ("cli client", "aria2", r"^aria2/"),
    ("cli client", "HTTPie", r"(?i)^HTTPie/|^xh/[0-9]"),  # xh: HTTPie's Rust twin
    ("cli client", "Thunder Client", r"^Thunder Client\b"),
    ("cli client", "PostmanRuntime", r"PostmanRuntime/"),
    ("cli client", "Insomnia", r"(?i)^insomnia/"),
    ("cli client", "Paw / RapidAPI", r"^(?:Paw|RapidAPI)/[0-9]"),
    ("cli client", "PowerShell", r"\b(?:Windows)?PowerShell/[0-9.]+"),
)
# Crawler patterns we handle more precisely above: ``okhttp`` also sits inside legitimate app user agents
# ("MyBank/5.1 (Android 13) okhttp/4.12.0"); only a bare okhttp agent is a bot signal.
CRAWLER_EXCLUDED = frozenset({"okhttp"})
LEGIT_AGENTS_FILE = Path(__file__).with_name("legit_agents.txt")


def legit_agents() -> list[str]:
    """The shipped corpus of real legitimate user agents (:data:`LEGIT_AGENTS_FILE`)."""
    lines = LEGIT_AGENTS_FILE.read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


# A crawler-user-agents pattern that names automation (one of these words or services) applies to every agent.
# One that only names an app or a service ("Code\/1\.", "Asana\/", "Tumblr\/", "Mastodon", "Valve\/Steam",
# "WordPress\/" ...) is listed for the app's link-preview, feed or sync fetcher, and matches the app's own agent
# too: it applies except to an app's agent (:data:`APP_SHELL`).
AUTOMATION_WORDS = re.compile(
    r"(?i)bot|crawl|spider|slurp|scrap|archiv|index|search|seo|headless|phantom|lighthouse|synthetic|monitor|"
    r"uptime|pingdom|statuscake|catchpoint|thousandeyes|alertsite|ruxit|datadog|newrelic|site24x7|check|validat|"
    r"verif|scan|probe|audit|survey|test|ptst|http|curl|wget|python|java|perl|ruby|php|golang|fetch|preview|"
    r"proxy|harvest|extract|download|copier|sucker|capture|screenshot|render|resolver|parser|metadata|"
    r"-user\b|\bai\b|-ai\b|google|facebook|meta-|amazon|cloudflare|bing|yandex|baidu|yahoo|petal|nutch|"
    r"heritrix|httrack|zabbix|nessus|nikto|sqlmap|acunetix|qualys|censys|netcraft|nmap|zgrab|masscan|wayback")
# An app's own agent: a desktop app on Electron, an in-app web view (Android "wv", iOS without "Safari/"), a
# native app's HTTP stack. (The iOS web view test is the pair APP_SHELL_IOS and not "Safari/".)
# Alamofire's default agent is "App/1.2 (bundle.id; build:12; iOS 17.5.1) Alamofire/5.9.1".
APP_SHELL = (r"\bElectron/|; wv\)|\bCFNetwork/|\bDalvik/|\bokhttp/|\bScale/[0-9]|\bAlamofire/[0-9]"
             r"|\([^()\s;]+; build:[0-9]+; (?:iOS|iPadOS|watchOS|tvOS|macOS) [0-9]")
APP_SHELL_IOS = r"\((?:iPhone|iPad|iPod)[;)].*\bMobile/[0-9A-Z]+"


def _plain(pattern: str) -> str:
    """A pattern's text with case classes collapsed (``[wW]get`` -> ``wget``), for :data:`AUTOMATION_WORDS`."""
    return re.sub(r"\[([A-Za-z])([A-Za-z])\]", lambda m: m.group(1) if m.group(1).lower() == m.group(2).lower()
                  else m.group(0), pattern)


def _crawler_patterns() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """crawler-user-agents' patterns minus :data:`CRAWLER_EXCLUDED`, in three tiers: those that name automation
    (:data:`AUTOMATION_WORDS`) and match no legitimate agent of the corpus; the *app-named* ones without such a
    word (they skip an app's own agent); the *suspect* ones that a legitimate agent of the corpus matches (too
    broad for any browser or app agent: an Android 15 build id, ``Viber``, ``PayPal\\/``, ``Sogou`` ...)."""
    legit = legit_agents()
    clean, app_named, suspect = [], [], []
    for p in (d["pattern"] for d in crawleruseragents.CRAWLER_USER_AGENTS_DATA):
        if p in CRAWLER_EXCLUDED:
            continue
        if any(re.search(p, ua) for ua in legit):
            suspect.append(p)
        else:
            (clean if AUTOMATION_WORDS.search(_plain(p)) else app_named).append(p)
    return tuple(clean), tuple(app_named), tuple(suspect)


CRAWLER_PATTERNS, APP_NAMED_PATTERNS, SUSPECT_PATTERNS = _crawler_patterns()


def _any(patterns: tuple[str, ...]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


CRAWLER_ANY, APP_NAMED_ANY, SUSPECT_ANY = (_any(t) for t in (CRAWLER_PATTERNS, APP_NAMED_PATTERNS, SUSPECT_PATTERNS))
ALL_CRAWLERS_ANY = "|".join(x for x in (CRAWLER_ANY, APP_NAMED_ANY, SUSPECT_ANY) if x)


# Placeholder values a script sends instead of a real agent: garbage (``flag_empty``).
PLACEHOLDER_AGENTS = ("test", "user-agent", "mozilla", "mozilla/4.0", "mozilla/5.0", "*")

def _major_at_least(v: int) -> str:
    """A regex of the Android major versions ``v`` to 19 (``[7-9]|1[0-9]`` for 7)."""
    return "(?:" + "|".join(([f"[{v}-9]"] if v <= 9 else []) + ["1[0-9]" if v <= 10 else f"1[{v - 10}-9]"]) + ")"


CPU_MODEL = r"(?i)^(?:x86_64|i386|arm64)$"  # the iOS Simulator's model, and a desktop client's CPU type
# Emulator signatures of device models and user agents (Android SDK images, Genymotion, desktop emulators).
EMULATOR_PATTERNS: tuple[tuple[str, str], ...] = (
    ("Android SDK built for", r"(?i)Android SDK built for"),
    ("sdk_gphone", r"(?i)\bsdk_gphone"),
    ("sdk_google", r"(?i)\bsdk_google"),
    ("sdk_x86", r"(?i)\bsdk_(?:phone(?:32|64)?_)?(?:x86|arm)"),  # AOSP emulator products: sdk_x86, sdk_phone64_x86_64
    ("google_sdk", r"(?i)\bgoogle_sdk\b"),
    ("generic_x86", r"(?i)\bgeneric[_ ](?:x86|arm64)"),
    # Genymotion by name, its device profiles' models ("Google Pixel 2 - 8.0 - API 26 - 1080x1920") and its
    # custom device ("Custom Phone Build/...")
    ("Genymotion", r"(?i)genymotion|\s-\s[0-9.]+\s-\sAPI\s\d{2}\s-\s\d{3,4}x\d{3,4}\b"
     r"|^Custom (?:Phone|Tablet)$|\bCustom (?:Phone|Tablet) Build/"),
    ("vbox86p", r"(?i)\bvbox86"),
    ("goldfish/ranchu", r"(?i)\b(?:goldfish|ranchu)\b"),
    ("BlueStacks", r"(?i)bluestacks"),
    # the products' names with their versions and editions: NoxPlayer, BigNox, nox_x86, MuMu12, MuMuPlayer, LDPlayer9
    ("Nox", r"(?i)\bnox(?:player)?\b|\bnox_|bignox"),
    ("MuMu", r"(?i)\bmumu(?:\b|player|[0-9])"),
    ("LDPlayer", r"(?i)\bldplayer"),
    ("MEmu", r"(?i)\bmemu(?:\b|play)"),
    ("Droid4X", r"(?i)droid4x"),
    ("TiantianVM", r"(?i)tiantianvm|\bttvm\b"),
    ("KOPlayer", r"(?i)\bkoplayer\b"),
    ("AMIDuOS", r"(?i)amiduos"),
    # a model that is an emulator: alone, or as an agent writes it before its build id ("AOSP on IA Emulator
    # Build/PSR1.180720.117", Android Studio's API 28 x86 image)
    ("Emulator", r"(?i)^emulator\b|\bemulator$|\bemulator(?:32|64)?_(?:x86|arm)|\bemulator\s+Build/"),
    # The iOS Simulator reports the host's machine name as the model; Windows runs Android apps in a subsystem.
    ("iOS Simulator", CPU_MODEL + r"|\bsimulator\b"),
    ("Windows Subsystem for Android", r"(?i)subsystem for android"),
    ("Android Studio AVD", r"(?i)(?:^|[\s_])API[ _]\d{2}(?:$|[\s_])"),  # AVD names: "Pixel 7 API 34", "Pixel_7_API_34"
    ("Google Play Games on PC", r"(?i)^HPE device$|\bHPE device Build/"),
    # container and virtual-device Android images run at scale by farms (AOSP's Cuttlefish: "Cuttlefish x86_64
    # phone"; "WayDroid x86_64 Device")
    ("Waydroid", r"(?i)\bwaydroid\b"),
    ("Cuttlefish", r"(?i)\bcuttlefish\b"),
    # An AOSP build id names its Android version by its first letter (L 5, M 6 ... U 14): a UA two or more
    # versions newer than its build id is an emulator image posing as a newer phone (Nox-style "Android 7.1.2;
    # SM-G977N Build/LMY48Z", a 5.1 build); a real phone's build id moves with every Android update. Except the
    # OPPO group's (OPPO, OnePlus, realme): its "xKQ1" ids stayed on later Androids (a stock OnePlus 8 Pro on
    # Android 13 is Build/RKQ1.211119.001), so a KQ1 id is no signature.
    ("build id of an older Android", "|".join(
        rf"(?:Android {_major_at_least(v + 2)}(?:\.[0-9.]+)?;[^)]*\bBuild/{letter}"
        rf"(?:[A-JL-Z][A-Z0-9]|K[A-PR-Z0-9]|KQ[02-9A-Z]))"
        for letter, v in (("L", 5), ("M", 6), ("N", 7), ("O", 8), ("P", 9), ("Q", 10), ("R", 11), ("S", 12),
                          ("T", 13), ("U", 14)))),
)


def first_match(col: pl.Expr, table: tuple[tuple[str, str], ...]) -> pl.Expr:
    """The name of the first pattern of ``(name, regex)`` pairs that ``col`` matches, else null."""
    out = pl.lit(None, pl.String)
    for name, rx in reversed(table):
        out = pl.when(col.str.contains(rx)).then(pl.lit(name)).otherwise(out)
    return out


# Signatures of a model name only: an AVD's display name ("Pixel 7 API 34") in an app's own user agent is the
# app stating its API level ("MyBank/5.2.1 (Android 14 API 34 Pixel 8)"), no emulator.
MODEL_ONLY_SIGNATURES = frozenset({"Android Studio AVD"})
AGENT_EMULATOR_PATTERNS = tuple((n, rx) for n, rx in EMULATOR_PATTERNS if n not in MODEL_ONLY_SIGNATURES)


def emulator_signature(col: str | pl.Expr, agent: bool = False) -> pl.Expr:
    """The emulator signature a model name (or, with ``agent``, a user agent) carries (e.g. ``sdk_gphone``), else
    null; invisible characters inside it hide none."""
    c = pl.col(col) if isinstance(col, str) else col
    return first_match(visible(c), AGENT_EMULATOR_PATTERNS if agent else EMULATOR_PATTERNS)


# A template left unfilled: "Chrome/{version}", "Chrome/%s", "{{user_agent}}", "$USER_AGENT"
TEMPLATE_AGENT = r"(?i)\{[a-z_]*version[a-z_]*\}|\{\{\s*[a-z_.]+\s*\}\}|%[sd]\b|\$\{?user_?agent\}?"


def is_placeholder(col: pl.Expr, min_length: int) -> pl.Expr:
    """Present but garbage: too short (``min_length`` characters), letterless, a placeholder user agent or an
    unfilled template (:data:`TEMPLATE_AGENT`). A platform alone (``Mozilla/5.0 (Windows NT 10.0; Win64; x64)``) is
    not: hand-written and shortened agents of real traffic look so."""
    s = col.str.strip_chars()
    # letters of any script: an app named 支付宝 or Сбербанк sends its name as its agent
    return ~is_missing(col) & ((s.str.len_chars() < min_length) | ~s.str.contains(r"\p{L}{2}")
                               | s.str.to_lowercase().is_in(list(PLACEHOLDER_AGENTS))
                               | s.str.contains(TEMPLATE_AGENT))


def bare_agent(ua: pl.Expr) -> pl.Expr:
    """The agent without the quotes an access-log line leaves around it, a header dump's ``User-Agent:`` label, or
    invisible characters inside it (a zero-width space in ``python-requests`` hides no tool)."""
    return visible(ua).str.replace(r"^(?i:user-agent:)\s*", "").str.strip_chars(" \t\"'")


TOOL_ANY = "(?i)" + "|".join(f"(?:{rx})" for _, _, rx in TOOL_PATTERNS)
# The signatures of an app platform's HTTP stack sent bare (okhttp/4.12.0, Dalvik/2.1.0, Dart/3.4 (dart:io) ...):
# what a script sends, and also an app that never set its own agent
BARE_STACK_TOOLS = frozenset(n for _, n, _ in TOOL_PATTERNS if n.endswith("(no app token)"))
# A bare "Mozilla/5.0" (no platform) and a "(compatible; ...)" comment opening it: what a script adds in front of
# its tool's own agent to pass a "starts with Mozilla" filter
COMPATIBLE_PREFIX = r"^(?i:mozilla)/[0-9.]+\s*(?:\((?i:compatible)\)\s*|\((?i:compatible)\s*;\s*)?"


def with_tool_match(df: pl.DataFrame, col: str, out: str = "_tool") -> pl.DataFrame:
    """``df`` with ``out``: the index in :data:`TOOL_PATTERNS` of the first signature the agent in ``col`` (a
    :func:`bare_agent`) matches in any letter case (a pipeline that lower-cases agents, a tool that varies it), else
    null. One pass of the patterns together finds the few candidates; their priority order is taken on those only
    (every pattern over every agent, case-insensitive, doubled the classification's time)."""
    agent = pl.col(col)
    # a tool behind a bare "Mozilla/5.0" or its "(compatible; ...)" comment is the tool: "Mozilla/5.0 (compatible;
    # curl/8.4.0)" is curl, as "Mozilla/5.0 (compatible; Googlebot/2.1)" is Googlebot
    # ... when what follows is a product/version token (curl/8.4.0), not an app's name that starts with a tool's
    # word ("(compatible; Ruby Sparkle)", "Gatling Mobile 2.0"); the bare-stack signatures (Dalvik, CFNetwork, okhttp
    # without an app token) are read on the whole agent only
    stripped = agent.str.replace(COMPATIBLE_PREFIX, "")
    inner = pl.when((stripped != agent) & stripped.str.contains(r"^[^\s;()/]+/[0-9]")).then(stripped)
    pats = tuple((str(i), f"(?i){rx}") for i, (_, _, rx) in enumerate(TOOL_PATTERNS))
    inner_pats = tuple((str(i), f"(?i){rx}") for i, (_, name, rx) in enumerate(TOOL_PATTERNS)
                       if name not in BARE_STACK_TOOLS)
    cand = (df.select(col).unique().with_columns(inner.alias("_inner"))
            .filter(agent.str.contains(TOOL_ANY).fill_null(False)
                    | pl.col("_inner").str.contains(TOOL_ANY).fill_null(False))
            .with_columns(pl.coalesce(first_match(agent, pats), first_match(pl.col("_inner"), inner_pats))
                          .cast(pl.Int32).alias(out))
            .drop("_inner"))
    return df.join(cand, on=col, how="left", nulls_equal=True, maintain_order="left")


def bot_columns(ua: pl.Expr, min_length: int, ua_parser_bot: pl.Expr, device_shaped: pl.Expr,
                tool: pl.Expr) -> list[pl.Expr]:
    """``bot_kind`` (missing / empty or garbage / headless browser / automation / http library / cli client /
    crawler) and
    ``bot_pattern`` (the name of the matched pattern, or the crawler-user-agents regex) for a UA column.
    ``ua_parser_bot`` marks agents ua-parser calls a Spider, the last resort; ``device_shaped`` marks agents
    that parse as a browser or app on a known OS and device type (not "compatible;", no contact URL), to which
    the suspect crawler patterns do not apply (``Viber/22.7 CFNetwork/… Darwin/…`` is the Viber app, bare
    ``Viber`` its link-preview bot); the app-named ones do not apply to such an agent that is an app's own
    (:data:`APP_SHELL`: ``… Code/1.89.1 Chrome/… Electron/…`` is VS Code, ``… Safari/537.36 GTmetrix`` a
    monitor). ``tool`` is the agent's :func:`with_tool_match` column."""
    index = list(range(len(TOOL_PATTERNS)))
    tool_kind = tool.replace_strict(index, [k for k, _, _ in TOOL_PATTERNS], default=None, return_dtype=pl.String)
    tool_name = tool.replace_strict(index, [n for _, n, _ in TOOL_PATTERNS], default=None, return_dtype=pl.String)
    crawler = ua.str.contains(CRAWLER_ANY)
    if APP_NAMED_PATTERNS:
        app = ua.str.contains(APP_SHELL) | (ua.str.contains(APP_SHELL_IOS) & ~ua.str.contains("Safari/"))
        crawler = crawler | (~(device_shaped & app) & ua.str.contains(APP_NAMED_ANY))
    if SUSPECT_PATTERNS:
        crawler = crawler | (~device_shaped & ua.str.contains(SUSPECT_ANY))
    missing, empty = is_missing(ua), is_placeholder(ua, min_length)
    kind = (pl.when(missing).then(pl.lit("missing")).when(empty).then(pl.lit("empty or garbage"))
            .when(tool_kind.is_not_null()).then(tool_kind)
            .when(crawler | ua_parser_bot).then(pl.lit("crawler")).otherwise(pl.lit(None, pl.String)))
    pattern = (pl.when(missing).then(pl.lit("missing user agent"))
               .when(empty).then(pl.lit("empty or garbage user agent")).when(tool_name.is_not_null())
               .then(tool_name).when(crawler).then(pl.lit(None, pl.String))
               .when(ua_parser_bot).then(pl.lit("ua-parser Spider")).otherwise(pl.lit(None, pl.String)))
    return [kind.alias("bot_kind"), pattern.alias("bot_pattern")]


@lru_cache(maxsize=1)
def _compiled_crawlers() -> tuple[tuple[str, re.Pattern], ...]:
    # compiled once: ~1,500 patterns overflow ``re``'s cache of 512, so re.search recompiled most of them on every
    # call (23 ms per agent; a log with thousands of distinct crawler agents took minutes)
    return tuple((p, re.compile(p)) for p in (*CRAWLER_PATTERNS, *APP_NAMED_PATTERNS, *SUSPECT_PATTERNS))


def crawler_pattern(ua: str) -> str | None:
    """The first crawler-user-agents pattern matching ``ua`` (for evidence; called on flagged distinct UAs)."""
    for p, rx in _compiled_crawlers():
        if rx.search(ua):
            return p
    return None
