"""Places, home and work, and the geo.places profile part."""
from datetime import date, timedelta

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.geo.clusters import M_PER_DEG
from fraud.geo.places import home_ref, home_work, placed_positions
from fraud.geo.profile import places_part
from tests.geo.helpers import SH, SH_WORK, ctx_of, local, logins, pings, routine

START = date(2024, 3, 4)  # a Monday


def test_home_and_work_with_support_and_city_names():
    ctx = ctx_of(logins=logins([]), locations=pings("u1", routine("u1", START, 14)))
    hw = home_work(ctx).row(0, named=True)
    assert (hw["home_lat"], hw["home_lon"]) == pytest.approx(SH)
    assert (hw["work_lat"], hw["work_lon"]) == pytest.approx(SH_WORK)
    assert hw["home_nights"] == 14 and hw["work_days"] == 10
    assert hw["home_city"] == "Shanghai" and hw["home_cc"] == "CN" and hw["work_city"] == "Shanghai"
    assert hw["home_area"] == "Shanghai" and hw["work_area"] == "Pudong"  # the parts of the city, for routes


def test_a_place_split_by_cell_borders_is_one_place():
    # home pings jitter +-60 m around a point: whatever cells they fall in, one place with the mean centre
    rows = []
    for i, d in enumerate([START + timedelta(days=k) for k in range(12)]):
        dlat, dlon = ((i % 3) - 1) * 0.0005, ((i % 4) - 1.5) * 0.0004
        rows.append((local(d, 23), (SH[0] + dlat, SH[1] + dlon)))
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    p = placed_positions(ctx)
    assert p.select("pi", "pj").n_unique() == 1
    hw = home_work(ctx).row(0, named=True)
    assert hw["home_nights"] == 12
    assert hw["home_lat"] == pytest.approx(p["lat"].mean()) and hw["home_lon"] == pytest.approx(p["lon"].mean())


def _north(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / M_PER_DEG, point[1]


def _home_worker(daytime_m: float) -> list:
    """Nights at home; weekdays 09:30 and 14:00 at a spot ``daytime_m`` north of home."""
    rows = []
    for d in (START + timedelta(days=i) for i in range(14)):
        rows += [(local(d, 23), SH), (local(d + timedelta(days=1), 3), SH)]
        if d.weekday() < 5:
            rows += [(local(d, 9, 30), _north(SH, daytime_m)), (local(d, 14), _north(SH, daytime_m))]
    return rows


def test_a_place_near_home_is_never_work(tmp_path):
    """A home worker whose indoor fixes by day cluster 350 m from the night fixes (a piece of the flat's
    scatter): no work place, so no commute to deviate from. 600 m away it is a work place, unless the fixes are
    too coarse to tell the two apart; with min_work_distance_m = 0 the piece is one too."""
    ctx = ctx_of(logins=logins([]), locations=pings("u1", _home_worker(350)))
    hw = home_work(ctx).row(0, named=True)
    assert hw["home_nights"] == 14 and hw["work_lat"] is None and hw["work_days"] is None
    hw = home_work(ctx_of(logins=logins([]), locations=pings("u1", _home_worker(600)))).row(0, named=True)
    assert hw["work_lat"] == pytest.approx(_north(SH, 600)[0]) and hw["work_days"] == 10
    # ... unless the fixes' accuracy radii (median, home's and the place's together) cover the distance: 350 m
    # fixes at home and by day are 600 m of indistinct place
    hw = home_work(ctx_of(logins=logins([]), locations=pings("u1", _home_worker(600), acc=350.0))).row(0, named=True)
    assert hw["work_lat"] is None
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."geo.commute_deviation"]\nmin_work_distance_m = 0\n')
    ctx = ScanContext.from_frames(load_config(cfg_file), logins=logins([]), locations=pings("u1", _home_worker(350)))
    hw = home_work(ctx).row(0, named=True)
    assert hw["work_lat"] == pytest.approx(_north(SH, 350)[0]) and hw["work_days"] == 10


def test_rare_places_are_neither_home_nor_work():
    rows = [(local(START, 23), SH), (local(START + timedelta(days=1), 23), SH), (local(START, 10), SH_WORK)]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    assert home_work(ctx).height == 0  # 2 nights < min_home_nights 3


