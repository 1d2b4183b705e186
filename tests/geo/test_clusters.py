"""Place clustering: cells, blocks, seeds and who is at which place (fraud.geo.clusters)."""
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from fraud.geo.clusters import M_PER_DEG, MAX_DWELL_S, STAY_EDGE_S, _link, with_dwell_ms
from fraud.geo.places import home_work, placed_positions
from tests.geo.helpers import SH, SH_WORK, ctx_of, local, logins, pings

START = date(2024, 3, 4)  # a Monday


def test_cells_link_to_the_busiest_neighbour_ties_to_the_lowest_grid_position():
    """Each cell follows the busiest cell of its 3x3 block (itself included) to a local maximum; equal counts go
    to the lowest grid position (row, then column); users never link across."""
    cells = pl.DataFrame(
        [("u", 0, 0, 5), ("u", 0, 1, 5),  # a tie: both to (0, 0)
         ("u", 10, 10, 2), ("u", 11, 11, 4), ("u", 12, 12, 9),  # a chain up to (12, 12)
         ("u", 20, 21, 3), ("u", 21, 20, 3), ("u", 21, 21, 1),  # a diagonal tie: the lower row wins
         ("v", 0, 1, 1)],  # another user's cell next to u's busy ones
        schema={"user_id": pl.String, "ci": pl.Int64, "cj": pl.Int64, "n": pl.UInt32}, orient="row")
    got = _link(cells).select("user_id", "ci", "cj", "pi", "pj").sort("user_id", "ci", "cj").rows()
    assert got == [("u", 0, 0, 0, 0), ("u", 0, 1, 0, 0),
                   ("u", 10, 10, 12, 12), ("u", 11, 11, 12, 12), ("u", 12, 12, 12, 12),
                   ("u", 20, 21, 20, 21), ("u", 21, 20, 20, 21), ("u", 21, 21, 20, 21),
                   ("v", 0, 1, 0, 1)]


