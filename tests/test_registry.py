"""Contract tests over every registered check: columns, dtypes, rule ids, quiet on clean data."""
from datetime import timedelta

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.registry import NotEvaluated, all_checks
from fraud.schema import CHECK_COLUMNS
from tests.conftest import T0

CHECKS = all_checks()
# Checks that rank a population against itself flag its top share whatever the data.
RANKING = {"behavior.outlier"}


def clean_ctx() -> ScanContext:
    """Four ordinary users over 40 days: one phone each, logins from home in the evening, pings at home at night
    and at work in the day, an occasional small payment; nothing any rule should flag."""
    users = ["u1", "u2", "u3", "u4"]
    home = {"u1": (31.2304, 121.4737), "u2": (31.2200, 121.4500), "u3": (39.9042, 116.4074), "u4": (39.9100, 116.4200)}
    work = {u: (la + 0.03, lo + 0.03) for u, (la, lo) in home.items()}
    ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
    logins, pings, devices = [], [], []
    for i, u in enumerate(users):
        city = "Shanghai" if home[u][0] < 35 else "Beijing"
        for d in range(40):
            day = T0.replace(hour=0) + timedelta(days=d)  # 08:00 Shanghai = 00:00 UTC
            t = day + timedelta(hours=12, minutes=7 * i)  # 20:xx local
            logins.append((t, u, "login", True, f"203.0.113.{i + 1}", ua, f"dev-{u}", *home[u], "CN", city, None))
            if d % 7 == 3:
                logins.append((t + timedelta(minutes=5), u, "payment", True, f"203.0.113.{i + 1}", ua, f"dev-{u}",
                               *home[u], "CN", city, 35.0 + d))
            for h in (15, 17, 19):  # 23:00, 01:00, 03:00 local
                pings.append((day + timedelta(hours=h, minutes=i), u, home[u][0], home[u][1], 20.0))
            if (day + timedelta(hours=8)).weekday() < 5:
                for h in (2, 4, 6):  # 10:00, 12:00, 14:00 local
                    pings.append((day + timedelta(hours=h, minutes=i), u, work[u][0], work[u][1], 20.0))
        devices.append((T0, f"dev-{u}", u, f"35{i}000000000000", f"02:00:00:00:00:0{i}", f"uuid-{i}", "iPhone14,2",
                        "iOS", "17.5", False, False, False, False))
    lcols = ["ts", "user_id", "event", "success", "ip", "user_agent", "device_id", "lat", "lon", "country", "city",
             "amount"]
    dcols = ["ts", "device_id", "user_id", "imei", "mac", "hw_uuid", "model", "os", "os_version", "is_emulator",
             "is_rooted", "has_hook", "device_lock"]
    return ScanContext.from_frames(
        load_config(),
        logins=pl.DataFrame(logins, schema=lcols, orient="row"),
        locations=pl.DataFrame(pings, schema=["ts", "user_id", "lat", "lon", "accuracy_m"], orient="row"),
        devices=pl.DataFrame(devices, schema=dcols, orient="row"),
        scores=pl.DataFrame({"user_id": users, "score": [600, 650, 700, 720]}),
    )


def test_registry_covers_every_rule_once():
    emitted = [r for c in CHECKS for r in c.rules]
    assert len(emitted) == len(set(emitted)), "a rule id is emitted by two checks"
    assert set(emitted) <= set(load_config().rules)


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_check_contract_and_quiet_on_clean_data(check):
    ctx = clean_ctx()
    try:
        out = check.fn(ctx)
    except NotEvaluated:
        pytest.skip("check says it cannot evaluate these inputs")
    assert isinstance(out, pl.LazyFrame)
    df = out.collect()
    assert dict(df.schema) == CHECK_COLUMNS
    assert set(df["rule"]) <= set(check.rules)
    if check.name not in RANKING:
        assert df.height == 0, df.select("user_id", "rule", "summary").to_dicts()


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_check_on_empty_inputs(check):
    ctx = ScanContext.from_frames(load_config(), logins=pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"),
                                                                             "user_id": pl.String}))
    try:
        df = check.fn(ctx).collect()
    except NotEvaluated:
        return
    assert df.height == 0 and dict(df.schema) == CHECK_COLUMNS


