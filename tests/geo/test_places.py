"""Places, home and work, and the geo.places profile part."""
from datetime import date, timedelta

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.geo.places import M_PER_DEG, _link, home_ref, home_work, placed_positions
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


def test_cells_link_to_the_busiest_neighbour_ties_to_the_lowest_grid_position():
    """Each cell follows the busiest cell of its 3x3 block (itself included) to a local maximum; equal counts go
    to the lowest grid position (row, then column); users never link across."""
    cells = pl.DataFrame(
        [("u", 0, 0, 5), ("u", 0, 1, 5),  # a tie: both to (0, 0)
         ("u", 10, 10, 2), ("u", 11, 11, 4), ("u", 12, 12, 9),  # a chain up to (12, 12)
         ("u", 20, 21, 3), ("u", 21, 20, 3), ("u", 21, 21, 1),  # a diagonal tie: the lower row wins
         ("v", 0, 1, 1)],  # another user's cell next to u's busy ones
        schema={"user_id": pl.String, "ci": pl.Int64, "cj": pl.Int64, "n": pl.UInt32}, orient="row")
    got = _link(cells).sort("user_id", "ci", "cj").rows()
    assert got == [("u", 0, 0, 0, 0), ("u", 0, 1, 0, 0),
                   ("u", 10, 10, 12, 12), ("u", 11, 11, 12, 12), ("u", 12, 12, 12, 12),
                   ("u", 20, 21, 20, 21), ("u", 21, 20, 20, 21), ("u", 21, 21, 20, 21),
                   ("v", 0, 1, 0, 1)]


def test_a_place_stays_about_one_cell_across():
    """A busy office cell and a queue on the road into it, every 150 m out to 900 m east, each spot busier than
    the one farther out: the links chain cell by cell to the office (they did: the whole road was "at work"),
    but only cells within one cell (~200 m) of the office cell are the office place."""
    m_per_deg_lon = 111_195 * 0.8555  # cos(31.24 deg)
    rows = []
    for d in (START + timedelta(days=i) for i in range(10)):
        rows += [(local(d, 10, m), SH_WORK) for m in range(0, 50)] * 2  # 100 fixes at the office
        for n, metres in ((1, 900), (2, 750), (4, 600), (8, 450), (16, 300), (32, 150)):  # halving outwards
            rows += [(local(d, 8, j), (SH_WORK[0], SH_WORK[1] + metres / m_per_deg_lon)) for j in range(n)]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    p = placed_positions(ctx).with_columns(
        ((pl.col("lon") - SH_WORK[1]) * m_per_deg_lon).round(0).alias("east_m"))
    office = p.filter(pl.col("east_m") == 0).select("pi", "pj").unique()
    assert office.height == 1
    at_office = p.join(office, on=["pi", "pj"], how="semi")
    # the office's cell block holds the spots at 150 and 300 m; only those within 200 m of the office cell's
    # mean (the office) are the office: the 300 m spot is at the place 150 m from it, the 450 m spot's
    assert sorted(at_office["east_m"].unique().to_list()) == [0, 150]
    spot = p.filter(pl.col("east_m") == 450).select("pi", "pj").unique()
    assert p.filter(pl.col("east_m") == 300).join(spot, on=["pi", "pj"], how="semi").height == 160
    assert p.filter(pl.col("east_m") >= 450).join(office, on=["pi", "pj"], how="semi").height == 0


