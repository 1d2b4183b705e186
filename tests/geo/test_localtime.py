"""Local time: the same events written in two different offsets give the same findings and profiles."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.geo.localtime import WHEN_CHAIN_MAX_ZONES, user_timezones, with_local_time
from fraud.pipeline import ScanInputs, scan
from tests.geo.helpers import BJ, SH, TZ_SH, local, logins, pings, routine

START = date(2024, 3, 4)
NY = (40.7128, -74.006)


def _events():
    wed = START + timedelta(days=2)
    loc = pings("u1", routine("u1", START, 35) + [(local(wed, 8, 40), (31.2650, 121.4870))])
    lg = logins([{"ts": local(d, h), "user_id": "u1", "lat": BJ[0], "lon": BJ[1], "device_id": "d1"}
                 for d, h in [(date(2024, 3, 29), 10), (date(2024, 3, 30), 10), (date(2024, 4, 1), 1),
                              (date(2024, 4, 2), 9), (date(2024, 4, 3), 9)]]
                + [{"ts": local(date(2024, 3, 29), 9, 20), "user_id": "u1", "lat": SH[0], "lon": SH[1]}])
    return lg, loc


def _write(df: pl.DataFrame, path, offset: timezone):
    fmt = "%Y-%m-%dT%H:%M:%S%:z"
    df.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai" if offset else "UTC").dt.strftime(fmt)) \
        .write_csv(path)


def test_same_findings_in_two_offsets(tmp_path):
    lg, loc = _events()
    out = {}
    for name, off in (("utc", None), ("cst", TZ_SH)):
        d = tmp_path / name
        d.mkdir()
        _write(lg, d / "logins.csv", off)
        _write(loc, d / "locations.csv", off)
        res = scan(ScanInputs.from_folder(d))
        out[name] = (res.findings.filter(pl.col("family") == "geo"), res.profiles)
    assert "+08:00" in (tmp_path / "cst" / "logins.csv").read_text()
    f_utc, f_cst = out["utc"][0], out["cst"][0]
    assert sorted(f_utc["rule"].to_list()) == ["geo.commute_deviation"] + ["geo.impossible_travel"] * 3 + [
        "geo.remote_logins"]
    # the logins of Mar 29, Mar 30, Apr 1 01:00 (Mar 31 in UTC), Apr 2, Apr 3: 3 in April on the user's clock
    assert f_utc.filter(pl.col("rule") == "geo.remote_logins")["summary"].to_list() == [
        "3 logins in April 2024 from outside Shanghai: Beijing"]
    assert f_utc.equals(f_cst)
    assert out["utc"][1].equals(out["cst"][1])
    assert out["utc"][1]["timezone"].to_list() == ["Asia/Shanghai"]


def test_user_clocks_follow_their_most_frequent_position():
    loc = pl.concat([pings("a", [(local(START, 12), SH)] * 3 + [(local(START, 13), NY)]),
                     pings("b", [(local(START, 12), NY)] * 2)])
    lg = logins([{"ts": local(START, 12), "user_id": "c"}])
    ctx = ScanContext.from_frames(load_config(), logins=lg, locations=loc)
    assert user_timezones(ctx).rows() == [("a", "Asia/Shanghai"), ("b", "America/New_York"), ("c", "UTC")]
    lt = with_local_time(pl.LazyFrame({"user_id": ["a", "b", "c", "zz"], "ts": [local(START, 12)] * 4}), ctx)
    assert [t.hour for t in lt.collect()["local_ts"]] == [12, 23, 4, 4]


def test_many_zones_convert_like_one_zone_at_a_time():
    """With more zones than the when/then chain takes (:data:`WHEN_CHAIN_MAX_ZONES`), each zone group is converted
    on its own: the local times equal the standard library's, across DST changes."""
    zones = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata",
             "America/Sao_Paulo", "Africa/Lagos", "Asia/Tokyo", "Pacific/Chatham", "America/St_Johns",
             "Asia/Kathmandu", "Europe/London"]
    loc = pl.concat([pings(f"u{i}", [(local(START, 12), (0.5 + i, 0.5 + i))]) for i in range(len(zones))])
    ctx = ScanContext.from_frames(load_config(), logins=logins([]), locations=loc)
    tzs = pl.DataFrame({"user_id": [f"u{i}" for i in range(len(zones))], "timezone": zones})
    ctx.provide("user_timezones", tzs)
    instants = [datetime(2024, m, 10, h, 30, tzinfo=timezone.utc) for m in (1, 3, 4, 10, 11) for h in (1, 13)]
    frame = pl.LazyFrame({"user_id": [f"u{i}" for i in range(len(zones)) for _ in instants] + ["nobody"],
                          "ts": [t for _ in zones for t in instants] + [instants[0]]})
    got = with_local_time(frame, ctx).collect()
    assert len(zones) > WHEN_CHAIN_MAX_ZONES
    want = [t.astimezone(ZoneInfo(z)).replace(tzinfo=None) for z in zones for t in instants]
    assert got["local_ts"].to_list() == want + [instants[0].replace(tzinfo=None)]  # no zone: the config's UTC
    assert got["user_id"].to_list() == frame.collect()["user_id"].to_list()  # row order kept


