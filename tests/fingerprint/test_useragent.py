import polars as pl
import pytest

from fraud.fingerprint import patterns
from fraud.fingerprint.useragent import AGENT_SCHEMA, agent_table, classify, parse_agents, parse_one, with_agents
from tests.conftest import at, make_ctx
from tests.fingerprint.conftest import UA


def test_parse_one_android_phone():
    assert parse_one(UA["android"]) == ("Chrome Mobile", "120", "Android", "13", "Samsung SM-S911B", "Samsung",
                                        "SM-S911B", "mobile")


def test_device_classes_follow_user_agents():
    df = parse_agents([UA["iphone"], UA["ipad"], UA["windows"], UA["mac"],
                       "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.4.0"])
    assert df["device_class"].to_list() == ["mobile", "tablet", "pc", "pc", "bot", "other"]
    assert df["os_family"].to_list() == ["iOS", "iOS", "Windows", "Mac OS X", "Other", "Other"]
    assert df["os_version"].to_list()[:4] == ["17.1.2", "17.2", "10", "10.15.7"]
    assert df["browser_family"].to_list()[:4] == ["Mobile Safari", "Mobile Safari", "Chrome", "Safari"]
    assert df["browser_major"].to_list()[:4] == ["17", "17", "120", "17"]


def test_unparseable_agent_is_other_not_an_error():
    df = parse_agents(["", "???"])
    assert df.schema == pl.Schema(AGENT_SCHEMA)
    assert df["os_family"].to_list() == ["Other", "Other"]
    assert df["device_family"].to_list() == ["Other", "Other"]


def test_agent_table_is_distinct_and_joins_back():
    logins = pl.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "ts": [at(0), at(1), at(2), at(3)],
                           "user_agent": [UA["android"], UA["android"], None, UA["windows"]]})
    ctx = make_ctx(logins=logins)
    table = agent_table(ctx)
    assert table["user_agent"].to_list() == sorted([UA["android"], UA["windows"]])
    assert agent_table(ctx) is table  # cached per scan
    joined = with_agents(ctx.logins, ctx).sort("user_id").collect()
    assert joined["device_class"].to_list() == ["mobile", "mobile", None, "pc"]
    assert {"bot_kind", "bot_pattern", "emulator_sig"} <= set(joined.columns)


# Agents that reach each branch of user-agents' classification (Windows RT and ME, Silk, Maemo, Firefox OS,
# BlackBerry, Nokia, J2ME, Kindle, a mobile spider, Chrome OS, an Android tablet, Firefox on Android).
EDGE_AGENTS = [
    "Mozilla/5.0 (Windows NT 6.3; ARM; Trident/7.0; Touch; rv:11.0) like Gecko",
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows ME) Opera 8.0",
    "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98; Win 9x 4.90)",
    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_3; en-us; Silk/1.0.146.3-Gen4_12000410) AppleWebKit/533.16 "
    "(KHTML, like Gecko) Version/5.0 Safari/533.16 Silk-Accelerated=true",
    "Mozilla/5.0 (X11; U; Linux armv7l; en-GB; rv:1.9.2a1pre) Gecko/20090928 Firefox/3.5 Maemo Browser 1.4.1.22 "
    "RX-51 N900",
    "Mozilla/5.0 (Mobile; rv:26.0) Gecko/26.0 Firefox/26.0", "Mozilla/5.0 (Tablet; rv:26.0) Gecko/26.0 Firefox/26.0",
    "BlackBerry9700/5.0.0.351 Profile/MIDP-2.1 Configuration/CLDC-1.1 VendorID/123",
    "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML, like Gecko) Version/7.2.1.0 "
    "Safari/536.2+",
    "Mozilla/5.0 (Symbian/3; Series60/5.2 NokiaN8-00/012.002; Profile/MIDP-2.1 Configuration/CLDC-1.1 ) "
    "AppleWebKit/533.4 (KHTML, like Gecko) NokiaBrowser/7.3.0 Mobile Safari/533.4 3gpp-gba",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
    "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/535.19 (KHTML, like Gecko) "
    "Silk/3.4 Mobile Safari/535.19 Silk-Accelerated=true",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) AppleWebKit/536.26 (KHTML, like Gecko) Version/6.0 "
    "Mobile/10A5376e Safari/8536.25 (compatible; Googlebot-Mobile/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.212 "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
    "okhttp/4.12.0", "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)", "", "???",
]


def _reference_class(agent: str) -> tuple:
    """user-agents' own ``UserAgent`` classification of ua-parser's parse, property by property."""
    from ua_parser import parse
    from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

    r = parse(agent)
    b, o, d = r.user_agent, r.os, r.device
    ua = object.__new__(UserAgent)
    ua.ua_string = agent
    ua.browser = parse_browser(b.family, b.major, b.minor, b.patch) if b else parse_browser("Other")
    ua.os = parse_operating_system(o.family, o.major, o.minor, o.patch) if o else parse_operating_system("Other")
    ua.device = parse_device(d.family, d.brand, d.model) if d else parse_device("Other", None, None)
    cls = ("bot" if ua.is_bot else "tablet" if ua.is_tablet else "mobile" if ua.is_mobile else "pc" if ua.is_pc
           else "other")
    return ua.browser.family, ua.os.family, ua.device.family, cls


