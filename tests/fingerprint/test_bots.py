import re

import crawleruseragents
import polars as pl
import pytest

from fraud.config import load_config
from fraud.errors import ConfigError
from fraud.fingerprint.bots import bot_agent
from fraud.fingerprint import patterns
from fraud.fingerprint.patterns import CRAWLER_PATTERNS, SUSPECT_PATTERNS, legit_agents
from fraud.fingerprint.useragent import classify, parse_agents
from fraud.registry import NotEvaluated
from tests.conftest import at, make_ctx
from tests.fingerprint.conftest import UA, ev, iso, run

BOTS = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": ("crawler", r"Googlebot\/"),
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)": ("crawler", "bingbot"),
    "python-requests/2.31.0": ("http library", "python-requests"),
    "Go-http-client/1.1": ("http library", "Go-http-client"),
    "okhttp/4.9.3": ("http library", "okhttp (no app token)"),
    "Apache-HttpClient/4.5.13 (Java/17.0.2)": ("http library", "Java HTTP client"),
    "curl/8.4.0": ("cli client", "curl"),
    "Wget/1.21.4": ("cli client", "Wget"),
    "PostmanRuntime/7.36.0": ("cli client", "PostmanRuntime"),
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 "
    "Safari/537.36": ("headless browser", "HeadlessChrome"),
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1":
        ("headless browser", "PhantomJS"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
    "Safari/537.36 Selenium/4.15.2 (java windows)": ("automation", "Selenium"),
    "Java-http-client/21.0.3": ("http library", "Java HTTP client"),
    "Dart/3.4 (dart:io)": ("http library", "Dart (no app token)"),
    "CFNetwork/1410.0.3 Darwin/22.6.0": ("http library", "CFNetwork (no app token)"),
    "Alamofire/5.9.1": ("http library", "Alamofire (no app token)"),
    "Ktor client": ("http library", "Ktor client"),
    "reqwest/0.12.4": ("http library", "reqwest"),
    "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) PowerShell/7.4.2": ("cli client",
                                                                                           "PowerShell"),
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)": ("crawler", "Sogou"),
    "Deno/1.44.4": ("http library", "Deno"),
    "Bun/1.1.18": ("http library", "Bun"),
    "NewRelicPinger/1.0 (1234567)": ("automation", "health check or uptime probe"),
    "kube-probe/1.29": ("automation", "health check or uptime probe"),
    # app-named crawler patterns still apply to a plain browser agent with the tool's token appended
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 "
    "GTmetrix": ("crawler", "GTmetrix"),
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; )": ("crawler", "Feedly"),
    # automation words hidden in case classes ([wW]get, [pP]ingdom) still apply to an app's own agent
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36 Pingdom.com": ("crawler", "[pP]ingdom"),
    # stock agents of more HTTP libraries and load tools (a pre-release okhttp is still bare okhttp)
    "okhttp/5.0.0-alpha.14": ("http library", "okhttp (no app token)"),
    "Apache-HttpAsyncClient/4.1.5 (Java/11.0.21)": ("http library", "Java HTTP client"),
    "Vert.x-WebClient/4.5.1": ("http library", "Java HTTP client"),
    "go-resty/2.14.0 (https://github.com/go-resty/resty)": ("http library", "Go HTTP library"),
    "node-superagent/3.8.3": ("http library", "node HTTP client"),
    "Needle/3.3.1 (Node.js v20.11.0; linux x64)": ("http library", "node HTTP client"),
    "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/24.0.0": ("http library", "node HTTP client"),
    "http.rb/5.1.1": ("http library", "Ruby HTTP client"),
    "HTTPClient/1.0 (2.8.3, ruby 3.2.2 (2023-03-30))": ("http library", "Ruby HTTP client"),
    "Typhoeus - https://github.com/typhoeus/typhoeus": ("http library", "Ruby HTTP client"),
    "Mojolicious (Perl)": ("http library", "Perl HTTP client"),
    "HTTP-Tiny/0.088": ("http library", "Perl HTTP client"),
    "hackney/1.20.1": ("http library", "other HTTP library"),
    "ureq/2.9.1": ("http library", "other HTTP library"),
    "aria2/1.37.0": ("cli client", "aria2"),
    # cloud SDKs and CLIs (ua-parser calls none of these but Boto3 a Spider)
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2 prompt/off command/s3.ls": ("http library",
                                                                                          "cloud SDK or CLI"),
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64": ("http library", "cloud SDK or CLI"),
    "aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9+8 java/17.0.9 vendor/Amazon.com_Inc.": (
        "http library", "cloud SDK or CLI"),
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.11.8 Botocore/1.34.69": ("http library",
                                                                                                "cloud SDK or CLI"),
    "google-api-python-client/2.100.0 (gzip)": ("http library", "cloud SDK or CLI"),
    "azsdk-python-storage-blob/12.19.0 Python/3.11.4 (Linux-5.15.0-x86_64-with-glibc2.35)": ("http library",
                                                                                             "cloud SDK or CLI"),
    "Microsoft.Azure.Storage/9.3.2 (.NET CLR 4.0; Win32NT 6.2.9200.0)": ("http library", "cloud SDK or CLI"),
    "Paw/3.4.0 (Macintosh; OS X/14.1.1) GCDHTTPRequest": ("cli client", "Paw / RapidAPI"),
    # any letter case; the quotes of an access-log line and a header dump's label around the agent
    "mozilla/5.0 (x11; linux x86_64) applewebkit/537.36 (khtml, like gecko) headlesschrome/120.0.0.0 "
    "safari/537.36": ("headless browser", "HeadlessChrome"),
    "GO-HTTP-CLIENT/2.0": ("http library", "Go-http-client"),
    "apache-httpclient/4.5.13 (java/17.0.2)": ("http library", "Java HTTP client"),
    "postmanruntime/7.36.0": ("cli client", "PostmanRuntime"), "dalvik/2.1.0": ("http library", "Dalvik (no app token)"),
    '"curl/8.4.0"': ("cli client", "curl"), "'Wget/1.21.4'": ("cli client", "Wget"),
    "User-Agent: okhttp/4.12.0": ("http library", "okhttp (no app token)"),
    'user-agent: "Java/17.0.2"': ("http library", "Java HTTP client"),
    "python\u200b-requests/2.31.0": ("http library", "python-requests"),  # a zero-width space hides no tool
    "Headless\u200dChrome/120.0 Safari/537.36": ("headless browser", "HeadlessChrome"),
    "python\u2066-requests/2.31.0": ("http library", "python-requests"),  # a bidi isolate too
    "mass\u200bscan/1.3 (https://github.com/robertdavidgraham/masscan)": ("crawler", "masscan"),
    '"-"': ("missing", "missing user agent"),  # a quoted missing agent is none, not garbage
    # a tool behind a bare "Mozilla/5.0" or its "(compatible; ...)" comment, as Googlebot writes its own
    "Mozilla/5.0 (compatible; curl/8.4.0)": ("cli client", "curl"),
    "Mozilla/5.0 (compatible) curl/8.4.0": ("cli client", "curl"),
    "Mozilla/5.0 Wget/1.21.4": ("cli client", "Wget"),
    "Mozilla/5.0 (compatible; Java/17.0.2)": ("http library", "Java HTTP client"),
    "ApacheBench/2.3": ("automation", "load or attack tool"),
    "Artillery (https://artillery.io)": ("automation", "load or attack tool"),
    "-": ("missing", "missing user agent"),
    " Unknown ": ("missing", "missing user agent"),
    # database exports' NULL (\N), a printed nil ((null), <null>), pandas' nan: no agent, never garbage
    "\\N": ("missing", "missing user agent"), "(null)": ("missing", "missing user agent"),
    "<null>": ("missing", "missing user agent"), "nan": ("missing", "missing user agent"),
    # more tools' stock agents: PHP's Symfony client, Python websockets, xh, Thunder Client, Elixir's Req, Zombie.js,
    # web fuzzers; Shellshock and a SQL tautology sent as the agent
    "Symfony HttpClient/Curl": ("http library", "PHP HTTP client"),
    "Python/3.12 websockets/12.0": ("http library", "Python websockets"),
    "xh/0.22.2": ("cli client", "HTTPie"), "Thunder Client (https://www.thunderclient.com)": ("cli client",
                                                                                          "Thunder Client"),
    "req/0.4.14": ("http library", "other HTTP library"),
    "Mozilla/5.0 Chrome/10.0.613.0 Safari/534.15 Zombie.js/6.1.4": ("headless browser", "Zombie.js"),
    "gobuster/3.6": ("automation", "load or attack tool"),
    "Fuzz Faster U Fool v2.1.0-dev": ("automation", "load or attack tool"),
    "() { :;}; echo; /usr/bin/id": ("automation", "injection payload"),
    "' OR '1'='1": ("automation", "injection payload"),
    # gRPC's default agents (a mobile stack sent bare is the app platform's, hinted as okhttp is) and Windows'
    # own fetchers
    "grpc-java-okhttp/1.54.0": ("http library", "gRPC mobile stack (no app token)"),
    "grpc-objc-cfstream/1.59.0 grpc-c/36.0.0 (ios; cronet_http)": ("http library",
                                                                   "gRPC mobile stack (no app token)"),
    "grpc-go/1.59.0": ("http library", "gRPC library"),
    "grpc-python/1.60.0 grpc-c/36.0.0 (linux; chttp2)": ("http library", "gRPC library"),
    "grpc-dotnet/2.59.0 (.NET 8.0.0; CLR 8.0.0; net8.0; linux; x64)": ("http library", "gRPC library"),
    "grpc-node-js/1.9.12": ("http library", "gRPC library"),
    "tonic/0.10.2": ("http library", "gRPC library"),
    "Microsoft-CryptoAPI/10.0": ("http library", "Windows system fetcher"),
    "Microsoft BITS/7.8": ("http library", "Windows system fetcher"),
    # Auth0's logs write ua-parser's summary in place of the agent
    "Python Requests 2.31.0 / Other 0.0.0": ("http library", "python-requests"),
    # ua-parser's Spider on a desktop agent is believed when a word of it says bot
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 SomeBot/1.0": ("crawler", "ua-parser Spider"),
    "Mozilla/5.0": ("empty or garbage", "empty or garbage user agent"),
    "12345678901": ("empty or garbage", "empty or garbage user agent"),
    # unfilled templates
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} "
    "Safari/537.36": ("empty or garbage", "empty or garbage user agent"),
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%s Safari/537.36": (
        "empty or garbage", "empty or garbage user agent"),
    "$USER_AGENT": ("empty or garbage", "empty or garbage user agent"),
    "{{ user_agent }}": ("empty or garbage", "empty or garbage user agent"),
}


