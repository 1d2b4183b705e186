"""geo.commute_deviation and geo.stable_commute."""
import json
import math
from datetime import date, timedelta

import polars as pl
import pytest
from geopy.distance import great_circle

from fraud.config import load_config
from fraud.context import ScanContext

from fraud.geo.commute import commute_deviation, stable_commute
from fraud.geo.clusters import M_PER_DEG
from fraud.geo.places import home_work
from tests.geo.helpers import BJ, SH, SH_WORK, ctx_of, local, logins, pings, routine

START = date(2024, 3, 4)  # Monday
WED = START + timedelta(days=2)
OFF = (31.2650, 121.4870)  # ~3.5 km north of the home-work line


def _allowance(d1: float, d2: float, d: float, acc_km: float) -> float:
    """2 cos(a/2) acc, a the angle home-P-work (law of cosines)."""
    cos_a = (d1 ** 2 + d2 ** 2 - d ** 2) / (2 * d1 * d2)
    return 2 * acc_km * math.sqrt((1 + cos_a) / 2)


def _detour(p, acc_km: float = 0.02):
    d = great_circle(SH, SH_WORK).km
    d1, d2 = great_circle(SH, p).km, great_circle(p, SH_WORK).km
    return d1 + d2 - d - _allowance(d1, d2, d, acc_km), d


def test_fires_once_per_day_on_the_farthest_point():
    near = (31.2500, 121.4850)
    loc = pings("u1", routine("u1", START, 14) + [(local(WED, 8, 10), near), (local(WED, 8, 40), OFF)])
    df = commute_deviation(ctx_of(logins=logins([]), locations=loc)).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    detour, d = _detour(OFF)
    assert ev["day"] == "2024-03-06" and ev["farthest_time"] == "08:40" and ev["positions_off_route"] == 2
    assert (ev["farthest_lat"], ev["farthest_lon"]) == OFF
    # the deviation rounded up: a value that passed 0.15 never shows as 0.15
    assert ev["detour_km"] == round(detour, 2) and ev["deviation"] == round(detour / d, 3)
    # the city for the profile, the part of it for the route (Lujiazui lies in Pudong, Shanghai)
    assert (ev["home_city"], ev["work_city"], ev["home_area"], ev["work_area"]) == (
        "Shanghai", "Shanghai", "Shanghai", "Pudong")
    assert df["summary"][0] == (f"On Wed 2024-03-06 at 08:40 the commute between home in Shanghai and work in "
                                f"Pudong went {detour:.1f} km out of the way near Shanghai "
                                f"(deviation {round(detour / d, 2)} > 0.15)")
    assert df["first_ts"][0] == local(WED, 8, 10) and df["last_ts"][0] == local(WED, 8, 40)


def test_quiet_outside_windows_on_weekends_small_detours_and_trip_days():
    sat = START + timedelta(days=5)
    small = (31.2360, 121.4870)  # just off the line: deviation below 0.15
    extra = [(local(WED, 12), OFF), (local(sat, 8, 30), OFF), (local(WED, 8, 30), small)]
    loc = pings("u1", routine("u1", START, 14) + extra)
    assert commute_deviation(ctx_of(logins=logins([]), locations=loc)).collect().height == 0
    # a weekday with any position outside the home city is not a commute day
    trip = pings("u1", routine("u1", START, 14) + [(local(WED, 8, 30), OFF), (local(WED, 21), BJ)])
    assert commute_deviation(ctx_of(logins=logins([]), locations=trip)).collect().height == 0


def _overnight_trip(back_days: int) -> pl.DataFrame:
    """Mon-Tue routine; Wednesday at work, then off the route at 19:00 on the way to a night flight; in Beijing
    on Thursday at 10:00; back ``back_days`` later at 08:30 through the same spot; a routine week after."""
    thu = START + timedelta(days=3)
    back = local(thu + timedelta(days=back_days), 8, 30)
    rows = (routine("u1", START, 2) + [(local(WED, 9, 30), SH_WORK), (local(WED, 14), SH_WORK),
                                        (local(WED, 19), OFF), (local(thu, 10), BJ), (back, OFF)]
            + routine("u1", START + timedelta(days=7), 7))
    return pings("u1", rows)


def _edge_ctx(tmp_path, loc, hours: int) -> ScanContext:
    cfg_file = tmp_path / f"c{hours}.toml"
    cfg_file.write_text(f'[rules."geo.commute_deviation"]\ntrip_edge_hours = {hours}\n')
    return ScanContext.from_frames(load_config(cfg_file), logins=logins([]), locations=loc)