def test_a_place_is_its_positions_within_place_radius_of_the_block_centre():
    """Two flats 256 m apart along a meridian, in neighbouring cells: 30 nights at one, 20 at the other, and a
    third flat 1 km away with 40 nights. The cell block holds both near flats (50 nights together), but the
    place is only the positions within 200 m of its busiest cell: the 1 km flat's 40 nights make it home."""
    cell = 200.0
    k0 = int(SH[0] * M_PER_DEG // cell)
    a = ((k0 * cell + 10) / M_PER_DEG, SH[1])
    b = ((k0 * cell + 10 + 256) / M_PER_DEG, SH[1])
    c = ((k0 * cell + 10 + 1000) / M_PER_DEG, SH[1])
    rows = [(local(START + timedelta(days=i), 23), a) for i in range(30)]
    rows += [(local(START + timedelta(days=30 + i), 23), b) for i in range(20)]
    rows += [(local(START + timedelta(days=50 + i), 23), c) for i in range(40)]
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    p = placed_positions(ctx)
    assert p.filter(pl.col("lat") == b[0])["pi"].null_count() == 20  # 256 m from a: at no place
    hw = home_work(ctx).row(0, named=True)
    assert hw["home_nights"] == 40 and hw["home_lat"] == pytest.approx(c[0])


def test_cells_too_far_from_a_place_cluster_among_themselves():
    """A busy cell, a road cell next to it, and a spot ~10 m across on the border of the 2nd and 3rd cells out:
    the spot is not part of the busy place, and it stays one place (it was split into two single cells)."""
    cell = 200.0
    k0 = int(31.23 * M_PER_DEG // cell)

    def at(metres: float) -> tuple[float, float]:
        return ((k0 * cell + metres) / M_PER_DEG, 121.4737)

    rows = []
    for d in (START + timedelta(days=i) for i in range(10)):
        rows += [(local(d, 2, m), at(100)) for m in range(10)] + [(local(d, 8, m), at(300)) for m in range(5)]
        rows += [(local(d, 12, 0), at(595)), (local(d, 12, 1), at(605))]
    p = placed_positions(ctx_of(logins=logins([]), locations=pings("u1", rows)))
    spot = p.filter(pl.col("local_ts").dt.hour() == 12)
    assert spot["ci"].n_unique() == 2 and spot.select("pi", "pj").n_unique() == 1
    busy = p.filter(pl.col("local_ts").dt.hour() == 2).select("pi", "pj").unique()
    assert spot.join(busy, on=["pi", "pj"], how="semi").height == 0


@pytest.mark.parametrize("offset_m", [10, 60, 110, 160, 190])
@pytest.mark.parametrize("sign", [1, -1])
def test_a_fix_reaching_a_place_is_at_it_wherever_the_grid_lines_fall(offset_m, sign):
    """An office ``offset_m`` into its 200 m grid cell (100 fixes, 20 m radius), and 4 fixes north (``sign`` 1)
    or south of it: 250 m off with a 150 m radius they reach the office's 200 m disc and are at the office; with a
    20 m radius they are not; 450 m off they are not, whatever their radius (400 m at most from a place's
    centre). The 250 m fixes fell in the office's cell block or two cells away depending on the offset: the
    oracle audit's four fixes north kept the stable-commute bonus, south they did not."""
    cell = 200.0
    k0 = int(SH_WORK[0] * M_PER_DEG // cell)
    office = ((k0 * cell + offset_m) / M_PER_DEG, SH_WORK[1])
    frames = []
    for user, metres, acc in (("reach", 250, 150.0), ("sharp", 250, 20.0), ("far", 450, 400.0)):
        spot = (office[0] + sign * metres / M_PER_DEG, office[1])
        at_office = [(local(START + timedelta(days=d), 11, m), office) for d in range(10) for m in range(10)]
        frames += [pings(user, at_office), pings(user, [(local(START + timedelta(days=d), 8), spot)
                                                        for d in range(4)], acc=acc)]
    p = placed_positions(ctx_of(logins=logins([]), locations=pl.concat(frames)))
    office_place = p.filter(pl.col("lat") == office[0]).select("user_id", "pi", "pj").unique()
    assert office_place.height == 3  # one office place per user
    spot_at_office = (p.filter(pl.col("lat") != office[0]).join(office_place, on=["user_id", "pi", "pj"], how="semi")
                      .group_by("user_id").len())
    assert dict(spot_at_office.iter_rows()) == {"reach": 4}


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
