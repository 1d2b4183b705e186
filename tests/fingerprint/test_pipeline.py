"""All fingerprint checks together through the pipeline: every rule fires on one small data set, the result
does not depend on row order, and a logins-only scan marks device checks "not evaluated"."""
import polars as pl

from fraud.pipeline import run_checks
from tests.conftest import at, make_ctx
from tests.fingerprint.conftest import UA

RULES = {"device.bot_agent", "device.emulator", "device.rooted", "device.id_conflict", "device.ua_mismatch",
         "device.many_devices", "device.shared", "device.new_device_sensitive", "account.password_churn",
         "account.login_failures", "ip.spray", "device.stable_main", "device.lock_enabled"}


def _data():
    rows = [("u1", at(days=d), "login", True, UA["android"], "d1", "1.1.1.1") for d in range(0, 400, 20)]
    rows += [("u1", at(days=401), "login", True, UA["windows"], "d1", "1.1.1.1"),
             ("u1", at(days=401, minutes=5), "password_change", True, UA["windows"], "d1", "1.1.1.1")]
    rows += [("u2", at(days=d), "login", True, UA["android"], f"m{d}", None) for d in range(4)]
    rows += [(f"f{i}", at(days=1, minutes=i), "login", True, UA["android"], "farm", None) for i in range(6)]
    rows += [("u3", at(days=3, minutes=m), "login", False, "python-requests/2.31.0", None, "6.6.6.6")
             for m in range(5)] + [("u3", at(days=3, minutes=8), "login", True, "python-requests/2.31.0", "d3",
                                    "6.6.6.6")]  # the script gets in: its failures count for nothing, its success does
    rows += [(f"v{i}", at(days=5, minutes=i), "login", False, UA["windows"], None, "7.7.7.7") for i in range(10)]
    rows += [("u4", at(days=d), "password_change", True, UA["iphone"], "d4", None) for d in (1, 2, 3)]
    rows += [("u5", at(days=d), "login", True, UA["android"], "d5", None) for d in range(8)]
    rows += [("u5", at(days=9), "login", True, UA["android"], "d6", None),
             ("u5", at(days=9, minutes=3), "withdraw", True, UA["android"], "d6", None)]
    logins = pl.DataFrame(rows, schema=["user_id", "ts", "event", "success", "user_agent", "device_id", "ip"],
                          orient="row")
    devices = pl.DataFrame({
        "ts": [at(0), at(1), at(2), at(3)], "device_id": ["d1", "d1", "d5", "d6"], "user_id": ["u1", "u1", "u5", "u5"],
        "os": ["Android", "Android", "Android", "Android"], "imei": ["1", "1", "2", "3"], "mac": [None, None, "a", "b"],
        "model": ["SM-S911B", "SM-S911B", "sdk_gphone64_x86_64", "SM-A546B"],
        "is_emulator": [False, False, True, False], "is_rooted": [False, False, False, True],
        "has_hook": [False, False, False, False], "device_lock": [True, True, False, True]})
    devices = pl.concat([devices, pl.DataFrame({"ts": [at(9)], "device_id": ["d6"], "user_id": ["u5"],
                                                "os": ["iOS"], "imei": ["4"]})], how="diagonal")
    return logins, devices


def test_every_fingerprint_rule_fires_through_the_pipeline(cfg):
    logins, devices = _data()
    findings, status = run_checks(make_ctx(cfg, logins=logins, devices=devices))
    fp = findings.filter(pl.col("family") == "fingerprint")
    assert set(fp["rule"]) == RULES
    by_rule = {r: sorted(set(fp.filter(pl.col("rule") == r)["user_id"].fill_null("-"))) for r in RULES}
    assert by_rule["device.shared"] == [f"f{i}" for i in range(6)]
    assert by_rule["ip.spray"] == ["-"] and by_rule["account.login_failures"] == ["u3"]
    assert by_rule["device.stable_main"] == ["u1"] and by_rule["device.many_devices"] == ["u2"]
    assert by_rule["device.new_device_sensitive"] == ["u5"] and by_rule["device.id_conflict"] == ["u5"]
    reverse = run_checks(make_ctx(cfg, logins=logins.reverse(), devices=devices.reverse()))[0]
    assert findings.equals(reverse)


def test_logins_only_scan_marks_device_checks_not_evaluated(cfg):
    logins, _ = _data()
    _, status = run_checks(make_ctx(cfg, logins=logins.drop("device_id")))
    for name in ("device.rooted", "device.id_conflict", "device.ua_mismatch", "device.lock_enabled",
                 "device.many_devices", "device.shared", "device.stable_main", "device.new_device_sensitive"):
        assert status[name]["status"] == "not evaluated", name
    assert status["device.bot_agent"]["status"] == "ok"