def test_a_place_stays_about_one_cell_across():
    """A busy office cell and a queue on the road into it, every 150 m out to 900 m east, each spot busier than
    the one farther out: the links chain cell by cell to the office (they did: the whole road was "at work"),
    but only cells within one cell (~200 m) of the office cell are the office place. A fix a minute from home
    (07:59) through the queue to the office, so each queue fix stands for a minute (places weigh fixes by time)."""
    m_per_deg_lon = 111_195 * 0.8555  # cos(31.24 deg)
    rows = []
    for d in (START + timedelta(days=i) for i in range(10)):
        rows.append((local(d, 7, 59), SH))  # 2.6 km west
        minute = 8 * 60
        for n, metres in ((1, 900), (2, 750), (4, 600), (8, 450), (16, 300), (32, 150)):  # halving outwards
            for _ in range(n):
                rows.append((local(d, minute // 60, minute % 60), (SH_WORK[0], SH_WORK[1] + metres / m_per_deg_lon)))
                minute += 1
        for _ in range(50):  # 100 fixes at the office, two a minute
            rows += [(local(d, minute // 60, minute % 60), SH_WORK)] * 2
            minute += 1
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows))
    p = placed_positions(ctx).with_columns(
        ((pl.col("lon") - SH_WORK[1]) * m_per_deg_lon).round(0).alias("east_m"))
    office = p.filter(pl.col("east_m") == 0).select("pi", "pj").unique()
    assert office.height == 1
    at_office = p.join(office, on=["pi", "pj"], how="semi")
    # the office's cell block holds the spots at 150 and 300 m; only those within 200 m of the office's seed are
    # the place: the 300 m spot is at no place (the spots farther out are no place of their own either: each is
    # denser towards the office, so their seeds settle on it)
    assert sorted(at_office["east_m"].unique().to_list()) == [0, 150]
    assert p.filter(pl.col("east_m") == 300)["pi"].null_count() == 160
    assert p.filter(pl.col("east_m") >= 450)["pi"].null_count() == 150
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


@pytest.mark.parametrize("sign", [1, -1])
def test_blocks_find_places_in_reach_across_the_squares_they_are_matched_in(sign):
    """Blocks meet the places in their reach square by square (``REACH_SQUARE_CELLS``): the office and its 250 m
    fixes (150 m radius, at the office) moved cell by cell through a whole square, so that the square's edge falls
    between them at every position. Every user's four fixes stay at the office."""
    from fraud.geo.clusters import REACH_SQUARE_CELLS
    cell = 200.0
    k0 = int(SH_WORK[0] * M_PER_DEG // cell)
    frames = []
    for shift in range(REACH_SQUARE_CELLS + 1):
        office = ((k0 * cell + 190 + shift * cell) / M_PER_DEG, SH_WORK[1])
        spot = (office[0] + sign * 250 / M_PER_DEG, office[1])
        at_office = [(local(START + timedelta(days=d), 11, m), office) for d in range(10) for m in range(10)]
        frames += [pings(f"u{shift}", at_office), pings(f"u{shift}", [(local(START + timedelta(days=d), 8), spot)
                                                                      for d in range(4)], acc=150.0)]
    p = placed_positions(ctx_of(logins=logins([]), locations=pl.concat(frames)))
    per_user = p.group_by("user_id").agg(pl.struct("pi", "pj").n_unique().alias("places"),
                                         pl.col("pi").null_count().alias("nowhere"))
    assert per_user["places"].to_list() == [1] * (REACH_SQUARE_CELLS + 1)
    assert per_user["nowhere"].to_list() == [0] * (REACH_SQUARE_CELLS + 1)


@pytest.mark.parametrize("shift_m", [0, 25, 50, 75, 100, 125, 150, 175])
def test_a_place_is_centred_on_its_densest_spot_wherever_the_grid_lines_fall(shift_m):
    """A flat whose indoor fixes fall in two clumps 150 m apart (9 nights west, 10 east, 10 m radius), and one
    night's fix 290 m east of the middle (20 m radius), everything shifted ``shift_m`` east. The place's disc is
    centred where the fixes are densest (the mean of those within 200 m, settled), 4 m east of the middle whatever
    the shift: the clumps are home, the lone fix is not (286 m off). Its disc was centred on the busiest cell's
    mean: the east clump when a grid line split the clumps (the lone fix 215 m off: at home), the middle when not."""
    k0 = int(SH[0] * M_PER_DEG // 200)
    m_per_deg_lon = M_PER_DEG * 0.8555  # cos(31.24 deg)
    middle = ((k0 * 200 + 100) / M_PER_DEG, SH[1] + shift_m / m_per_deg_lon)

    def east(metres: float) -> tuple[float, float]:
        return middle[0], middle[1] + metres / m_per_deg_lon

    rows = [(local(START + timedelta(days=i), 23), east(-75)) for i in range(9)]
    rows += [(local(START + timedelta(days=9 + i), 23), east(75)) for i in range(10)]
    lone = pings("u1", [(local(START + timedelta(days=19), 23), east(290))])
    p = placed_positions(ctx_of(logins=logins([]), locations=pl.concat([pings("u1", rows, acc=10.0), lone])))
    home = p.filter(pl.col("lon") != east(290)[1]).select("pi", "pj").unique()
    assert home.height == 1 and home["pi"][0] is not None
    assert p.join(home, on=["pi", "pj"], how="semi").height == 19
    hw = home_work(ctx_of(logins=logins([]), locations=pl.concat([pings("u1", rows, acc=10.0), lone]))).row(
        0, named=True)
    assert (hw["home_lon"] - middle[1]) * m_per_deg_lon == pytest.approx(75 / 19, abs=0.01)


def test_blocks_whose_seeds_settle_on_one_spot_are_one_place():
    """Ten fixes 150 m into a row of cells, five at 250 m, three at 410 m (two cells from the busiest: a block of
    their own). Both seeds settle about 40 m apart, on the fixes at 150-250 m: one place, the one whose seed has more
    positions within 200 m (all 18, the 410 m fixes 189 m off it). As two places on one spot, the 410 m fixes were
    a place of their own."""
    k0 = int(SH[0] * M_PER_DEG // 200)
    m_per_deg_lon = M_PER_DEG * 0.8555  # cos(31.24 deg)
    j0 = (SH[1] * m_per_deg_lon) // 200 * 200  # a cell's west edge, near SH

    def east(metres: float) -> tuple[float, float]:
        return (k0 * 200 + 100) / M_PER_DEG, (j0 + metres) / m_per_deg_lon

    rows = [(local(START + timedelta(days=i), 12), east(m)) for i, m in enumerate([150] * 10 + [250] * 5 + [410] * 3)]
    p = placed_positions(ctx_of(logins=logins([]), locations=pings("u1", rows)))
    assert p["pi"].null_count() == 0 and p.select("pi", "pj").n_unique() == 1


@pytest.mark.parametrize("shift_m", [0, 25, 50, 75, 100, 125, 150, 175])
def test_a_fix_within_reach_of_two_places_as_big_goes_to_the_nearer(shift_m):
    """Two flats 380 m apart along a parallel, 21 positions within 200 m of each seed (20 fixes and a 200 m-radius
    fix 170 m from A towards B at one, 21 fixes at the other), everything shifted ``shift_m`` east. The 200 m fix
    reaches both places (210 m from B): it is at A, the nearer, wherever the grid lines fall. It went with the cell
    block the grid put it in (at B for some shifts), as big places kept what their blocks held."""
    k0 = int(SH[0] * M_PER_DEG // 200)
    m_per_deg_lon = M_PER_DEG * 0.8555  # cos(31.24 deg)
    lat = (k0 * 200 + 100) / M_PER_DEG

    def east(metres: float) -> tuple[float, float]:
        return lat, SH[1] + (shift_m + metres) / m_per_deg_lon

    rows = [(local(START + timedelta(days=i), 23), east(0)) for i in range(20)]
    rows += [(local(START + timedelta(days=20 + i), 23), east(380)) for i in range(21)]
    lone = pings("u1", [(local(START + timedelta(days=41), 23), east(170))], acc=200.0)
    p = placed_positions(ctx_of(logins=logins([]), locations=pl.concat([pings("u1", rows, acc=10.0), lone])))
    a = p.filter(pl.col("lon") == east(0)[1]).select("pi", "pj").unique()
    assert a.height == 1 and p.filter(pl.col("lon") == east(170)[1]).select("pi", "pj").rows() == a.rows()


def test_a_position_stands_for_half_the_gaps_around_its_instant():
    """Each position weighs half the gap to its user's previous instant and half to the next (milliseconds), each
    gap at most MAX_DWELL_S (a user's first and last count it in full), at least 1 ms; the positions of one
    instant share its time evenly. Half of a gap over STAY_EDGE_S (60 s) goes to the most accurate position within
    a minute of it whose accuracy disc meets the edge position's (all here lie at one spot), ties to the nearest the
    gap. User a: fixes at 0 (300 m radius), 10 (20 m and 50 m), 70 (20 m)
    and 7270 s: the 15 minutes before 0 go to the 20 m fix at 10 s, those after 70 s to the fix at 70 s (as
    accurate as the one at 10 s, nearer the gap). Every user's weights add up to the time they stand for."""
    t0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
    at = [("a", 0, 0.3), ("a", 10, 0.02), ("a", 10, 0.05), ("a", 70, 0.02), ("a", 7270, 0.1), ("b", 5, 0.1),
          ("c", 0, 0.02), ("c", 0, 0.02), ("c", 0, 0.02)]
    df = pl.DataFrame({"user_id": [u for u, _, _ in at], "ts": [t0 + timedelta(seconds=s) for _, s, _ in at],
                       "lat": [SH[0]] * len(at), "lon": [SH[1]] * len(at), "acc_km": [a for _, _, a in at]},
                      schema={"user_id": pl.String, "ts": pl.Datetime("us", "UTC"), "lat": pl.Float64,
                              "lon": pl.Float64, "acc_km": pl.Float64})
    got = with_dwell_ms(df.lazy()).collect()["_w"].to_list()
    assert (MAX_DWELL_S, STAY_EDGE_S) == (1800, 60)
    cap, half = 1_800_000, 900_000
    assert got == [10_000 // 2, 70_000 // 4 + half, 70_000 // 4, 60_000 // 2 + half, cap, cap,
                   cap // 3, cap // 3, cap // 3]
    assert sum(got[:5]) == (900 + 10 + 60 + 1800 + 900) * 1000


def test_a_coarse_first_fix_of_a_burst_does_not_take_the_nights_time():
    """Each night a burst of ten fixes two seconds apart, the first (as a phone's fix on waking often is) 300 m
    north with a 300 m radius, the others 20 m. The half hour before the burst goes to its sharpest fix nearest the
    gap (the second): home lies at the flat (0.17 m off); with the gap's half on the edge fix, the coarse fix weighed
    half of every night and home lay 149 m north (counting fixes: 30 m)."""
    bad = (SH[0] + 300 / M_PER_DEG, SH[1])
    frames = []
    for i in range(10):
        t = local(START + timedelta(days=i), 23)
        frames += [pings("u1", [(t, bad)], acc=300.0),
                   pings("u1", [(t + timedelta(seconds=2 * k), SH) for k in range(1, 10)], acc=20.0)]
    hw = home_work(ctx_of(logins=logins([]), locations=pl.concat(frames))).row(0, named=True)
    assert hw["home_nights"] == 10 and hw["home_lon"] == pytest.approx(SH[1], abs=1e-12)
    assert (hw["home_lat"] - SH[0]) * M_PER_DEG == pytest.approx(0.165, abs=0.001)


def test_a_flat_is_centred_where_the_time_is_not_where_the_track_is_dense():
    """A flat with one indoor fix a night (10 m radius) and a commute track out of its door and back each day, a
    fix every 10 s at 1.5 m/s east (15 m apart, 10 m radius). Within 200 m of the door the track holds 14 fixes a
    trip and the flat one a night: counted by fixes, home was the road 191 m east of the door (the seed climbed the
    track); weighed by the time each fix stands for (10 s on the track, half an hour indoors), home is 8 m east."""
    m_per_deg_lon = M_PER_DEG * 0.8555  # cos(31.24 deg)
    rows = []
    for d in (START + timedelta(days=i) for i in range(20)):
        rows.append((local(d, 23), SH))
        for start_h, direction in ((8, 1), (18, -1)):
            t = local(d, start_h)
            for k in range(80):
                metres = 15 * k if direction == 1 else 15 * (79 - k)
                rows.append((t + timedelta(seconds=10 * k), (SH[0], SH[1] + metres / m_per_deg_lon)))
    ctx = ctx_of(logins=logins([]), locations=pings("u1", rows, acc=10.0))
    hw = home_work(ctx).row(0, named=True)
    assert hw["home_nights"] == 20 and hw["home_lat"] == pytest.approx(SH[0], abs=1e-9)
    assert 0 < (hw["home_lon"] - SH[1]) * m_per_deg_lon < 10
