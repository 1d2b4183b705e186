import json
import math
import random
from datetime import timedelta

import polars as pl
import pytest

from fraud.config import load_config
from fraud.detectors.features import DAY_FEATURES, user_days
from fraud.detectors.sigma import evaluate, sigma
from fraud.registry import NotEvaluated
from tests.detectors.helpers import T0, ctx_of, daily_logins


def _run(logins, config=None):
    ctx = ctx_of(logins, config)
    out = sigma(ctx).collect()
    return out, ctx.notes["behavior.sigma"]


def _sigma_rows(out):
    return out.filter(pl.col("rule") == "behavior.sigma").sort("first_ts")


def test_planted_spike_fires_with_exact_evidence():
    out, notes = _run(daily_logins([2] * 10 + [12]))
    rows = _sigma_rows(out)
    assert rows.height == 1
    r = rows.row(0, named=True)
    assert r["user_id"] == "u1" and r["points"] == -5 and r["severity"] == "low"
    assert r["first_ts"] == T0 + timedelta(days=10) and r["last_ts"] == T0 + timedelta(days=10, minutes=11)
    ev = json.loads(r["evidence"])
    assert ev == {"day": "2024-03-11", "baseline_days": 10, "baseline": "mean/sd", "z_threshold": 3.0,
                  "features": [
                      {"feature": "events", "value": 12.0, "baseline_mean": 2.0, "baseline_sd": 0.0,
                       "sd_used": 2.8284, "z": 3.54},
                      {"feature": "logins", "value": 12.0, "baseline_mean": 2.0, "baseline_sd": 0.0,
                       "sd_used": 2.8284, "z": 3.54}]}
    assert r["summary"] == ("2 behaviour feature(s) outside this user's 30-day baseline on 2024-03-11: "
                            "events 12 vs 2 ± 2.83 (z=3.54); logins 12 vs 2 ± 2.83 (z=3.54)")
    assert notes["user_days"] == 11 and notes["user_days_not_evaluated"] == 7 and notes["user_days_evaluated"] == 4
    assert notes["user_days_flagged"] == 1 and notes["converged"] is True


def test_flat_history_stays_quiet():
    out, notes = _run(daily_logins([3] * 40))
    assert out.height == 0
    assert notes["user_days_evaluated"] == 33 and notes["user_days_not_evaluated"] == 7
    assert notes["user_days_flagged"] == 0 and notes["exclusion_passes"] == 1


def test_a_quiet_one_event_day_has_no_hour_spread_to_test():
    """Logins at 08, 12, 16, 20 h for 10 days (spread 4.47 h), then one login: one time has no spread, so the
    day is not an outlier on it (it used to be z = -4.47); a day of 4 logins within one hour still is."""
    hours, day0 = [8, 12, 16, 20], T0 - timedelta(hours=12)  # T0 is noon UTC
    rows = [{"ts": day0 + timedelta(days=d, hours=h), "user_id": "u1", "event": "login", "success": True}
            for d in range(10) for h in hours]
    quiet = rows + [{"ts": day0 + timedelta(days=10, hours=10), "user_id": "u1", "event": "login", "success": True}]
    cfg = load_config()
    cfg.rule("behavior.sigma").params["features"] = ["hour_spread_h"]
    out, notes = _run(quiet, cfg)
    assert _sigma_rows(out).height == 0 and notes["feature_tests_skipped_missing"] == 1
    tight = rows + [{"ts": day0 + timedelta(days=10, hours=10, minutes=m), "user_id": "u1", "event": "login",
                     "success": True} for m in (0, 10, 20, 30)]
    out, _ = _run(tight, cfg)
    assert [f["feature"] for f in json.loads(_sigma_rows(out)["evidence"][0])["features"]] == ["hour_spread_h"]