@pytest.mark.parametrize("agent", list(BOTS))
def test_bot_agents_are_classified_with_their_pattern(agent):
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == BOTS[agent]


@pytest.mark.parametrize("agent", ["Mozilla/5.0 (compatible; Ruby Sparkle)", "Mozilla/5.0 (compatible; got-it app/1.0)",
                                   "Mozilla/5.0 (compatible; Gatling Mobile 2.0; Android 12)",
                                   "Mozilla/5.0 (compatible; Faraday Future App/2.3; Android 14)",
                                   "Mozilla/5.0 Ruby Rewards/4.2 (iPhone; iOS 17.1)",
                                   "Mozilla/5.0 CFNetwork/1410.0.3 Darwin/22.6.0",
                                   "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)"])
def test_an_apps_name_behind_a_compatible_prefix_is_no_tool(agent):
    """Behind "Mozilla/5.0 (compatible; ...)" only a tool's product/version token is the tool: an app named with a
    tool's word is not, and the bare-stack signatures apply to a bare agent only."""
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert row["bot_kind"] not in ("http library", "cli client", "automation"), row


@pytest.mark.parametrize("name", list(UA))
def test_real_browsers_and_app_agents_are_not_bots(name):
    row = classify(parse_agents([UA[name]]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)


@pytest.mark.parametrize("agent", ["支付宝/10.6.0", "Сбербанк Онлайн/15.3.0", "メルカリ/7.42.0", "토스/5.190.0",
                                   "الراجحي/4.2.1", "okhttp-app/4.12.0 MyBank/5.2", "MyBank/5.2 grpc-java-okhttp/1.54.0",
                                   "MyBank/5.2.0 (Linux; Android 13; "
                                   "kukui) okhttp/4.12.0",
                                   "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)"])
def test_app_agents_in_any_script_are_not_garbage_or_bare_libraries(agent):
    """An app named in Chinese, Cyrillic, Japanese, Korean or Arabic sends its name as its agent: letters, not
    garbage (the letter test read ASCII only); an app token beside okhttp keeps it an app's agent, and Android's
    own agent with its device comment is every app's on Android's HTTP client."""
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)