def test_every_check_declares_the_rows_it_needs_together():
    from fraud.registry import KEYS, all_checks, register

    by_key = {k: sorted(c.name for c in all_checks() if c.key == k) for k in KEYS}
    assert by_key["device"] == ["device.emulator", "device.id_conflict", "device.lock_enabled", "device.rooted",
                                "device.shared", "device.ua_mismatch"]
    assert by_key["ip"] == ["ip.spray"] and by_key["population"] == ["behavior.outlier"]
    assert all(c.gather is not None for c in all_checks() if c.key == "population")
    with pytest.raises(ValueError, match="unknown key 'account'"):
        register("x.y", rules="x.y", family="fingerprint", key="account")
    with pytest.raises(ValueError, match="names what it gathers"):
        register("x.y", rules="x.y", family="behavior", key="population")


def test_checks_that_need_a_column_the_logins_do_not_give_are_not_evaluated(tmp_path):
    """A logins file without success, ip or event columns reads every event as a successful login: the checks
    that look for failures, IPs or password changes cannot tell anything, so they say so instead of "clean"
    (in memory and in slices alike)."""
    from fraud.pipeline import ScanInputs, scan

    rows = "".join(f"2024-03-0{d}T08:00:00Z,u{u},d{u}\n" for d in range(1, 8) for u in range(3))
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id\n" + rows)
    for shards in (1, 2):
        checks = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards).summary["checks"]
        assert {n: checks[n].get("reason") for n in ("account.login_failures", "ip.spray", "account.password_churn",
                                                     "device.new_device_sensitive", "geo.cross_border_spend")} == {
            "account.login_failures": "no logins row has a value in the success column",
            "ip.spray": "no logins row has a value in the success or ip columns",
            "account.password_churn": "no logins row has a value in the event column",
            "device.new_device_sensitive": "no logins row has a value in the event column",
            "geo.cross_border_spend": "no logins row has a value in the event or amount columns"}, shards
        assert checks["device.many_devices"]["status"] == "ok"


def test_summary_checks_are_rules_and_stage_counts_are_notes(tmp_path):
    """Every entry of summary.json's ``checks`` is a rule with a status; the counts of shared stages that are no
    rule (positions, user agents) are under ``notes`` (they made the report say "3 not evaluated or disabled" on
    a scan where every rule ran)."""
    from fraud.config import rule_ids
    from fraud.pipeline import ScanInputs, scan

    rows = "".join(f"2024-03-0{d}T08:00:00Z,u{u},d{u},Mozilla/5.0,0,0\n" for d in range(1, 8) for u in range(3))
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id,user_agent,lat,lon\n" + rows)
    for shards in (1, 2):
        s = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards).summary
        assert set(s["checks"]) <= rule_ids() and all("status" in v for v in s["checks"].values()), shards
        assert s["notes"]["geo.positions"]["positions_0_0_ignored"] == 21
        assert "fingerprint.user_agents" in s["notes"]


def test_a_column_whose_every_cell_is_blank_gives_nothing(tmp_path):
    """An export with success, ip, event and amount columns left empty in every row reads as the file without
    them: the checks that need them are not evaluated ("ok, 0 findings" called the accounts clean), in memory and
    in slices; one value in one row makes the column given again."""
    from fraud.pipeline import ScanInputs, scan

    rows = "".join(f"2024-03-0{d}T08:00:00Z,u{u},d{u},,,,\n" for d in range(1, 8) for u in range(3))
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id,success,ip,event,amount\n" + rows)
    for shards in (1, 2):
        checks = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards).summary["checks"]
        assert {n: checks[n].get("reason") for n in ("account.login_failures", "ip.spray",
                                                     "account.password_churn")} == {
            "account.login_failures": "no logins row has a value in the success column",
            "ip.spray": "no logins row has a value in the success or ip columns",
            "account.password_churn": "no logins row has a value in the event column"}, shards
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id,success,ip,event,amount\n" + rows
                                         + "2024-03-08T08:00:00Z,u0,d0,false,1.2.3.4,login,\n")
    checks = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1).summary["checks"]
    assert [checks[n]["status"] for n in ("account.login_failures", "ip.spray")] == ["ok", "ok"]
    # the event column is given again; it holds no password change, which the rule says instead of "ok"
    assert checks["account.password_churn"] == {"status": "not evaluated",
                                                "reason": "no password_change events in the logins"}


def test_checks_say_not_evaluated_when_every_row_was_rejected(tmp_path):
    from fraud.pipeline import ScanInputs, scan

    (tmp_path / "logins.csv").write_text("ts,user_id,event,success,ip\nyesterday,u1,login,false,1.2.3.4\n")
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.rejected.height == 1
    st = res.summary["checks"]["account.login_failures"]
    assert st == {"status": "not evaluated", "reason": "no logins rows to read"}
