from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from fraud.detectors.features import DAY_FEATURES, USER_FEATURES, user_days, user_features
from tests.detectors.helpers import T0, ctx_of

UTC = timezone.utc


def _day(ctx, day=date(2024, 3, 1), user="u1"):
    return user_days(ctx).filter((pl.col("user_id") == user) & (pl.col("day") == day)).row(0, named=True)


def test_event_features_exact():
    # The city names (and the Chinese IPs, which agree with them) place the user in Asia/Shanghai (UTC+8): local times 20:00, 21:00, 23:00, 23:30.
    ev = [
        {"ts": T0, "user_id": "u1", "event": "login", "success": True, "ip": "114.114.114.114", "device_id": "a",
         "country": "CN", "city": "Shanghai"},
        {"ts": T0 + timedelta(hours=1), "user_id": "u1", "event": "login", "success": False, "ip": "1.2.4.8",
         "device_id": "a", "country": "CN", "city": "Beijing"},
        {"ts": T0 + timedelta(hours=3), "user_id": "u1", "event": "payment", "ip": "114.114.114.114", "device_id": "b",
         "amount": 120.5},
        {"ts": T0 + timedelta(hours=3, minutes=30), "user_id": "u1", "event": "withdraw", "amount": 79.5},
    ]
    r = _day(ctx_of(ev))
    assert {k: r[k] for k in DAY_FEATURES} == {
        "events": 4.0, "logins": 1.0, "failures": 1.0, "distinct_ips": 2.0, "distinct_devices": 2.0,
        "new_devices": 2.0, "distinct_countries": 1.0, "distinct_cities": 2.0, "night_share": 0.5,
        "hour_spread_h": pytest.approx(1.4306903, abs=1e-6), "distance_km": None, "top_speed_kmh": None,
        "payments": 2.0, "amount": 200.0}
    assert r["first_ts"] == T0 and r["last_ts"] == T0 + timedelta(hours=3, minutes=30)


def test_missing_values_are_null_not_zero():
    ev = [{"ts": T0, "user_id": "u1", "event": "payment"}]  # no ip, device, country, city, amount, position
    ctx = ctx_of(ev)
    r = _day(ctx)
    for f in ("distinct_ips", "distinct_devices", "new_devices", "distinct_countries", "distinct_cities",
              "distance_km", "top_speed_kmh", "amount"):
        assert r[f] is None, f
    assert r["payments"] == 1.0 and r["events"] == 1.0 and r["hour_spread_h"] is None  # one event: no spread
    # no payments at all: amount is a true zero
    assert _day(ctx_of([{"ts": T0, "user_id": "u1"}]))["amount"] == 0.0


def test_a_declined_payment_counts_as_an_attempt_and_moves_no_money():
    """amount is money moved: four declined tries of a 48,000 purchase and the approved fifth are 48,000 in five
    payments; a day of declined payments only moved 0 (known, not missing)."""
    tries = [{"ts": T0 + timedelta(minutes=i), "user_id": "u1", "event": "payment", "amount": 48_000.0,
              "success": i == 4} for i in range(5)]
    r = _day(ctx_of(tries))
    assert (r["payments"], r["amount"]) == (5.0, 48_000.0)
    r = _day(ctx_of([{**t, "success": False} for t in tries]))
    assert (r["payments"], r["amount"]) == (5.0, 0.0)


def test_new_devices_only_on_first_day():
    ev = [{"ts": T0 + timedelta(days=d), "user_id": "u1", "device_id": dev} for d, dev in
          [(0, "a"), (1, "a"), (1, "b"), (2, "b")]]
    days = user_days(ctx_of(ev))
    assert days["new_devices"].to_list() == [1.0, 1.0, 0.0]
    assert days["distinct_devices"].to_list() == [1.0, 2.0, 1.0]


def test_distance_and_speed_from_events_and_pings():
    ev = [{"ts": T0, "user_id": "u1", "lat": 0.0, "lon": 10.0}]  # on the equator (0,0 itself means "no fix")
    pings = pl.DataFrame({"ts": [T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=1)],
                          "user_id": ["u1", "u1"], "lat": [0.0, 0.0], "lon": [11.0, 11.01]})
    r = _day(ctx_of(ev, locations=pings))
    one_deg = 111.19508  # km per degree on the mean Earth radius
    assert r["distance_km"] == pytest.approx(one_deg * 1.01, rel=1e-6)
    # segments: 111.2 km in 3 h (37.1 km/h); 1.11 km in 1 min, time floored at speed_min_gap_minutes = 5
    # (13.3 km/h, not 66.7 km/h) -> top speed 37.1 km/h
    assert r["top_speed_kmh"] == pytest.approx(one_deg / 3, rel=1e-6)
    single = _day(ctx_of([{"ts": T0, "user_id": "u1", "lat": 0.0, "lon": 10.0}]))
    assert single["distance_km"] == 0.0 and single["top_speed_kmh"] is None


