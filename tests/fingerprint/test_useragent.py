import polars as pl

from fraud.fingerprint.useragent import AGENT_SCHEMA, agent_table, parse_agents, parse_one, with_agents
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
