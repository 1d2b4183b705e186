from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud.config import load_config
from fraud.findings import finalize
from fraud.schema import CHECK_COLUMNS
from fraud.scoring import score_users
from tests.conftest import at


def findings(rows):
    """rows: (user, rule, points, day)"""
    df = pl.DataFrame({
        "user_id": [r[0] for r in rows], "rule": [r[1] for r in rows], "severity": ["low"] * len(rows),
        "points": [r[2] for r in rows], "first_ts": [at(days=r[3]) for r in rows],
        "last_ts": [at(days=r[3]) for r in rows], "device_id": [None] * len(rows), "ip": [None] * len(rows),
        "evidence": ["{}"] * len(rows), "summary": ["s"] * len(rows)}, schema=CHECK_COLUMNS)
    return finalize(df, load_config())


USERS = pl.DataFrame({"user_id": ["a", "b", "c"]})
NO_SCORES = pl.DataFrame(schema={"user_id": pl.String, "score": pl.Int64})


def test_points_count_once_per_rule_window():
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, 0), ("a", "geo.impossible_travel", -30, 5),
                  ("a", "geo.impossible_travel", -30, 31), ("a", "device.lock_enabled", 5, 0),
                  ("b", "behavior.sigma", -5, 0), ("b", "behavior.sigma", -5, 1)])
    s, f2 = score_users(f, USERS, pl.DataFrame({"user_id": ["a"], "score": [700]}), cfg)
    got = {r["user_id"]: (r["score_before"], r["penalty"], r["bonus"], r["score_after"], r["n_findings"],
                          r["top_rule"], r["tier_before"], r["tier_after"]) for r in s.iter_rows(named=True)}
    assert got == {"a": (700, -60, 5, 645, 4, "geo.impossible_travel", "excellent", "good"),
                   "b": (600, -10, 0, 590, 2, "behavior.sigma", "good", "good"),
                   "c": (600, 0, 0, 600, 0, None, "good", "good")}
    assert f2.filter(pl.col("user_id") == "a").sort("first_ts")["counted"].to_list() == [True, True, False, True]


def test_several_score_rows_of_a_user_take_the_lowest_in_any_order():
    cfg = load_config()
    rows = pl.DataFrame({"user_id": ["a", "a", "b"], "score": [700, 500, 650]})
    got = [score_users(findings([]), USERS, r, cfg)[0].select("user_id", "score_before").rows()
           for r in (rows, rows.reverse())]
    assert got[0] == got[1] == [("a", 500), ("b", 650), ("c", 600)]


def test_users_with_differing_score_rows_are_counted():
    """The lowest of a user's differing scores rows was taken without a word: the scan counts such users (a row
    repeated with the same score is no conflict)."""
    from fraud.scoring import conflicting_scores

    rows = pl.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "score": [800, 350, 650, 650, 600]})
    assert conflicting_scores(rows) == 1 and conflicting_scores(rows.filter(pl.col("user_id") != "a")) == 0
    assert conflicting_scores(None) == 0


def test_clamped_to_range():
    cfg = load_config()
    f = findings([("a", r, -100, 0) for r in ("device.emulator", "device.rooted", "device.bot_agent",
                                              "device.id_conflict", "device.shared")])
    s, _ = score_users(f, USERS.head(1), pl.DataFrame({"user_id": ["a"], "score": [320]}), cfg)
    assert s.row(0, named=True)["score_after"] == 300 and s.row(0, named=True)["tier_after"] == "watch"


def test_dismissals_count_nothing_and_giveback_is_capped():
    cfg = load_config()
    f = findings([("a", "device.emulator", -80, 0), ("a", "device.rooted", -50, 0), ("a", "device.shared", -40, 0),
                  ("b", "device.emulator", -80, 0)])
    ids = dict(zip(zip(f["user_id"], f["rule"]), f["finding_id"]))
    dec = pl.DataFrame({"finding_id": [ids[("a", "device.emulator")], ids[("a", "device.rooted")],
                                       ids[("b", "device.emulator")]],
                        "decision": ["dismiss", "dismiss", "confirm"],
                        "decided_at": [at(days=10)] * 3})
    s, f2 = score_users(f, USERS.head(2), pl.DataFrame({"user_id": ["a", "b"], "score": [400, 700]}), cfg, dec)
    a, b = s.row(0, named=True), s.row(1, named=True)
    # a: raw penalty -170; dismissals would give back 130, capped at 15% of 400 = 60
    assert (a["penalty"], a["score_after"]) == (-110, 300)  # 400 - 110 = 290, clamped
    assert a["observation_until"] == at(days=55)
    assert (b["penalty"], b["score_after"], b["observation_until"]) == (-80, 620, None)
    assert f2.filter(pl.col("user_id") == "a").sort("rule")["decision"].to_list() == ["dismiss", "dismiss", None]
    assert (a["top_rule"], b["top_rule"]) == ("device.shared", "device.emulator")


