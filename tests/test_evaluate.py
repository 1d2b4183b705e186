"""fraud.evaluate: precision and recall per rule against a labels file."""
import polars as pl
import pytest

from fraud.errors import InputError
from fraud.evaluate import evaluate, load_labels


def _findings(rows):
    """rows: (user_id, rule, ip)"""
    return pl.DataFrame({"user_id": [r[0] for r in rows], "rule": [r[1] for r in rows], "ip": [r[2] for r in rows]},
                        schema={"user_id": pl.String, "rule": pl.String, "ip": pl.String})


def test_ip_rule_labels_without_ips_judge_whether_the_rule_fired(tmp_path):
    """The contract's two-column labels cannot name an IP: an ip.spray row with an empty user_id is a label that
    the rule fires, not a label to drop (which made every IP-only finding a false positive)."""
    p = tmp_path / "labels.csv"
    p.write_text("user_id,rule\nu1,geo.impossible_travel\n,ip.spray\n")
    found = _findings([("u1", "geo.impossible_travel", None), (None, "ip.spray", "6.6.6.6"),
                       (None, "ip.spray", "7.7.7.7")])
    res = evaluate(found, load_labels(p))
    assert res["rules"]["ip.spray"] == {"labelled": 1, "flagged": 1, "tp": 1, "fp": 0, "fn": 0, "precision": 1.0,
                                        "recall": 1.0}
    assert res["micro"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    quiet = evaluate(found.head(1), load_labels(p))["rules"]["ip.spray"]
    assert (quiet["tp"], quiet["fn"], quiet["recall"]) == (0, 1, 0.0)
    # with an ip column the IPs are compared
    p.write_text("user_id,rule,ip\n,ip.spray,6.6.6.6\n")
    assert evaluate(found, load_labels(p))["rules"]["ip.spray"]["fp"] == 1


def test_labels_are_trimmed_and_unknown_rules_are_errors(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("user_id,rule\n u1 , geo.impossible_travel \n")
    res = evaluate(_findings([("u1", "geo.impossible_travel", None)]), load_labels(p))
    assert res["rules"]["geo.impossible_travel"]["tp"] == 1
    p.write_text("user_id,rule\nu1,geo.impossible_travel\nu2,geo.impossible_travell\n")
    with pytest.raises(InputError, match=r"labels.csv: row 2: unknown rule 'geo.impossible_travell' in column 'rule'"):
        load_labels(p)


def test_a_label_without_rule_or_without_its_user_is_an_error_naming_its_row(tmp_path):
    """An empty rule cell crashed the evaluation (a traceback: None among the rule names); an account rule labelled
    without its user was dropped silently. ip.spray may name no user (see above)."""
    p = tmp_path / "labels.csv"
    p.write_text("user_id,rule\nu1,device.bot_agent\nu2,\n")
    with pytest.raises(InputError, match=r"labels.csv: row 2: no rule in column 'rule'"):
        load_labels(p)
    p.write_text("user_id,rule\nu1,device.bot_agent\n ,device.rooted\n,ip.spray\n")
    with pytest.raises(InputError, match=r"labels.csv: row 2: no user_id for the account rule 'device.rooted'"):
        load_labels(p)


def test_the_micro_average_covers_the_rules_the_labels_name(tmp_path):
    """An analyst's labels of two fraud cases: the device-lock bonus (never labelled) fired on 3 users. Its flags
    are listed per rule but are no false positives of the average (precision 2/5 before)."""
    p = tmp_path / "labels.csv"
    p.write_text("user_id,rule\nu1,device.bot_agent\nu2,account.login_failures\n")
    found = _findings([("u1", "device.bot_agent", None), ("u2", "account.login_failures", None),
                       *[(f"u{i}", "device.lock_enabled", None) for i in (1, 3, 4)]])
    res = evaluate(found, load_labels(p))
    assert res["micro"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert res["rules"]["device.lock_enabled"]["fp"] == 3 and res["rules_without_labels"] == ["device.lock_enabled"]
    # a labelled rule's false positives still count
    res = evaluate(found.vstack(_findings([("u9", "device.bot_agent", None)])), load_labels(p))
    assert (res["micro"]["fp"], res["micro"]["precision"]) == (1, 0.6667)


def test_a_rule_the_scan_did_not_evaluate_is_said_so_not_scored_as_missed(tmp_path):
    """Labels for geo.impossible_travel on a scan that had no positions: recall 0 and a lower micro recall read as
    the detector missing them. The scan's status marks the rule and keeps its labels out of the average."""
    p = tmp_path / "labels.csv"
    p.write_text("user_id,rule\nu1,device.bot_agent\nu2,geo.impossible_travel\n")
    found = _findings([("u1", "device.bot_agent", None)])
    checks = {"device.bot_agent": {"status": "ok", "findings": 1},
              "geo.impossible_travel": {"status": "not evaluated", "reason": "no event or ping has a position"}}
    res = evaluate(found, load_labels(p), checks)
    assert res["micro"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert res["rules_not_evaluated"] == ["geo.impossible_travel"]
    assert res["rules"]["geo.impossible_travel"]["not_evaluated"] == "no event or ping has a position"
    assert res["rules"]["geo.impossible_travel"]["fn"] == 1  # the count itself stays
    # without the scan's statuses (an old out folder) every labelled rule counts, as before
    assert evaluate(found, load_labels(p))["micro"]["recall"] == 0.5