def test_the_zone_follows_hours_of_presence_not_the_sampling_rate():
    """Ten days of hourly fixes in Berlin, then one day in Lisbon logged every 10 s (8,640 fixes): the user's
    clock stays Berlin's (the Lisbon cell has more fixes but far fewer hours)."""
    berlin, lisbon = (52.52, 13.405), (38.7223, -9.1393)
    t0 = local(START, 0)
    rows = [(t0 + timedelta(hours=h), berlin) for h in range(240)]
    rows += [(t0 + timedelta(days=11, seconds=10 * i), lisbon) for i in range(8640)]
    ctx = ScanContext.from_frames(load_config(), logins=logins([]), locations=pings("u1", rows))
    assert user_timezones(ctx).rows() == [("u1", "Europe/Berlin")]


def test_a_clock_beside_a_zone_border_is_the_zone_of_the_users_own_point():
    """Haparanda (SE, one hour behind) faces Tornio (FI) across the river: a home at (65.8455, 24.1255) lies in a
    ~1 km cell whose centre is in Finland. The clock is the one of the user's own point there, not of the cell's
    centre; a user in the middle of a cell no border crosses keeps the cell's zone."""
    loc = pl.concat([pings("hap", [(local(START, 12), (65.8455, 24.1255))] * 3),
                     pings("tor", [(local(START, 12), (65.8480, 24.1466))] * 3)])
    ctx = ScanContext.from_frames(load_config(), logins=logins([{"ts": local(START, 12), "user_id": "hap"}]),
                                  locations=loc)
    assert user_timezones(ctx).rows() == [("hap", "Europe/Stockholm"), ("tor", "Europe/Helsinki")]


TOKYO = (35.6762, 139.6503)


def test_days_in_another_time_zone_are_found_on_the_users_own_clock():
    """A Shanghai user's two days in New York (another clock): those local days, nothing else; the same hours spent
    in Beijing (the same clock, 1,000 km off) are no such day."""
    from fraud.geo.localtime import other_clock_days

    home = routine("u1", START, 20)
    trip = [(local(START + timedelta(days=21), h), NY) for h in (10, 20)] + [
        (local(START + timedelta(days=22), 9), NY)]
    ctx = ScanContext.from_frames(load_config(), logins=logins([{"ts": local(START, 12), "user_id": "u1"}]),
                                  locations=pings("u1", home + trip))
    days = other_clock_days(ctx)
    # on Shanghai's clock: 10:00 and 20:00 of the 21st day, 09:00 of the 22nd (local() writes Shanghai time)
    assert days.rows() == [("u1", START + timedelta(days=21)), ("u1", START + timedelta(days=22))]
    assert ctx.notes["geo.other_clock"] == {"user_days_on_another_clock": 2}
    same_clock = [(t, BJ) for t, _ in trip]
    ctx = ScanContext.from_frames(load_config(), logins=logins([{"ts": local(START, 12), "user_id": "u1"}]),
                                  locations=pings("u1", home + same_clock))
    assert other_clock_days(ctx).height == 0