def test_observation_follows_dismissals_that_gave_points_back_only():
    """Contract section 4: a user whose dismissals give points back is under observation. Dismissing a bonus (b),
    or a penalty its rule's window had not counted anyway (c: the second emulator finding of the window), gives
    nothing back: no observation. The decision's reviewer and note stay on the finding (the review trail)."""
    cfg = load_config()
    f = findings([("a", "device.emulator", -80, 0), ("b", "device.lock_enabled", 5, 0),
                  ("c", "device.emulator", -80, 0), ("c", "device.emulator", -80, 1)])
    ids = f.sort("user_id", "first_ts")["finding_id"].to_list()
    dec = pl.DataFrame({"finding_id": ids[:2] + ids[3:], "decision": ["dismiss"] * 3,
                        "decided_at": [at(days=10), at(days=11), at(days=12)],
                        "reviewer": ["ana", "bo", "cy"], "note": ["known traveller", None, "dup"]})
    s, f2 = score_users(f, USERS, NO_SCORES, cfg, dec)
    got = {r["user_id"]: (r["penalty"], r["bonus"], r["observation_until"]) for r in s.iter_rows(named=True)}
    assert got == {"a": (0, 0, at(days=55)), "b": (0, 0, None), "c": (-80, 0, None)}
    # dismissing the counted one of two equal findings in a window: the other counts instead, nothing comes back
    # (the bot finding's dismissal did: the observation runs from it, not from the later, empty one)
    fd = findings([("d", "device.bot_agent", -60, 0), ("d", "device.emulator", -80, 0),
                   ("d", "device.emulator", -80, 1)])
    sd, fd2 = score_users(fd, pl.DataFrame({"user_id": ["d"]}), NO_SCORES, cfg, pl.DataFrame({
        "finding_id": fd.sort("rule", "first_ts")["finding_id"].to_list()[:2], "decision": ["dismiss"] * 2,
        "decided_at": [at(days=10), at(days=40)]}))
    assert sd.select("penalty", "observation_until").row(0) == (-80, at(days=55))
    assert fd2.sort("rule", "first_ts")["counted"].to_list() == [False, False, True]
    trail = f2.sort("user_id", "first_ts").select("decision", "decided_at", "reviewer", "note").rows()
    assert trail == [("dismiss", at(days=10), "ana", "known traveller"), ("dismiss", at(days=11), "bo", None),
                     (None, None, None, None), ("dismiss", at(days=12), "cy", "dup")]


def test_a_penalty_left_by_the_dismissal_cap_names_its_rule():
    """The only finding (-100) is dismissed; 15% of 622 = 93 comes back, the -7 left is the emulator's."""
    cfg = load_config()
    f = findings([("a", "device.emulator", -100, 0)])
    dec = pl.DataFrame({"finding_id": f["finding_id"], "decision": ["dismiss"], "decided_at": [at(days=1)]})
    s, _ = score_users(f, USERS.head(1), pl.DataFrame({"user_id": ["a"], "score": [622]}), cfg, dec)
    r = s.row(0, named=True)
    assert (r["penalty"], r["score_after"], r["top_rule"]) == (-7, 615, "device.emulator")
    s, _ = score_users(f, USERS.head(1), pl.DataFrame({"user_id": ["a"], "score": [700]}), cfg, dec)
    assert (s["penalty"][0], s["top_rule"][0]) == (0, None)  # 105 may come back: all of it, no rule left


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.sampled_from(["geo.impossible_travel", "device.emulator", "device.stable_main",
                                           "behavior.sigma", "device.lock_enabled"]),
                          st.integers(-120, 60), st.integers(0, 90)), max_size=25),
       st.lists(st.integers(300, 850), min_size=3, max_size=3))
def test_score_invariants(rows, before):
    cfg = load_config()
    s, _ = score_users(findings(rows), USERS, pl.DataFrame({"user_id": ["a", "b", "c"], "score": before}), cfg)
    for r in s.iter_rows(named=True):
        assert r["score_after"] == min(850, max(300, r["score_before"] + r["penalty"] + r["bonus"]))
        assert r["penalty"] <= 0 <= r["bonus"]
        for t, key in (("tier_before", "score_before"), ("tier_after", "score_after")):
            assert [n for n, lo, hi in cfg.tier_bands() if lo <= r[key] <= hi] == [r[t]]


@pytest.mark.parametrize("days, counted", [(29, 1), (30, 2)])
def test_window_boundary(days, counted):
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, 0), ("a", "geo.impossible_travel", -30, days)])
    s, f2 = score_users(f, USERS.head(1), NO_SCORES, cfg)
    assert int(f2["counted"].sum()) == counted and s["penalty"][0] == -30 * counted
    assert timedelta(days=days)


def test_lock_bonus_counts_per_device():
    cfg = load_config()
    df = pl.DataFrame({
        "user_id": ["a"] * 3, "rule": ["device.lock_enabled"] * 3, "severity": ["info"] * 3, "points": [5] * 3,
        "first_ts": [at()] * 3, "last_ts": [at()] * 3, "device_id": ["d1", "d2", "d3"], "ip": [None] * 3,
        "evidence": ["{}"] * 3, "summary": ["s"] * 3}, schema=CHECK_COLUMNS)
    s, _ = score_users(finalize(df, cfg), USERS.head(1), NO_SCORES, cfg)
    assert s["bonus"].to_list() == [15]