def test_coarse_fixes_do_not_add_distance():
    """Cell-tower fixes (3 km radius) 2-4 km off a still user are no travel; the same fixes at 20 m are."""
    ts = [T0 + timedelta(minutes=10 * i) for i in range(4)]
    lats = [0.0, 0.03, 0.0, 0.03]

    def day(acc):
        pings = pl.DataFrame({"ts": ts, "user_id": ["u1"] * 4, "lat": lats, "lon": [10.0] * 4,
                              "accuracy_m": [acc] * 4})
        return _day(ctx_of([{"ts": T0, "user_id": "u1"}], locations=pings))
    assert day(3000.0)["distance_km"] is None  # no precise position that day
    assert day(20.0)["distance_km"] == 10.0077  # 3 x 3.34 km, on the 0.1 m grid of exact sums


def test_local_day_and_night_follow_users_zone():
    # Shanghai (UTC+8): 23:30 UTC is 07:30 next local day (not night); 15:00 UTC is 23:00 local (night)
    ev = [{"ts": datetime(2024, 3, 1, 23, 30, tzinfo=UTC), "user_id": "u1", "lat": 31.23, "lon": 121.47},
          {"ts": datetime(2024, 3, 1, 15, 0, tzinfo=UTC), "user_id": "u1", "lat": 31.23, "lon": 121.47}]
    days = user_days(ctx_of(ev))
    assert days["day"].to_list() == [date(2024, 3, 1), date(2024, 3, 2)]
    assert days["night_share"].to_list() == [1.0, 0.0]


def test_user_level_features():
    ev = [{"ts": T0 + timedelta(days=d, minutes=i), "user_id": "u1", "success": i != 0}
          for d, n in [(0, 1), (1, 3)] for i in range(n)]
    u = user_features(ctx_of(ev))
    assert u.columns[:3] == ["user_id", "first_ts", "last_ts"] and u.columns[3:] == list(USER_FEATURES)
    assert len(USER_FEATURES) == 20
    r = u.row(0, named=True)
    assert (r["active_days"], r["mean_events"], r["mean_logins"], r["max_logins"], r["max_failures"]) == \
        (2.0, 2.0, 1.0, 2.0, 1.0)
    assert r["mean_distance_km"] is None and r["max_top_speed_kmh"] is None


def test_money_sums_do_not_overflow():
    """11 payments of 9e14 on one day are 9.9e15, past the Int64 fixed-point grid (9.2e14 x 1e4): summed exactly in
    128-bit integers, for the day and the user's mean."""
    ev = [{"ts": T0 + timedelta(minutes=i), "user_id": "u1", "event": "payment", "amount": 9e14} for i in range(11)]
    ctx = ctx_of(ev)
    assert user_days(ctx)["amount"].to_list() == [9.9e15]
    assert user_features(ctx)["mean_amount"].to_list() == [9.9e15]


def test_a_lone_gps_glitch_adds_no_distance_or_speed(tmp_path):
    """One bad fix 1,066 km off between two at home, 5 minutes apart each way: no 2,000 km day at 12,000 km/h
    (a 3-sigma day every time a phone glitches); with ignore_lone_ping_spikes = false it counts."""
    from fraud.config import load_config
    from tests.geo.helpers import BJ, SH, pings

    ts = [T0 + timedelta(minutes=m) for m in (0, 5, 10, 15)]
    loc = pings("u1", list(zip(ts, [SH, BJ, SH, SH])))
    ev = [{"ts": T0, "user_id": "u1", "event": "login"}]
    day = user_days(ctx_of(ev, locations=loc)).row(0, named=True)
    assert (day["distance_km"], day["top_speed_kmh"]) == (0.0, 0.0)
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."behavior.sigma"]\nignore_lone_ping_spikes = false\n')
    day = user_days(ctx_of(ev, config=load_config(cfg_file), locations=loc)).row(0, named=True)
    assert day["distance_km"] > 2100 and day["top_speed_kmh"] > 12_000