def _days(df) -> list[str]:
    return [d.isoformat() for d in df["first_ts"].dt.date()]


def test_by_default_a_trip_day_is_a_day_with_a_position_outside_the_city():
    """The contract's reading: Wednesday evening's drive to the airport and Friday morning's ride home hold no
    position outside the city, so both are commute days (the trip's fix in Beijing is on Thursday)."""
    loc = _overnight_trip(back_days=1)
    assert _days(commute_deviation(ctx_of(logins=logins([]), locations=loc)).collect()) == ["2024-03-06",
                                                                                          "2024-03-08"]


def test_trip_edge_hours_makes_the_days_a_trip_starts_and_ends_trip_days(tmp_path):
    """With trip_edge_hours = 24, the day of the last position in the city before the fix in Beijing (Wednesday,
    15 h before) and of the first after it (Friday 08:30, 22.5 h after) are trip days too."""
    assert commute_deviation(_edge_ctx(tmp_path, _overnight_trip(back_days=1), 24)).collect().height == 0


def test_a_day_far_from_a_trip_stays_a_commute_day(tmp_path):
    """Back on the next Monday (4 days after the fix in Beijing): Monday's ride is a commute again; Wednesday,
    15 h before the trip's fix, is still its start."""
    assert _days(commute_deviation(_edge_ctx(tmp_path, _overnight_trip(back_days=4), 24)).collect()) == [
        "2024-03-11"]


def test_detour_under_one_km_is_quiet_even_at_a_high_ratio():
    close_work = (31.2358, 121.4737)  # work 600 m from home: a 0.2 km detour is a big ratio but < 1 km
    p = (31.2331, 121.4763)
    loc = pings("u1", routine("u1", START, 14, work=close_work) + [(local(WED, 8, 30), p)])
    ctx = ctx_of(logins=logins([]), locations=loc)
    assert home_work(ctx)["work_days"].to_list() == [10]
    assert commute_deviation(ctx).collect().height == 0


def test_stable_commute_bonus():
    loc = pings("u1", routine("u1", START, 200))
    df = stable_commute(ctx_of(logins=logins([]), locations=loc)).collect()
    assert df.height == 1 and df["points"][0] == 24
    ev = json.loads(df["evidence"][0])
    # 144 working weekdays; the last night's 03:00 ping falls on a 145th weekday without work
    assert (ev["weekdays_with_positions"], ev["weekdays_at_work"], ev["span_days"]) == (145, 144, 199)
    assert df["summary"][0] == "At work in Pudong by 10:00 on 99% of 145 weekdays over 199 days"
    # the inferred places, not only their cities
    assert (ev["home_lat"], ev["home_lon"], ev["work_lat"], ev["work_lon"]) == pytest.approx((*SH, *SH_WORK))
    short = pings("u1", routine("u1", START, 150))
    assert stable_commute(ctx_of(logins=logins([]), locations=short)).collect().height == 0