@pytest.mark.parametrize("agent", legit_agents())
def test_legitimate_agents_of_the_corpus_are_not_bots(agent):
    """Android 15 build ids, in-app browsers, apps named Viber/PayPal/GoPay, Sogou's browser ...: the broad
    crawler-user-agents patterns that match them are dropped."""
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)


def test_crawler_patterns_that_match_legitimate_agents_are_suspect():
    assert {"AP3A\\.240617\\.008", "Viber", "Sogou", "okhttp"}.isdisjoint(CRAWLER_PATTERNS)
    assert {"AP3A\\.240617\\.008", "Viber", "Sogou", "PayPal\\/"} <= set(SUSPECT_PATTERNS)
    assert "okhttp" not in SUSPECT_PATTERNS and {"Googlebot\\/", "bingbot"} <= set(CRAWLER_PATTERNS)


@pytest.mark.parametrize(("agent", "pattern"), [
    ("PayPal/AUHR-214.0-51787073PayPal IPN ( https://www.paypal.com/ipn )", "PayPal\\/"), ("Stripe/1.0 (+https://stripe.com/docs/webhooks)", "Stripe\\/"), ("Trustly/1", "Trustly\\/"),
    ("Mozilla/5.0 (compatible; Butterfly/1.0; +http://labs.topsy.com/butterfly/) Gecko/2009032608 Firefox/3.0.8",
     "Butterfly"),
])
def test_suspect_patterns_still_catch_agents_that_are_no_browser_or_app(agent, pattern):
    """A suspect pattern applies to agents that do not parse as a browser or app on a known OS and device."""
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == ("crawler", pattern)


