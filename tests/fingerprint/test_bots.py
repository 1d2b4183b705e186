import polars as pl
import pytest

from fraud.config import load_config
from fraud.fingerprint.bots import bot_agent
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
    "-": ("empty or garbage", "empty or garbage user agent"),
    "Mozilla/5.0": ("empty or garbage", "empty or garbage user agent"),
    "12345678901": ("empty or garbage", "empty or garbage user agent"),
}


@pytest.mark.parametrize("agent", list(BOTS))
def test_bot_agents_are_classified_with_their_pattern(agent):
    row = classify(parse_agents([agent]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == BOTS[agent]


@pytest.mark.parametrize("name", list(UA))
def test_real_browsers_and_app_agents_are_not_bots(name):
    row = classify(parse_agents([UA[name]]), 8).row(0, named=True)
    assert (row["bot_kind"], row["bot_pattern"]) == (None, None)


def _logins():
    return pl.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u3", "u3"],
        "ts": [at(0), at(5), at(9), at(1), at(2), at(3)],
        "event": ["login", "login", "payment", "login", "login", "payment"],
        "user_agent": ["curl/8.4.0", "curl/8.4.0", "curl/8.4.0", UA["android"], None, None],
        "device_id": [None, "d9", None, "d2", None, None], "ip": ["1.2.3.4", "1.2.3.5", None, None, None, None],
    })


def test_bot_agent_fires_once_per_user_and_agent():
    df = run(bot_agent, logins=_logins())
    assert df["user_id"].to_list() == ["u1", "u3"]
    r = df.row(0, named=True)
    assert (r["points"], r["severity"], r["first_ts"], r["last_ts"], r["device_id"], r["ip"]) == (
        -60, "high", at(0), at(9), "d9", "1.2.3.4")
    assert ev(df, 0) == {"user_agent": "curl/8.4.0", "kind": "cli client", "pattern": "curl", "events": 3,
                         "first_seen": iso(0), "last_seen": iso(9)}
    # A missing agent counts on the login only, not on the payment.
    assert ev(df, 1)["pattern"] == "missing user agent" and ev(df, 1)["events"] == 1


def test_bot_agent_quiet_for_browsers_and_without_flag_empty(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."device.bot_agent"]\nflag_empty = false\n')
    logins = _logins().filter(pl.col("user_id") != "u1")
    df = bot_agent(make_ctx(load_config(cfg_file), logins=logins)).collect()
    assert df.height == 0


def test_bot_agent_not_evaluated_without_any_user_agent():
    with pytest.raises(NotEvaluated):
        run(bot_agent, logins=pl.DataFrame({"user_id": ["u1"], "ts": [at(0)]}))


def test_bot_agent_is_order_independent():
    a = run(bot_agent, logins=_logins())
    b = run(bot_agent, logins=_logins().reverse())
    assert a.equals(b)