def _station_commuter(station_m: float, station_acc_m: float = 20.0) -> pl.DataFrame:
    """200 days: nights at home; on weekdays a ping at 08:30 at a station ``station_m`` north of the office (the
    only fix in the arrival hours; accuracy ``station_acc_m``) and two at the office (11:00, 14:00). The office
    lies 10 m into a 200 m grid cell, so a station 380 m north falls into the next cell: the office's cell block."""
    k0 = int(SH_WORK[0] * M_PER_DEG // 200)
    office = ((k0 * 200 + 10) / M_PER_DEG, SH_WORK[1])
    station = ((k0 * 200 + 10 + station_m) / M_PER_DEG, SH_WORK[1])
    rows, mornings = [], []
    for d in (START + timedelta(days=i) for i in range(200)):
        rows += [(local(d, 23), SH), (local(d + timedelta(days=1), 3), SH)]
        if d.weekday() < 5:
            rows += [(local(d, 11), office), (local(d, 14), office)]
            mornings.append((local(d, 8, 30), station))
    return pl.concat([pings("u1", rows), pings("u1", mornings, acc=station_acc_m)])


def test_stable_commute_counts_fixes_at_the_place_not_in_its_cell_block():
    """A station 380 m from the office, in the cell next to it, is not the work place (~200 m): no bonus; one
    150 m away is at work."""
    far = stable_commute(ctx_of(logins=logins([]), locations=_station_commuter(380))).collect()
    assert far.height == 0
    near = stable_commute(ctx_of(logins=logins([]), locations=_station_commuter(150))).collect()
    assert near.height == 1 and json.loads(near["evidence"][0])["weekdays_at_work"] == 144


def test_a_fix_whose_accuracy_disc_reaches_the_place_is_at_the_place():
    """An indoor fix 300 m from the office reporting 150 m accuracy may well be at the office (its disc reaches the
    place's 200 m): at work, as the contract's distance rules allow for the radius. With 20 m it is not (before,
    offices whose indoor fixes scatter ~100 m lost the bonus or kept it depending on where the grid lines fell)."""
    indoor = stable_commute(ctx_of(logins=logins([]), locations=_station_commuter(300, 150.0))).collect()
    assert indoor.height == 1 and json.loads(indoor["evidence"][0])["weekdays_at_work"] == 144
    outdoor = stable_commute(ctx_of(logins=logins([]), locations=_station_commuter(300, 20.0))).collect()
    assert outdoor.height == 0


WORK_10KM = (SH[0], SH[1] + 0.10519)  # 10 km east of home
# on the perpendicular through the route's midpoint, sqrt(11) km north: 6 + 6 km via it, deviation 0.20
SIDE = (SH[0] + 3.3166 / 111.195, SH[1] + 0.10519 / 2)


def _side_fix(acc_m: float) -> pl.DataFrame:
    base = pings("u1", routine("u1", START, 14, work=WORK_10KM))
    return pl.concat([base, pings("u1", [(local(WED, 8, 30), SIDE)], acc=acc_m)])


def test_the_accuracy_allowance_follows_the_angle_at_the_fix():
    """A fix off to the side of a 10 km route (deviation 0.20, angle home-P-work 113 degrees) with a 300 m
    radius: every point of its disc lies outside the 0.15 ellipse (its detour shrinks by at most 2 cos(a/2) x
    300 m = 0.33 km, not 0.6), so it is flagged; with a 500 m radius the disc reaches inside and it is not."""
    d = great_circle(SH, WORK_10KM).km
    d1, d2 = great_circle(SH, SIDE).km, great_circle(SIDE, WORK_10KM).km
    raw = d1 + d2 - d
    df = commute_deviation(ctx_of(logins=logins([]), locations=_side_fix(300.0))).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    net = raw - _allowance(d1, d2, d, 0.3)
    assert round(raw / d, 3) == 0.2 and round(net, 2) == 1.67
    assert ev["raw_detour_km"] == round(raw, 2) and ev["detour_km"] == round(net, 2)
    assert ev["deviation"] == round(net / d, 3)
    assert commute_deviation(ctx_of(logins=logins([]), locations=_side_fix(500.0))).collect().height == 0


def test_a_city_name_is_no_route_point_whatever_its_accuracy_setting(tmp_path):
    """A login known only by its city name (Minhang, inside Shanghai, off the route) is placed with
    city_name_accuracy_km: set below the places' 500 m it must still not count as a commute position."""
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("city_name_accuracy_km = 0.4\n")
    ctx = ScanContext.from_frames(
        load_config(cfg_file), locations=pings("u1", routine("u1", START, 14)),
        logins=logins([{"ts": local(WED, 8, 0), "user_id": "u1", "city": "Minhang", "country": "CN"}]))
    from fraud.geo.positions import positions
    pos = positions(ctx).filter(pl.col("source") == "city")
    assert pos["acc_km"].to_list() == [0.4]  # placed by name, at the configured radius
    assert commute_deviation(ctx).collect().height == 0


def test_a_fix_at_another_place_the_user_sleeps_at_is_no_route_point():
    """A user moves 3.5 km north three weeks into the data (the old flat keeps the most nights, so it stays the
    scan's home): a morning fix at the new flat is at home, not a 'deviation' (every weekday after the move was
    one). A day after a night at the new flat is no commute day at all: its route starts there, not at the scan's
    home (a detour fix then is not judged); a detour on a day after a night at home still is one."""
    new_home = OFF  # 3.5 km north of the home-work line
    moved = START + timedelta(days=21)
    rows = routine("u1", START, 21) + routine("u1", moved, 14, home=new_home)
    rows += [(local(d, 8, 0), new_home) for d in (moved + timedelta(days=i) for i in range(14)) if d.weekday() < 5]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    hw = home_work(ctx).row(0, named=True)
    assert (hw["home_lat"], hw["home_nights"]) == (pytest.approx(SH[0]), 21)
    assert commute_deviation(ctx).collect().height == 0
    detour = (31.2200, 121.5300)  # off the old and the new route, no night there
    wed, before = moved + timedelta(days=2), moved - timedelta(days=5)
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows + [(local(d, 8, 30), detour) for d in (wed, before)]))
    assert _days(commute_deviation(ctx).collect()) == [before.isoformat()]
    # indoor scatter at the new flat: a fix 230 m off it reporting 120 m accuracy is at the flat too (its disc
    # reaches the place); one reporting 20 m is not, and is a deviation
    off_flat = (new_home[0] + 0.230 / 111.195, new_home[1])
    for acc_m, days in ((120.0, []), (20.0, [before.isoformat()])):
        scatter = pl.concat([pings("u1", rows), pings("u1", [(local(before, 8, 30), off_flat)], acc=acc_m)])
        assert _days(commute_deviation(ctx_of(logins=logins([]), locations=scatter)).collect()) == days, acc_m


