import polars as pl
import pytest

from fraud.composite import composite_scores
from fraud.config import load_config
from fraud.errors import InputError
from fraud.pipeline import ScanInputs, scan
from fraud.scoring import score_users
from tests.test_scoring import USERS, findings

DIMS = {"payment": [80.0, None], "social": [70.0, None], "consumption": [60.0, None], "location": [60.0, None],
        "device": [40.0, None], "complaints": [90.0, None]}


def test_dimensions_move_and_clamp():
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, 0), ("a", "device.id_conflict", -40, 0),
                  ("a", "behavior.sigma", -5, 0), ("b", "geo.impossible_travel", -30, 0)])
    scores_in = pl.DataFrame({"user_id": ["a", "b"], "score": [700, 650], **DIMS})
    plain, fc = score_users(f, USERS.head(2), scores_in, cfg)
    s = composite_scores(plain, fc, scores_in, cfg)
    a, b = s.row(0, named=True), s.row(1, named=True)
    # 300 + 550 * (.4*80 + .25*70 + .18*60 + .1*60 + .05*40 + .02*90) / 100 = 685.55
    assert a["score_before"] == 686 and a["composite"] is True
    # location 60 - 30/0.55 = 5.45 (no clamp: -30); device 40 - 40/0.275 < 0 -> clamps at 0: only -11 reach it
    assert (a["location_after"], a["device_after"]) == (5.45, 0.0)
    assert (a["penalty"], a["bonus"], a["score_after"], a["tier_after"]) == (-46, 0, 640, "good")
    assert (b["score_before"], b["penalty"], b["score_after"], b["composite"]) == (650, -30, 620, False)


def test_composite_needs_sub_scores(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id\n2024-01-01T00:00:00Z,u1\n")
    (d / "scores.csv").write_text("user_id,score\nu1,700\n")
    with pytest.raises(InputError, match="--composite needs a scores input with the columns payment"):
        scan(ScanInputs.from_folder(d), load_config(), composite=True)
    (d / "scores.csv").write_text("user_id,score,payment,social,consumption,location,device,complaints\n"
                                  "u1,700,50,50,50,50,50,50\n")
    res = scan(ScanInputs.from_folder(d), load_config(), composite=True)
    assert res.scores.select("score_before", "score_after", "composite").row(0) == (575, 575, True)


def test_several_complete_rows_of_a_user_take_the_lowest_total_in_any_order():
    cfg = load_config()
    f = findings([("a", "behavior.sigma", -5, 0)])
    high = {"payment": 90.0, "social": 80.0, "consumption": 70.0, "location": 60.0, "device": 50.0, "complaints": 40.0}
    low = dict.fromkeys(high, 20.0)
    part = {d: None for d in high}  # an incomplete row is no candidate however low
    rows = [{"user_id": "a", "score": 700, **high}, {"user_id": "a", "score": 650, **low},
            {"user_id": "a", "score": 300, **part}]
    got = []
    for order in (rows, rows[::-1]):
        scores_in = pl.DataFrame(order, schema_overrides=dict.fromkeys(high, pl.Float64))
        plain, fc = score_users(f, USERS.head(1), scores_in, cfg)
        got.append(composite_scores(plain, fc, scores_in, cfg).select("score_before", "score_after").row(0))
    # 300 + 550 * 20 / 100 = 410 (the all-20 row), whichever row the input lists last
    assert got == [(410, 405), (410, 405)]


def test_dismissals_give_back_at_most_the_cap_in_composite_mode_too():
    """Location 100, every other sub-score 0: score_before 300 + 550 * 0.1 = 355, whose 15% cap is 53. Four
    dismissed findings worth 80 points (geo -50 on the location sub-score, behaviour -30 on the total): 53 come
    back, 27 stay (328). All 80 came back before (355). Dismissing one 10-point finding gives back all 10."""
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, 0), ("a", "geo.cross_border_spend", -20, 0),
                  ("a", "behavior.repeated", -20, 0), ("a", "behavior.outlier", -10, 0)])
    dims = {"payment": 0.0, "social": 0.0, "consumption": 0.0, "location": 100.0, "device": 0.0, "complaints": 0.0}
    scores_in = pl.DataFrame([{"user_id": "a", "score": 500, **dims}])

    def dismiss(ids):
        return pl.DataFrame({"finding_id": ids, "decision": ["dismiss"] * len(ids),
                             "decided_at": [f["first_ts"][0]] * len(ids)})

    plain, fc = score_users(f, USERS.head(1), scores_in, cfg, dismiss(f["finding_id"]))
    s = composite_scores(plain, fc, scores_in, cfg).row(0, named=True)
    assert (s["score_before"], s["penalty"], s["score_after"], s["top_rule"]) == (355, -27, 328,
                                                                                  "geo.impossible_travel")
    plain, fc = score_users(f, USERS.head(1), scores_in, cfg)
    assert composite_scores(plain, fc, scores_in, cfg)["penalty"][0] == -80
    outlier = f.filter(pl.col("rule") == "behavior.outlier")["finding_id"]
    plain, fc = score_users(f, USERS.head(1), scores_in, cfg, dismiss(outlier))
    assert composite_scores(plain, fc, scores_in, cfg)["penalty"][0] == -70


def test_no_penalty_left_names_no_top_rule():
    """Device 40: -40 and -50 reach the total only as the 11 points the sub-score has; both dismissed, all 11
    come back (under the cap) and the user has no top rule (it still named device.rooted)."""
    cfg = load_config()
    f = findings([("a", "device.id_conflict", -40, 0), ("a", "device.rooted", -50, 0)])
    dims = {"payment": 30.0, "social": 30.0, "consumption": 30.0, "location": 30.0, "device": 40.0,
            "complaints": 30.0}
    scores_in = pl.DataFrame([{"user_id": "a", "score": 500, **dims}])
    dec = pl.DataFrame({"finding_id": f["finding_id"], "decision": ["dismiss"] * 2,
                        "decided_at": [f["first_ts"][0]] * 2})
    plain, fc = score_users(f, USERS.head(1), scores_in, cfg, dec)
    assert (plain["penalty"][0], plain["top_rule"][0]) == (-15, "device.rooted")  # plain: 90 dismissed, cap 75
    s = composite_scores(plain, fc, scores_in, cfg).row(0, named=True)
    assert (s["score_before"], s["penalty"], s["score_after"], s["top_rule"]) == (468, 0, 468, None)