def test_baseline_excludes_the_scored_day():
    # baseline 7 x 2 logins; the day itself (12) would raise the mean to 3.25 if it were counted
    out, _ = _run(daily_logins([2] * 7 + [12]))
    f = json.loads(_sigma_rows(out)["evidence"][0])["features"][0]
    assert (f["baseline_mean"], f["baseline_sd"], f["z"], f["value"]) == (2.0, 0.0, 3.54, 12.0)


def test_fewer_than_min_baseline_days_is_not_evaluated():
    """No user-day has 7 baseline days: the rule (and behavior.repeated, of the same check) is not evaluated,
    never "ok, 0 findings"; the days are counted."""
    ctx = ctx_of(daily_logins([2] * 6 + [50]))
    with pytest.raises(NotEvaluated, match="no user-day has 7 baseline days"):
        sigma(ctx)
    notes = ctx.notes["behavior.sigma"]
    assert notes["user_days_not_evaluated"] == 7 and notes["user_days_evaluated"] == 0


def test_baseline_window_is_30_days_before():
    # 7 active days (days 0..6), then a spike: on day 30 day 0 is still in [d-30, d), on day 31 it is not
    logins = daily_logins([2] * 7) + daily_logins([40], start=T0 + timedelta(days=30))
    out, _ = _run(logins)
    assert json.loads(_sigma_rows(out)["evidence"][0])["baseline_days"] == 7
    logins = daily_logins([2] * 7) + daily_logins([40], start=T0 + timedelta(days=31))
    with pytest.raises(NotEvaluated):
        _run(logins)


def test_sd_floor_for_first_rare_event():
    def with_failures(n_fail):
        rows = daily_logins([1] * 10)
        rows += [{"ts": T0 + timedelta(days=10, minutes=i), "user_id": "u1", "event": "login", "success": False,
                  "ip": "10.0.0.1", "device_id": "dev-1"} for i in range(n_fail)]
        return rows
    out, _ = _run(with_failures(3))  # failures 3 vs 0 +- floor 1 -> z = 3, not > 3; events 3 vs 1 -> z = 2
    assert out.height == 0
    out, _ = _run(with_failures(4))
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    # failures 4 vs 0 (floor 1) -> z = 4 fires; events 4 vs 1 -> z = 3 does not
    assert [(f["feature"], f["value"], f["z"]) for f in feats] == [("failures", 4.0, 4.0)]


def test_excluding_flagged_days_keeps_a_run_firing():
    # day 12 would stay quiet if the flagged days 10 and 11 were in its baseline (z 2.24)
    out, notes = _run(daily_logins([2] * 10 + [14, 14, 14]))
    rows = _sigma_rows(out)
    assert rows.height == 3
    evs = [json.loads(e) for e in rows["evidence"]]
    assert [e["baseline_days"] for e in evs] == [10, 10, 10]
    # 12 / 2.8284 = 4.2426, shown rounded away from zero
    assert [e["features"][0]["z"] for e in evs] == [4.25, 4.25, 4.25]
    assert notes["converged"] is True and notes["exclusion_passes"] >= 2
    rep = out.filter(pl.col("rule") == "behavior.repeated")
    assert rep.height == 1


def test_z_is_shown_with_two_decimals_away_from_zero_without_float_noise():
    from fraud.detectors.sigma import _away

    z = pl.select(_away(pl.Series([12.0291, 12.03, -3.0005, 3.0, 139.1355, 305.7701]))).to_series()
    assert z.cast(pl.String).to_list() == ["12.03", "12.03", "-3.01", "3.0", "139.14", "305.78"]


def test_robust_median_mad():
    cfg = load_config()
    rule = cfg.rule("behavior.sigma")
    rule.params["robust"] = True
    rows = [{"ts": T0 + timedelta(days=d, minutes=i), "user_id": "u1", "event": "login", "device_id": "a",
             "ip": "1.1.1.1"} for d, n in enumerate([1, 2, 3, 4, 5, 6, 7, 20]) for i in range(n)]
    out, notes = _run(rows, cfg)
    assert notes["baseline"] == "median/MAD"
    f = json.loads(_sigma_rows(out)["evidence"][0])["features"][0]
    # median 4, MAD 2 -> scale 2.9652, below the count floor 2 x sqrt(median 4) = 4: (20 - 4) / 4 = 4
    assert (f["feature"], f["baseline_median"], f["baseline_sd"], f["sd_used"], f["z"]) == (
        "events", 4.0, 2.9652, 4.0, 4.0)


