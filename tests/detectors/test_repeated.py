import json
from datetime import timedelta

import polars as pl

from fraud.detectors.sigma import sigma
from tests.detectors.helpers import T0, ctx_of, daily_logins


def _repeated(counts):
    out = sigma(ctx_of(daily_logins(counts))).collect()
    return out.filter(pl.col("rule") == "behavior.repeated"), out.filter(pl.col("rule") == "behavior.sigma")


def test_three_consecutive_flagged_days_fire_once():
    rep, sig = _repeated([2] * 10 + [14, 14, 14])
    assert sig.height == 3 and rep.height == 1
    r = rep.row(0, named=True)
    assert (r["points"], r["severity"]) == (-20, "medium")
    assert r["first_ts"] == T0 + timedelta(days=10) and r["last_ts"] == T0 + timedelta(days=12, minutes=13)
    assert json.loads(r["evidence"]) == {"days": ["2024-03-11", "2024-03-12", "2024-03-13"], "consecutive_days": 3,
                                         "min_consecutive_days": 3, "features": ["events", "logins"]}
    assert r["summary"] == ("Behaviour outside the user's baseline on 3 consecutive days (2024-03-11 to "
                            "2024-03-13): events, logins")


def test_two_days_or_a_gap_do_not_fire():
    rep, sig = _repeated([2] * 10 + [14, 14])
    assert sig.height == 2 and rep.height == 0
    rep, sig = _repeated([2] * 10 + [14, 14, 2, 14])
    assert sig.height == 3 and rep.height == 0


def test_a_missing_calendar_day_breaks_the_run():
    logins = daily_logins([2] * 10 + [14, 14]) + daily_logins([14], start=T0 + timedelta(days=13))
    out = sigma(ctx_of(logins)).collect()
    assert out.filter(pl.col("rule") == "behavior.sigma").height == 3
    assert out.filter(pl.col("rule") == "behavior.repeated").height == 0


def test_a_longer_run_is_one_finding():
    rep, _ = _repeated([2] * 10 + [14] * 5)
    assert rep.height == 1
    assert json.loads(rep["evidence"][0])["consecutive_days"] == 5


def test_each_rule_of_the_sigma_check_has_its_own_status(tmp_path):
    """The sigma check emits two rules: summary.json's checks count each one's findings (sigma's count held the
    repeated finding too) and say which is disabled."""
    from fraud.config import load_config
    from fraud.pipeline import run_checks
    from tests.detectors.helpers import ctx_of, daily_logins

    findings, status = run_checks(ctx_of(daily_logins([2] * 10 + [14, 14, 14])))
    assert (status["behavior.sigma"]["status"], status["behavior.sigma"]["findings"]) == ("ok", 3)
    assert status["behavior.repeated"] == {"status": "ok", "findings": 1}
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."behavior.sigma"]\nenabled = false\n')
    findings, status = run_checks(ctx_of(daily_logins([2] * 10 + [14, 14, 14]), load_config(cfg_file)))
    assert status["behavior.sigma"]["status"] == "disabled"
    assert status["behavior.repeated"] == {"status": "ok", "findings": 1}
    assert findings.filter(pl.col("rule").str.starts_with("behavior."))["rule"].to_list() == ["behavior.repeated"]


def test_a_disabled_rule_of_a_check_that_cannot_evaluate_says_disabled(tmp_path):
    """The sigma check runs for behavior.repeated alone when behavior.sigma is disabled; when it cannot evaluate
    (no user-day has a baseline yet), repeated is "not evaluated" and sigma stays "disabled" (it read "not
    evaluated" too)."""
    from fraud.config import load_config
    from fraud.pipeline import run_checks
    from tests.detectors.helpers import ctx_of, daily_logins

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."behavior.sigma"]\nenabled = false\n')
    _, status = run_checks(ctx_of(daily_logins([2, 3]), load_config(cfg_file)))
    assert status["behavior.sigma"]["status"] == "disabled"
    assert status["behavior.repeated"]["status"] == "not evaluated"
    assert "baseline days" in status["behavior.repeated"]["reason"]