def test_distance_follows_one_position_a_minute_not_every_jitter(tmp_path):
    """Four fixes in one minute bouncing 1.11 km and back (a phone's jitter logged every 10-20 s), then one the
    next minute where they began and one the minute after 111 m east: the day's path is the first fix of each
    minute, 111.2 m; with distance_step_minutes = 0 every fix counts, 4.56 km. Top speed still reads every fix."""
    from fraud.config import load_config

    secs, lons = [0, 20, 40, 50, 60, 120], [10.0, 10.01, 10.0, 10.01, 10.0, 10.001]
    loc = pl.DataFrame({"ts": [T0 + timedelta(seconds=t) for t in secs], "user_id": ["u1"] * 6, "lat": [0.0] * 6,
                        "lon": lons})
    ev = [{"ts": T0, "user_id": "u1", "event": "login"}]
    day = _day(ctx_of(ev, locations=loc))
    assert day["distance_km"] == 0.1112  # 111.195 m on the 0.1 m grid of exact sums
    assert day["top_speed_kmh"] == pytest.approx(1.11195 * 12, rel=1e-5)  # 1.11 km in (floored) 5 min
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."behavior.sigma"]\ndistance_step_minutes = 0\n')
    every = _day(ctx_of(ev, config=load_config(cfg_file), locations=loc))
    assert every["distance_km"] == 4.5592  # 4 x 1.1120 km + 0.1112 km, each on the 0.1 m grid
    assert every["top_speed_kmh"] == day["top_speed_kmh"]


def _sprayed(ips):
    """Ten accounts with a 09:00 login each day for 12 days; on the last 3 nights four failed logins on each of them
    at 03:xx, from ``ips(attempt)``."""
    ev = []
    for u in range(10):
        for d in range(12):
            ev.append({"ts": datetime(2024, 3, 1 + d, 9, u, tzinfo=UTC), "user_id": f"v{u}", "event": "login",
                       "success": True, "ip": f"10.0.0.{u}"})
        for d in (9, 10, 11):
            for k in range(4):
                ev.append({"ts": datetime(2024, 3, 1 + d, 3, u * 4 + k, tzinfo=UTC), "user_id": f"v{u}",
                           "event": "login", "success": False, "ip": ips(u * 4 + k)})
    return ev


def test_a_password_sprays_failed_attempts_are_not_its_victims_behaviour():
    """One IP failing logins on ten accounts within the hour is ip.spray: its attempts are left out of the
    victims' days (no failures, no night events). The same attempts from forty different IPs are no spray and
    stay the accounts' own."""
    sprayed = _day(ctx_of(_sprayed(lambda i: "203.0.113.9")), day=date(2024, 3, 11), user="v3")
    assert (sprayed["events"], sprayed["failures"], sprayed["night_share"]) == (1.0, 0.0, 0.0)
    spread = _day(ctx_of(_sprayed(lambda i: f"198.51.100.{i}")), day=date(2024, 3, 11), user="v3")
    assert (spread["events"], spread["failures"], spread["night_share"]) == (5.0, 4.0, 0.8)


def test_an_ipv6_networks_spray_is_left_out_too():
    """The attacker takes a fresh address of its /64 for every try: the network's spray is left out as well."""
    sprayed = _day(ctx_of(_sprayed(lambda i: f"2001:db8:1:2::{i + 1:x}")), day=date(2024, 3, 11), user="v3")
    assert (sprayed["events"], sprayed["failures"]) == (1.0, 0.0)


def test_clock_features_are_unknown_on_a_day_in_another_time_zone():
    """A Londoner's daytime logins in Tokyo read as night on the home clock (a week abroad made 5 three-sigma days and
    a repeated run): on a day with a position in another time zone, night share and hour spread are unknown; the
    same hours logged in London are night, as before."""
    london, tokyo = (51.5074, -0.1278), (35.6762, 139.6503)

    def ev(day, place):  # 01:00 and 03:00 UTC: 10:00 and 12:00 in Tokyo, night in London (winter: UTC+0)
        return [{"ts": datetime(2024, 1, day, h, tzinfo=UTC), "user_id": "u1", "event": "login", "success": True,
                 "lat": place[0], "lon": place[1]} for h in (1, 3)]

    home = [r for d in range(1, 6) for r in ev(d, london)]
    trip = home + ev(6, tokyo)
    away = _day(ctx_of(trip), day=date(2024, 1, 6))
    assert (away["night_share"], away["hour_spread_h"], away["events"]) == (None, None, 2.0)
    assert _day(ctx_of(trip), day=date(2024, 1, 5))["night_share"] == 1.0  # at home, the same hours are night
    stay = _day(ctx_of(home + ev(6, london)), day=date(2024, 1, 6))
    assert (stay["night_share"], stay["hour_spread_h"]) == (1.0, 1.0)