def test_missing_feature_is_skipped_and_counted():
    rows = daily_logins([2] * 8)
    for r in rows:
        r.pop("ip")
    _, notes = _run(rows)
    # evaluated day 8: distinct_ips, countries, cities, distance, speed missing -> 5 skipped tests
    assert notes["user_days_evaluated"] == 1 and notes["feature_tests_skipped_missing"] == 5


def test_a_z_just_over_the_threshold_never_shows_as_the_threshold():
    """amount 9,001 against 3,000 +- 2,000 is z = 3.0005: it fires, and its evidence says 3.01, not 3.0 (which
    reads as not beyond 3); 8,999 (z = 2.9995) does not fire."""
    def spree(last):
        rows = daily_logins([1] * 10)
        amounts = [1000.0, 5000.0] * 5 + [last]
        return rows + [{"ts": T0 + timedelta(days=d, hours=2), "user_id": "u1", "event": "payment", "success": True,
                        "amount": a, "ip": "10.0.0.1", "device_id": "dev-1"} for d, a in enumerate(amounts)]
    out, _ = _run(spree(8999.0))
    assert _sigma_rows(out).height == 0
    out, _ = _run(spree(9001.0))
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    assert [(f["feature"], f["z"]) for f in feats] == [("amount", 3.01)]


def test_a_day_exactly_three_sds_out_does_not_fire():
    """The test is strict (|z| > 3). 25 payment days whose last 13 (the 30-day window of the tested day) have the
    mean 52.72, then 3,052.72 = mean + 3 x the 1,000 floor: exactly 3, which float rounding (no binary 52.72, and
    the rolling sums of days leaving the window) computed as 3.0000000000004 and fired; 3,052.73 fires."""
    hist = [70.0, 65.5, 31.2, 44.0, 58.8, 47.1, 66.6, 40.3, 39.9, 71.7, 53.3, 48.2,
            53.05, 41.42, 62.02, 38.93, 44.09, 58.44, 38.1, 44.48, 62.98, 57.41, 60.29, 64.75, 59.4]

    def days(last):
        pays = [(d, a) for d, a in enumerate(hist)] + [(len(hist) + 17, last)]
        return [{"ts": T0 + timedelta(days=d, hours=2), "user_id": "u1", "event": "payment", "success": True,
                 "amount": a, "ip": "10.0.0.1", "device_id": "dev-1"} for d, a in pays]
    out, _ = _run(days(3052.72))
    assert _sigma_rows(out).height == 0
    out, _ = _run(days(3052.73))
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    assert [(f["feature"], f["baseline_mean"], f["z"]) for f in feats] == [("amount", 52.72, 3.01)]


def test_users_are_independent():
    logins = daily_logins([2] * 10, user="a") + daily_logins([2] * 9 + [14], user="b")
    out, _ = _run(logins)
    assert out["user_id"].unique().to_list() == ["b"]


def _reference(values: list[tuple[int, float]], thr=3.0, min_days=7, floor=1.0, window=30, sqrt_c=2.0):
    """Sequential definition: day by day, the baseline is the earlier non-flagged days within the window."""
    flagged, zs = {}, {}
    for day, x in values:
        base = [v for d, v in values if day - window <= d < day and not flagged.get(d, False)]
        if len(base) < min_days:
            flagged[day] = False
            continue
        mean = sum(base) / len(base)
        sd = math.sqrt(sum((v - mean) ** 2 for v in base) / len(base))
        z = (x - mean) / max(sd, floor, sqrt_c * math.sqrt(max(mean, 0.0)))
        zs[day] = z
        flagged[day] = abs(z) > thr
    return flagged, zs