def test_device_class_is_user_agents_classification():
    """The column expressions give user-agents' own class on every branch of it, on the crawler list's 2,000+
    real agents and on this suite's browsers and apps."""
    import crawleruseragents

    from tests.fingerprint.conftest import UA as FIXTURE_AGENTS

    agents = sorted({*EDGE_AGENTS, *FIXTURE_AGENTS.values(),
                     *(u for d in crawleruseragents.CRAWLER_USER_AGENTS_DATA for u in d.get("instances", []))})
    df = parse_agents(agents)
    got = list(zip(df["browser_family"], df["os_family"], df["device_family"], df["device_class"]))
    want = [_reference_class(a) for a in agents]
    assert [(a, g) for a, g, w in zip(agents, got, want) if g != w] == []
    edge = dict(zip(agents, df["device_class"]))
    assert [edge[a] for a in EDGE_AGENTS] == [
        "tablet", "pc", "pc", "tablet", "mobile", "mobile", "mobile", "mobile", "tablet", "mobile", "mobile", "tablet",
        "bot", "pc", "tablet", "mobile", "pc", "mobile", "other", "tablet", "other", "other"]


def test_an_hbbtv_block_gives_the_os_the_agent_names_not_the_maker():
    """ua-parser reads "HbbTV/1.5.1 (+DRM;Samsung;SmartTV2017;...)" as the OS Samsung 2017: the Tizen (or webOS,
    Android, Linux) the agent names is the OS, else it is unknown; an HbbTV agent that names its OS keeps it."""
    block = "HbbTV/1.5.1 (+DRM;Samsung;SmartTV2017;T-KTMDEUC-1250.0;;)"
    lg = ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
          "Safari/537.36 HbbTV/1.5.1 (+DRM; LGE; 65UP75006LF; WEBOS6.3.2 03.34.95; W6_lm21a;)")
    df = parse_agents([f"Mozilla/5.0 (Linux; Tizen 2.3) AppleWebKit/538.1 (KHTML, like Gecko) TV Safari/538.1 {block}",
                       f"Mozilla/5.0 (Linux; armv7l) {block}", block, lg])
    assert df.select("os_family", "os_version").rows() == [("Tizen", "2.3"), ("Linux", None), ("Other", None),
                                                           ("Web0S", None)]


def test_an_apps_agent_stating_its_api_level_carries_no_emulator_signature():
    """An AVD's display name ("Pixel 7 API 34") is a model's signature only: an app's own agent that states its
    API level is no emulator. An emulator's build name in an agent still is."""
    table = classify(parse_agents(["MyBank/5.2.1 (Android 14 API 34 Pixel 8)",
                                   "Dalvik/2.1.0 (Linux; U; Android 14; sdk_gphone64_x86_64 Build/UE1A.230829.036)"]), 8)
    assert dict(table.select("user_agent", "emulator_sig").iter_rows()) == {
        "MyBank/5.2.1 (Android 14 API 34 Pixel 8)": None,
        "Dalvik/2.1.0 (Linux; U; Android 14; sdk_gphone64_x86_64 Build/UE1A.230829.036)": "sdk_gphone"}


@pytest.mark.parametrize(("agent", "sig"), [
    # Android Studio's API 28 x86 image names its model so in agents, before the build id
    ("Dalvik/2.1.0 (Linux; U; Android 9; AOSP on IA Emulator Build/PSR1.180720.117)", "Emulator"),
    ("Mozilla/5.0 (Linux; Android 9; AOSP on IA Emulator Build/PSR1.180720.117; wv) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Version/4.0 Chrome/69.0.3497.100 Mobile Safari/537.36", "Emulator"),
    # Genymotion's device profiles and its custom device
    ("Dalvik/2.1.0 (Linux; U; Android 8.0.0; Google Pixel 2 - 8.0 - API 26 - 1080x1920 Build/OPR6.170623.017)",
     "Genymotion"),
    ("Dalvik/2.1.0 (Linux; U; Android 11; Custom Phone Build/RQ1A.210105.003)", "Genymotion"),
    # no emulator: a phone whose model has "emulator" nowhere before its build id, an app named for emulation
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/127.0.0.0 Mobile Safari/537.36", None),
    ("RetroArch Emulator/1.19 (Android 14; Pixel 8)", None),
    ("Dalvik/2.1.0 (Linux; U; Android 13; Custom ROM Pixel 5 Build/TQ3A.230901.001)", None),
])
def test_emulator_signatures_in_agents(agent, sig):
    assert classify(parse_agents([agent]), 8)["emulator_sig"].to_list() == [sig]


@pytest.mark.parametrize("model", ["Google Pixel 2 - 8.0 - API 26 - 1080x1920", "Custom Phone", "Custom Tablet"])
def test_genymotion_models_are_emulators(model):
    assert pl.select(patterns.emulator_signature(pl.lit(model))).item() == "Genymotion"
