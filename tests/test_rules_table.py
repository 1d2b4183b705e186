"""Invariants over the whole default rules table; every offender is listed at once when one fails."""
from fraud.config import SEVERITIES, load_config
from tests.test_config import CONTRACT_RULES

BONUS = {"device.stable_main", "device.lock_enabled", "geo.stable_commute"}
ALERT_ONLY = {"ip.spray"}
# The severity a penalty's size implies (points magnitude -> severity); bonuses are info.
SEVERITY_BANDS = ((80, "critical"), (30, "high"), (15, "medium"), (1, "low"))


def expected_severity(points: int) -> str:
    if points > 0:
        return "info"
    return next(sev for floor, sev in SEVERITY_BANDS if -points >= floor)


def test_every_contract_rule_has_a_row():
    cfg = load_config()
    missing = sorted(set(CONTRACT_RULES) - set(cfg.rules))
    assert not missing, missing


def test_signs_of_points():
    cfg = load_config()
    bad = [f"{rid}: {r.points}" for rid, r in cfg.rules.items()
           if (rid in BONUS and r.points <= 0) or (rid in ALERT_ONLY and r.points != 0)
           or (rid not in BONUS | ALERT_ONLY and r.points >= 0)]
    assert not bad, "points of the wrong sign: " + "; ".join(bad)


def test_severity_agrees_with_penalty_size():
    cfg = load_config()
    bad = [f"{rid}: {r.severity} for {r.points} points (expected {expected_severity(r.points)})"
           for rid, r in cfg.rules.items() if rid not in ALERT_ONLY and r.severity != expected_severity(r.points)]
    assert not bad, "severity out of line with points: " + "; ".join(bad)


def test_point_bands_and_windows_are_sane():
    cfg = load_config()
    em = cfg.rule("device.emulator")
    bad = []
    if not em["points_max"] <= em.points <= em["points_min"] < 0:
        bad.append("device.emulator: points outside its band")
    sm = cfg.rule("device.stable_main")
    if not (sm["long_points"] > sm.points > 0 and sm["long_days"] > sm["min_days"]):
        bad.append("device.stable_main: the long tier must be longer and larger")
    bad += [f"{rid}: window_days {r.window_days}" for rid, r in cfg.rules.items() if r.window_days <= 0]
    bad += [f"{rid}: severity {r.severity}" for rid, r in cfg.rules.items() if r.severity not in SEVERITIES]
    assert not bad, "; ".join(bad)