def _decide(f, decisions):
    """decisions: (day, decision) on user a's impossible-travel findings."""
    by_day = {int((t - at()).days): i for t, i in zip(f["first_ts"], f["finding_id"])}
    return pl.DataFrame({"finding_id": [by_day[d] for d, _ in decisions], "decision": [x for _, x in decisions],
                         "decided_at": [at(days=100)] * len(decisions)})


def test_decisions_never_move_the_windows():
    """Findings on days 0, 5, 62, 70 (30-day windows from day 0: [0, 5], [62, 70]). Dismissing day 0 lets day 5
    count in its window; the windows stay put, so the penalty cannot grow (it did: -60 -> -90)."""
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, d) for d in (0, 5, 62, 70)])
    s, f2 = score_users(f, USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == -60
    s, f2 = score_users(f, USERS.head(1), NO_SCORES, cfg, _decide(f, [(0, "dismiss")]))
    assert s["penalty"][0] == -60
    assert f2.sort("first_ts")["counted"].to_list() == [False, True, True, False]


def test_a_confirmed_finding_counts_in_its_window():
    """Days 0, 25, 35: windows [0, 25], [35]. Dismissing day 0 and confirming day 35 keeps day 35 counted (it lost
    its place to day 25 when the windows moved to start at day 25)."""
    cfg = load_config()
    f = findings([("a", "geo.impossible_travel", -30, d) for d in (0, 25, 35)])
    s, f2 = score_users(f, USERS.head(1), NO_SCORES, cfg, _decide(f, [(0, "dismiss"), (35, "confirm")]))
    assert f2.sort("first_ts")["counted"].to_list() == [False, True, True] and s["penalty"][0] == -60
    # of two equal findings in one window, the confirmed one is the counted one
    f = findings([("a", "geo.impossible_travel", -30, d) for d in (0, 3)])
    _, f2 = score_users(f, USERS.head(1), NO_SCORES, cfg, _decide(f, [(3, "confirm")]))
    assert f2.sort("first_ts")["counted"].to_list() == [False, True]


def test_day_windows_are_the_users_local_days():
    """behavior.sigma counts once per day: two flagged days count twice however early the second day's first
    event (08:00 after 09:00 the day before: 23 h apart). In the user's zone: 10:00 and 07:30 the next morning in
    Shanghai are one UTC day (02:00Z and 23:30Z) but two local days."""
    cfg = load_config()
    rows = [("a", "behavior.sigma", -5, 0 + 9 / 24), ("a", "behavior.sigma", -5, 1 + 8 / 24)]
    s, _ = score_users(findings(rows), USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == -10
    shanghai = findings([("a", "behavior.sigma", -5, 18 / 24), ("a", "behavior.sigma", -5, 39.5 / 24)])
    s, _ = score_users(shanghai, USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == -5
    zones = pl.DataFrame({"user_id": ["a"], "timezone": ["Asia/Shanghai"]})
    s, _ = score_users(shanghai, USERS.head(1), NO_SCORES, cfg, zones=zones)
    assert s["penalty"][0] == -10


@pytest.mark.parametrize("rule", ["geo.remote_logins", "geo.away_from_home"])
def test_monthly_rules_count_once_per_local_calendar_month(rule, tmp_path):
    """A monthly rule's window is its calendar month: findings for March (first event Mar 24) and April (Apr 6, 13
    days later) both count, where a 30-day window from the first finding counted one of them; two in one month count
    once. The month is the user's local one: Mar 31 20:00 UTC is April 1 in Shanghai."""
    cfg = load_config()
    pts = cfg.rule(rule).points
    # at(days=20) is 2024-03-24 08:00 UTC, at(days=33) 2024-04-06, at(days=27.5) 2024-03-31 20:00 UTC
    s, f2 = score_users(findings([("a", rule, pts, 20), ("a", rule, pts, 33)]), USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == 2 * pts and f2["counted"].to_list() == [True, True]
    s, _ = score_users(findings([("a", rule, pts, 20), ("a", rule, pts, 25)]), USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == pts
    late = findings([("a", rule, pts, 27.5), ("a", rule, pts, 33)])
    s, _ = score_users(late, USERS.head(1), NO_SCORES, cfg)
    assert s["penalty"][0] == 2 * pts
    zones = pl.DataFrame({"user_id": ["a"], "timezone": ["Asia/Shanghai"]})
    s, _ = score_users(late, USERS.head(1), NO_SCORES, cfg, zones=zones)
    assert s["penalty"][0] == pts
    # the setting off: window_days (30) from the first finding, as every other rule
    p = tmp_path / "c.toml"
    p.write_text(f'[rules."{rule}"]\ncalendar_month_windows = false\n')
    s, _ = score_users(findings([("a", rule, pts, 20), ("a", rule, pts, 33)]), USERS.head(1), NO_SCORES,
                       load_config(p))
    assert s["penalty"][0] == pts