@pytest.mark.parametrize("seed", range(6))
def test_fixed_point_equals_sequential_exclusion(seed):
    rnd = random.Random(seed)
    cfg = load_config()
    rule = cfg.rule("behavior.sigma")
    rule.params["features"] = ["logins"]
    frames, want_flags, want_z = [], [], []
    for user in ("a", "b", "c"):  # several users: later passes recompute only users whose flags changed
        days = sorted(rnd.sample(range(120), rnd.randint(20, 80)))
        values = [(d, float(rnd.choice([1, 2, 2, 3, 3, 4]) + (rnd.random() < 0.15) * rnd.randint(3, 12)))
                  for d in days]
        frames.append(pl.DataFrame({"user_id": [user] * len(values), "logins": [v for _, v in values],
                                    "day": [(T0 + timedelta(days=d)).date() for d, _ in values]}))
        flagged, zs = _reference(values)
        want_flags += [flagged[d] for d, _ in values]
        want_z += [zs[d] for d, _ in values if d in zs]
    tested, notes = evaluate(pl.concat(frames), rule)
    assert notes["converged"] is True
    assert tested["_flag"].to_list() == want_flags
    assert tested.filter(pl.col("_eval"))["_z_logins"].to_list() == pytest.approx(want_z, abs=1e-9)


def test_a_lasting_level_change_converges_to_the_sequential_result():
    """Weekdays 4 / weekends 2 for 8 weeks, then 12 / 6 for 10 weeks: the fixed point needs 38 passes (a pass
    settles at least one more day), more than the old default cap of 30, and equals the sequential definition."""
    cfg = load_config()
    rule = cfg.rule("behavior.sigma")
    rule.params["features"] = ["logins"]
    rule.params["sd_sqrt_floor_by_feature"] = {}  # the fixed floor of 1 only, as when the 38 was measured
    values = list(enumerate(([4.0] * 5 + [2.0] * 2) * 8 + ([12.0] * 5 + [6.0] * 2) * 10))
    days = pl.DataFrame({"user_id": ["u"] * len(values), "logins": [v for _, v in values],
                         "day": [(T0 + timedelta(days=d)).date() for d, _ in values]})
    tested, notes = evaluate(days, rule)
    assert (notes["converged"], notes["exclusion_passes"]) == (True, 38)
    flagged, _ = _reference(values, sqrt_c=0.0)
    assert tested["_flag"].to_list() == [flagged[d] for d, _ in values]


def test_user_days_table_is_cached_and_sorted():
    ctx = ctx_of(daily_logins([1, 2], user="b") + daily_logins([3], user="a"))
    d = user_days(ctx)
    assert d is user_days(ctx)
    assert d.select("user_id", "logins").rows() == [("a", 3.0), ("b", 1.0), ("b", 2.0)]


def test_one_finding_per_day_strongest_first():
    rows = daily_logins([2] * 10 + [12])
    rows += [{"ts": T0 + timedelta(days=10, hours=1, minutes=i), "user_id": "u1", "event": "login",
              "success": False, "ip": "10.0.0.1", "device_id": "dev-1"} for i in range(4)]
    out, _ = _run(rows)
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    assert out.height == 1
    assert [(f["feature"], f["value"], f["z"]) for f in feats] == [
        ("events", 16.0, 4.95), ("failures", 4.0, 4.0), ("logins", 12.0, 3.54)]


def test_count_floor_grows_with_the_baseline_mean():
    """A user with 9 logins every day: 13 is within Poisson noise (sd floor 2 x sqrt(9) = 6, z = 0.67; with the
    fixed floor of 1 alone it was z = 4); 28 is not (z = 3.17)."""
    out, _ = _run(daily_logins([9] * 10 + [13]))
    assert out.height == 0
    out, _ = _run(daily_logins([9] * 10 + [28]))
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    assert [(f["feature"], f["baseline_mean"], f["sd_used"], f["z"]) for f in feats] == [
        ("events", 9.0, 6.0, 3.17), ("logins", 9.0, 6.0, 3.17)]
    cfg = load_config()
    cfg.rule("behavior.sigma").params["sd_sqrt_floor_by_feature"] = {}
    out, _ = _run(daily_logins([9] * 10 + [13]), cfg)
    assert [f["z"] for f in json.loads(_sigma_rows(out)["evidence"][0])["features"]] == [4.0, 4.0]