APPS = [  # apps whose names crawler-user-agents lists for their fetchers
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.89.1 "
    "Chrome/120.0.6099.291 Electron/28.2.8 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Asana/2.3.0 "
    "Chrome/120.0.6099.109 Electron/28.1.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Tumblr/iPhone/33.5/335010/17.5/tumblr",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Feedly/107.0",
    "Bluesky/1.89.0 CFNetwork/1494.0.7 Darwin/23.4.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36 WordPress/25.1",
]


@pytest.mark.parametrize("agent", APPS)
def test_app_named_crawler_patterns_skip_the_apps_own_agents(agent):
    assert patterns.crawler_pattern(agent) is not None  # crawler-user-agents does list the app's name
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)


def test_crawler_user_agents_examples_are_bots_unless_they_are_app_agents():
    """crawler-user-agents' own example agents: all flagged, except the few that are an app's own agent (VS Code
    on Electron, an in-app web view) listed under the app's name."""
    examples = sorted({u for d in crawleruseragents.CRAWLER_USER_AGENTS_DATA for u in d.get("instances", [])
                       if u.strip()})
    table = classify(parse_agents(examples), 8)
    missed = table.filter(pl.col("bot_kind").is_null())["user_agent"].to_list()
    assert len(examples) > 2000 and len(missed) <= 5
    assert all(re.search(patterns.APP_SHELL, ua) for ua in missed), missed


def _logins():
    return pl.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u3", "u3"],
        "ts": [at(0), at(5), at(9), at(1), at(2), at(3)],
        "event": ["login", "login", "payment", "login", "login", "payment"],
        "user_agent": ["curl/8.4.0", "curl/8.4.0", "curl/8.4.0", UA["android"], None, None],
        "device_id": [None, "d9", None, "d2", None, None], "ip": ["1.2.3.4", "1.2.3.5", None, None, None, None],
    })


def test_bot_agent_fires_once_per_user_and_agent():
    ctx = make_ctx(logins=_logins())
    df = bot_agent(ctx).collect()
    assert df["user_id"].to_list() == ["u1"]
    r = df.row(0, named=True)
    assert (r["points"], r["severity"], r["first_ts"], r["last_ts"], r["device_id"], r["ip"]) == (
        -60, "high", at(0), at(9), "d9", "1.2.3.4")
    assert ev(df, 0) == {"user_agent": "curl/8.4.0", "kind": "cli client", "pattern": "curl", "events": 3,
                         "first_seen": iso(0), "last_seen": iso(9)}
    # u3's login without a user agent is not evaluated (counted), not called a bot; its payment is not counted.
    assert ctx.notes["device.bot_agent"] == {"logins_without_user_agent": 1, "failed_events_not_counted": 0,
                                             "users_with_successful_events": 3, "bare_app_stack_users": {}}