def test_profile_part_nulls_not_zeros_and_name_fallbacks():
    loc = pings("u1", routine("u1", START, 7, work_days=False))
    lg = logins([{"ts": local(START, 12), "user_id": "u2", "city": "Hangzhou"},
                 {"ts": local(START, 13), "user_id": "u2", "city": "hangzhou "},
                 {"ts": local(START, 14), "user_id": "u2", "city": "Ningbo"},
                 {"ts": local(START, 15), "user_id": "u3"}])
    scores = pl.DataFrame({"user_id": ["u3"], "score": [600], "registered_city": ["Suzhou"],
                           "registered_country": ["CN"]})
    ctx = ctx_of(logins=lg, locations=loc, scores=scores)
    prof = places_part(ctx).collect().sort("user_id")
    assert prof.select("user_id", "home_city", "work_lat", "work_city").rows() == [
        ("u1", "Shanghai", None, None), ("u2", "Hangzhou", None, None), ("u3", "Suzhou", None, None)]
    assert prof["home_lat"].to_list()[1:] == [None, None]
    ref = home_ref(ctx).sort("user_id")
    assert ref.select("home_key", "home_cc").rows() == [(None, "CN"), ("hangzhou", "CN"), ("suzhou", "CN")]


@pytest.mark.parametrize(("home", "alt"), [
    ((52.50010, 13.42), (52.49990, 13.42)),  # a flat on the 52.5 degree line (Berlin): 22 m apart
    ((37.50010, 127.03), (37.49990, 127.03)),  # Seoul 37.5, where the old per-fix scale jumped ~750 cells
    ((-16.80, 179.99990), (-16.80, -179.99990)),  # Taveuni, Fiji: one house across the 180 degree meridian
])
def test_one_home_across_half_degree_lines_and_the_antimeridian(home, alt):
    rows = [(local(START + timedelta(days=i), h), home if h % 2 else alt) for i in range(14) for h in range(24)]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    assert placed_positions(ctx).select("pi", "pj").n_unique() == 1
    hw = home_work(ctx).row(0, named=True)
    assert hw["work_pi"] is None
    assert abs(hw["home_lat"] - (home[0] + alt[0]) / 2) < 1e-4
    assert abs(abs(hw["home_lon"]) - abs(home[1])) < 1e-3  # 179.9999 or -179.9999, not 0


@pytest.mark.parametrize(("point", "cc"), [
    ((42.3149, -83.0364), "CA"),  # downtown Windsor, Ontario: Canada, beside Detroit
    ((42.3314, -83.0458), "US"),  # downtown Detroit
    ((48.5800, 7.8150), "DE"),  # Kehl, across the Rhine from Strasbourg
    ((22.2855, 114.1577), "HK"), ((22.5431, 114.0579), "CN"),  # Hong Kong and Shenzhen
])
def test_a_place_country_follows_the_border_not_the_naming_city(point, cc):
    from fraud.geo.gazetteer import name_places
    named = name_places(pl.DataFrame({"lat": [point[0]], "lon": [point[1]]}))
    assert named["place_cc"].to_list() == [cc]


def test_users_whose_home_rules_cannot_use_a_home_place_are_counted():
    """u1 sleeps at home 14 nights (a home place); u2 has one GPS login and no names (no home at all: the "home
    city" rules cannot evaluate them); u3 has a country only (compared by country); u4 sleeps at home and has no
    work place (the commute rules cannot judge u4). Counted, not called clean."""
    ctx = ctx_of(logins=logins([{"ts": local(date(2024, 3, 4), 9), "user_id": "u2", "lat": 39.9, "lon": 116.4},
                                {"ts": local(date(2024, 3, 4), 9), "user_id": "u3", "country": "CN"}]),
                 locations=pl.concat([pings("u1", routine("u1", date(2024, 3, 4), 14)),
                                      pings("u4", routine("u4", date(2024, 3, 4), 14, work_days=False))]))
    assert home_ref(ctx)["home_cc"].to_list() == ["CN", None, "CN", "CN"]
    assert ctx.notes["geo.home"] == {"users_with_positions_without_home_place": 2,
                                     "users_with_positions_without_any_home": 1,
                                     "users_with_home_place_without_work_place": 1}


def test_home_ties_on_nights_go_to_the_place_with_more_time_not_more_fixes():
    """Two flats 2 km apart, 5 nights each: A with two fixes a night two hours apart (an hour of the night
    each: 3,600 s a night), B with five fixes within a minute (a burst: ~1,860 s a night, though 2.5x the fixes).
    Home is A, where the user spends the time; counted by fixes, it was B."""
    a, b = SH, (SH[0] + 2000 / M_PER_DEG, SH[1])
    rows = []
    for i in range(10):
        d = START + timedelta(days=i)
        if i % 2 == 0:
            rows += [(local(d, 23), a), (local(d + timedelta(days=1), 1), a)]
        else:
            rows += [(local(d, 23) + timedelta(seconds=15 * k), b) for k in range(5)]
    hw = home_work(ctx_of(logins=logins([]), locations=pings("u1", rows))).row(0, named=True)
    assert hw["home_nights"] == 5 and (hw["home_lat"], hw["home_lon"]) == pytest.approx(a)