def test_the_working_week_is_a_setting(tmp_path):
    """A Sunday-Thursday week (work_days = [7, 1, 2, 3, 4]): a detour on a Sunday morning is a commute deviation
    there, and no weekday at all in the default Monday-Friday week."""
    rows = []
    for i in range(21):
        d = START + timedelta(days=i)
        rows += [(local(d, 23), SH), (local(d + timedelta(days=1), 3), SH)]
        if d.isoweekday() in (7, 1, 2, 3, 4):
            rows += [(local(d, 9, 30), SH_WORK), (local(d, 14), SH_WORK), (local(d, 20, 30), SH)]
    sunday = START + timedelta(days=13)
    loc = pings("u1", rows + [(local(sunday, 8, 40), OFF)])
    assert commute_deviation(ctx_of(logins=logins([]), locations=loc)).collect().height == 0
    cfg_file = tmp_path / "week.toml"
    cfg_file.write_text('[rules."geo.commute_deviation"]\nwork_days = [7, 1, 2, 3, 4]\n')
    df = commute_deviation(ScanContext.from_frames(load_config(cfg_file), locations=loc)).collect()
    assert json.loads(df["evidence"][0])["day"] == "2024-03-17" and df["summary"][0].startswith("On Sun 2024-03-17")


def test_the_drive_from_a_flat_left_before_a_move_is_no_deviation():
    """Three weeks at an old flat 3.5 km north, then four at the home (most nights): each morning's drive from the
    old flat, halfway to work, left the home-work ellipse (a finding per commute day). Those days follow nights
    away from home: no commute days. The same drive after a night at home is a deviation."""
    old, moved = OFF, START + timedelta(days=21)
    half = ((OFF[0] + SH_WORK[0]) / 2, (OFF[1] + SH_WORK[1]) / 2)
    rows = routine("u1", START, 21, home=old) + routine("u1", moved, 28)
    rows += [(local(d, 8, 30), half) for d in (START + timedelta(days=i) for i in range(21)) if d.weekday() < 5]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    assert home_work(ctx)["home_nights"].to_list() == [28]
    assert commute_deviation(ctx).collect().height == 0
    after = moved + timedelta(days=2)
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows + [(local(after, 8, 30), half)]))
    assert _days(commute_deviation(ctx).collect()) == [after.isoformat()]


def _north_m(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / M_PER_DEG, point[1]


def test_a_lone_night_fix_near_home_is_no_night_away():
    """Tuesday night's only fix lies 290 m north of the flat (20 m radius: at no place), Wednesday 08:40 the
    commute leaves the ellipse. The fix is within a place's reach of home (400 m): no night elsewhere, Wednesday is
    a commute day and its deviation is flagged. The same lone fix 3 km away is a night elsewhere: no commute day
    (it silenced two days' checks for a flat's indoor scatter)."""
    tue = START + timedelta(days=1)
    base = [r for r in routine("u1", START, 14) if r[0] not in (local(tue, 23), local(WED, 3))]
    for far_m, flagged in ((290, 1), (3000, 0)):
        rows = base + [(local(tue, 23), _north_m(SH, far_m)), (local(WED, 8, 40), OFF)]
        df = commute_deviation(ctx_of(logins=logins([]), locations=pings("u1", rows))).collect()
        assert _days(df) == [WED.isoformat()] * flagged