def test_bot_agent_does_not_count_failed_events():
    """A credential-stuffing script failing on an account's password is the attacker's agent: the victim gets no
    finding (counted in the notes); a bot that gets in counts with its successful events only."""
    logins = pl.DataFrame({
        "user_id": ["v1", "v1", "v1", "v2", "v2"], "ts": [at(0), at(1), at(2), at(3), at(4)],
        "event": ["login"] * 5, "success": [False, False, False, False, True],
        "user_agent": ["python-requests/2.32.3"] * 5, "device_id": [None] * 5, "ip": ["9.9.9.9"] * 5})
    ctx = make_ctx(logins=logins)
    df = bot_agent(ctx).collect()
    assert df["user_id"].to_list() == ["v2"] and ev(df, 0)["events"] == 1 and df["first_ts"].to_list() == [at(4)]
    assert ctx.notes["device.bot_agent"] == {"logins_without_user_agent": 0, "failed_events_not_counted": 4,
                                             "users_with_successful_events": 1, "bare_app_stack_users": {}}


def test_bot_agent_flags_missing_agents_on_logins_with_flag_missing(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."device.bot_agent"]\nflag_missing = true\n')
    logins = _logins().with_columns(
        pl.when(pl.col("user_id") == "u2").then(pl.lit(" - ")).otherwise("user_agent").alias("user_agent"))
    df = bot_agent(make_ctx(load_config(cfg_file), logins=logins)).collect().sort("user_id")
    assert df["user_id"].to_list() == ["u1", "u2", "u3"]
    assert [(e["kind"], e["pattern"], e["events"]) for e in (ev(df, 1), ev(df, 2))] == [
        ("missing", "missing user agent", 1), ("missing", "missing user agent", 1)]


def test_bot_agent_quiet_for_browsers_and_without_flag_empty(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."device.bot_agent"]\nflag_empty = false\n')
    logins = _logins().with_columns(
        pl.when(pl.col("user_id") == "u1").then(pl.lit("Mozilla/5.0")).otherwise("user_agent").alias("user_agent"))
    df = bot_agent(make_ctx(load_config(cfg_file), logins=logins)).collect()
    assert df.height == 0


def test_bot_agent_not_evaluated_without_any_user_agent():
    with pytest.raises(NotEvaluated):
        run(bot_agent, logins=pl.DataFrame({"user_id": ["u1"], "ts": [at(0)]}))


def test_bot_agent_is_order_independent():
    a = run(bot_agent, logins=_logins())
    b = run(bot_agent, logins=_logins().reverse())
    assert a.equals(b)


def test_allowed_agents_are_never_bots(tmp_path):
    """The operator's own app sending OkHttp's default agent: allowed by a pattern, the other bots still fire."""
    logins = pl.DataFrame({"user_id": ["u1", "u2"], "ts": [at(0), at(1)], "event": ["login"] * 2,
                           "user_agent": ["okhttp/4.12.0", "curl/8.4.0"]})
    assert bot_agent(make_ctx(logins=logins)).collect().sort("user_id")["user_id"].to_list() == ["u1", "u2"]
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."device.bot_agent"]\nallowed_agents = ["^okhttp/4\\\\."]\n')
    assert bot_agent(make_ctx(load_config(cfg_file), logins=logins)).collect()["user_id"].to_list() == ["u2"]


@pytest.mark.parametrize(("value", "message"), [
    ('["(unclosed"]', "key 'allowed_agents'[0] is no valid regular expression '(unclosed'"),
    ("[3]", "key 'allowed_agents'[0] must be a string, got 3")])
def test_allowed_agents_are_checked_at_load(tmp_path, value, message):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'[rules."device.bot_agent"]\nallowed_agents = {value}\n')
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(cfg_file)


@pytest.mark.parametrize("agent", [
    # Internet Explorer writes its whole agent inside the platform comment; a platform alone is how hand-written
    # and shortened agents of real traffic look
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
    "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
    # iOS apps' own Alamofire stacks: the app's name is on crawler lists, but this is the app on an iPhone
    "GoPay/1.62.0 (com.gojek.gopay; build:1620; iOS 17.5.1) Alamofire/5.9.1",
    "PayPal/8.62.0 (com.yourcompany.PPClient; build:862; iOS 17.5.1) Alamofire/5.8.0",
    "Viber/22.7 (com.viber; build:1; iOS 17.5.1) Alamofire/5.9.1",
    "Sogou/6.9.0 (com.sogou.app; build:1; iOS 17.5.1) Alamofire/5.9.1",
    # ua-parser's Spider takes any agent with "WhatsApp", "Daum", "yahoo" ... in it: WhatsApp Desktop on Electron
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) WhatsApp/2.2424.6 "
    "Chrome/124.0.6367.243 Electron/30.1.2 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 Daum",
])
def test_an_apps_own_stack_and_a_spider_word_inside_a_browser_agent_are_no_bot(agent):
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)