def _day_at(day: int, hours: list[float]) -> list[dict]:
    return [{"ts": T0 - timedelta(hours=12) + timedelta(days=day, hours=h), "user_id": "u1", "event": "login",
             "success": True, "ip": "10.0.0.1", "device_id": "dev-1"} for h in hours]


def test_night_share_needs_enough_events_on_the_day():
    """Four daytime logins a day, then one login at 23:00: a share of 1.0 from one event is skipped (counted),
    not flagged; four logins at 23:00-23:45 are a changed habit and fire."""
    base = [r for d in range(10) for r in _day_at(d, [9, 12, 15, 18])]
    out, notes = _run(base + _day_at(10, [23]))
    assert out.height == 0
    assert notes["feature_tests_skipped_few_events"] == 1 and notes["user_days_evaluated"] == 4
    out, _ = _run(base + _day_at(10, [23, 23.25, 23.5, 23.75]))
    feats = json.loads(_sigma_rows(out)["evidence"][0])["features"]
    assert [(f["feature"], f["value"], f["baseline_mean"], f["z"]) for f in feats] == [("night_share", 1.0, 0.0, 5.0)]


def test_unknown_feature_in_a_per_feature_table_is_not_evaluated():
    cfg = load_config()
    cfg.rule("behavior.sigma").params["sd_sqrt_floor_by_feature"] = {"evnets": 2.0}
    with pytest.raises(NotEvaluated, match="evnets.*sd_sqrt_floor_by_feature"):
        _run(daily_logins([2] * 10), cfg)


def test_tested_frame_has_one_chunk_per_column():
    """A user-day table collected by the streaming engine comes in several chunks; the tested frame must not mix
    those with the one-chunk baseline columns (Polars' streaming engine panicked on such a frame in a 10M scan)."""
    cfg = load_config()
    rule = cfg.rule("behavior.sigma")
    rule.params["features"] = ["logins"]
    parts = [pl.DataFrame({"user_id": [u] * 20, "logins": [float(2 + i % 3) for i in range(20)],
                           "day": [(T0 + timedelta(days=d)).date() for d in range(20)]}) for u in ("a", "b")]
    days = pl.concat(parts, rechunk=False)
    assert set(days.n_chunks("all")) == {2}
    tested, _ = evaluate(days, rule)
    assert set(tested.n_chunks("all")) == {1}
    assert tested["_flag"].to_list() == [False] * 40


def test_flagged_only_gives_the_flagged_rows_of_the_full_test():
    """What the findings read (the flagged days' tests) and the summary counts are the same whether every user-day
    is tested in full or only the flagged ones."""
    cfg = load_config()
    rule = cfg.rule("behavior.sigma")
    rnd = random.Random(9)
    frames = []
    for user in ("a", "b", "c", "d"):
        days = sorted(rnd.sample(range(150), rnd.randint(10, 90)))
        frames.append(pl.DataFrame({
            "user_id": [user] * len(days), "day": [(T0 + timedelta(days=d)).date() for d in days],
            **{f: [float(rnd.choice([1, 2, 3]) + (rnd.random() < 0.1) * rnd.randint(5, 20)) for _ in days]
               for f in DAY_FEATURES}}))
    days = pl.concat(frames)
    full, notes = evaluate(days, rule)
    part, part_notes = evaluate(days, rule, flagged_only=True)
    assert notes == part_notes and notes["user_days_flagged"] > 0
    assert part.equals(full.filter(pl.col("_flag")))
