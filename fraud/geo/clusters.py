"""Places as clusters of precise positions (contract section 5): the grid, the cell blocks, the seeds and who is
at which place. :mod:`fraud.geo.places` infers home and work from them.

Positions fall into a grid of cells ``place_radius_m`` (200 m) across; each cell joins the busiest cell of its
3x3 neighbourhood, followed up to three hops, so a place split by a cell border is one place; cells more than one
cell from the busiest cell they lead to are clustered again among themselves (fixes on the road into a busy place
are not at it). Each such block's place is centred on its seed: the mean of its busiest cell, moved to the densest
spot near it (:func:`_settle_seeds`), so that it does not depend on where the grid lines fall. The place is the
positions within ``place_radius_m`` of the seed, allowing for their accuracy radius up to twice
``place_radius_m``; a position within that reach of a place bigger than its own (the grid may have put it in
another block) is at the biggest such place.

Every count here is of time, not of fixes: a position weighs the time it stands for (:func:`with_dwell_ms`), so
"busiest", "densest" and "bigger" mean where the user spent the most time, and a commute track logged every few
seconds does not outweigh the flat it leaves from.
"""
from __future__ import annotations

import math

import polars as pl

from fraud.geo.distance import haversine_km
from fraud.geo.positions import PRECISE_SOURCES

M_PER_DEG = 6371008.8 * math.pi / 180  # metres per degree of latitude (mean Earth radius)
HOPS = 3
RELINK_PASSES = 3  # rounds of clustering the cells that lie too far from their place among themselves
REACH_CELLS = 2  # a position farther than this many cells from a place's seed is never at the place
REACH_SQUARE_CELLS = 8  # blocks find the places within their reach among those of the squares this many cells across
SEED_PASSES = 50  # rounds moving a place's seed to the mean of the positions within place_radius_m of it
SEED_STILL_M = 0.5  # a seed that moved less than this (metres, either axis) has settled
SUB_CELL_M = 10  # seeds settle on the positions summed per square of this size (metres)
COORD_UNITS = 10_000_000  # coordinates summed in whole 1e-7 degrees (~1 cm)
# A position stands for the time around it: half the gap to the user's previous and next instants, each gap at
# most MAX_DWELL_S (seconds). A phone logs a fix every few seconds on the move and one an hour at rest.
MAX_DWELL_S = 1800
STAY_EDGE_S = 60  # a longer gap's time goes to the most accurate fix within a minute of it (a stay's edge)
# weighted coordinate sums: 9e8 units x 1.8e6 ms is 1.6e15 a fix, so 64 bits would wrap at ~5,700 fixes in a spot
SUM_TYPE = pl.Int128
MIN_LON_SCALE = 0.01  # east-west metres-per-degree factor floor (the cosine of latitude vanishes at the poles)
# Adding columns to the wide positions table in its row order: the in-memory engine keeps whole columns, the
# streaming engine (Polars' default) cuts them into morsels and stitches them back (2.5x slower here: a 1.5M-event
# slice's places took 1.8 s, 0.7 s in memory).
WIDE_ENGINE = "in-memory"
# Joining and grouping the cell tables is the other way round: the streaming engine links a 10M-event slice's
# 314k cells in 0.28 s, the in-memory engine (an eager DataFrame's) in 0.43 s.
JOIN_ENGINE = "streaming"


def wrap_lon(e: pl.Expr) -> pl.Expr:
    """A longitude (or longitude difference) in degrees brought into [-180, 180)."""
    return ((e + 180) % 360 + 360) % 360 - 180


def cluster(positions: pl.DataFrame, place_radius_m: float, max_place_accuracy_m: float) -> pl.DataFrame:
    """The precise positions of ``positions`` (lat/lon events and pings at most ``max_place_accuracy_m`` accurate;
    any columns, with user_id, lat, lon, acc_km, source) in their row order, with ``pi``, ``pj``: the key of their
    place within the user (its seed's grid cell), null for a position at no place, and ``_dlon``, ``_ref_lon``
    (longitude from the user's reference longitude), ``ci``, ``cj`` (grid cell). See the module doc."""
    cell = place_radius_m
    # Lazy, so each step reads only the columns it needs (an eager group_by on the wide frame is ~4x slower).
    p = positions.lazy().filter(
        pl.col("source").is_in(PRECISE_SOURCES) & pl.col("lat").is_not_null()
        & (pl.col("acc_km") * 1000 <= max_place_accuracy_m))
    # Longitude cells are measured from the user's mean longitude with one east-west scale per user (the
    # cosine of the median latitude): a per-fix scale jumped where the rounded latitude flips (every x.5 degree
    # line: Berlin 52.5, Seoul 37.5 split a flat in two), and a plain longitude breaks places across 180 degrees.
    rad = pl.col("lon") * math.pi / 180  # circular mean of the longitudes: 179.9 and -179.9 average to 180
    ref = p.group_by("user_id").agg(
        pl.col("lat").median().alias("_ref_lat"),
        # rounded: only needs to be central, and must not depend on summation order
        (pl.arctan2(rad.sin().mean(), rad.cos().mean()) * 180 / math.pi).round(3).alias("_ref_lon"))
    p = p.join(ref, on="user_id", how="left", maintain_order="left")
    p = with_dwell_ms(p.with_columns(wrap_lon(pl.col("lon") - pl.col("_ref_lon")).alias("_dlon")))
    scale = (pl.col("_ref_lat") * math.pi / 180).cos().clip(lower_bound=MIN_LON_SCALE)
    # materialised once: the cell counts and the final join both read it (lazily it was computed twice)
    p = p.with_columns(
        (pl.col("lat") * M_PER_DEG / cell).floor().cast(pl.Int64).alias("ci"),
        (pl.col("_dlon") * M_PER_DEG * scale / cell).floor().cast(pl.Int64).alias("cj")).collect(
        engine=WIDE_ENGINE).lazy()
    squares = _squares(p, scale)
    # summed in whole units (exact: the same seeds whatever order the rows come in, whichever engine)
    cells = squares.group_by("user_id", "ci", "cj").agg(
        pl.col("_k").sum().alias("n"), pl.col("_ylat", "_ydlon").sum(), pl.col("_ref_lat").first(),
        *(getattr(pl.col(c), f)().alias(f"_{f}_{c}") for c in ("lat", "_dlon") for f in ("min", "max"))).select(
        "user_id", "ci", "cj", "n", (pl.col("_ylat") / pl.col("n") / COORD_UNITS).alias("_seed_lat"),
        (pl.col("_ydlon") / pl.col("n") / COORD_UNITS).alias("_seed_dlon"), "_ref_lat",
        *(f"_{f}_{c}" for c in ("lat", "_dlon") for f in ("min", "max")))
    nb = _link(cells.select("user_id", "ci", "cj", "n"))
    crowded = nb.filter(pl.col("_cells3") > 1).select("user_id", "ci", "cj")  # cells with a neighbour
    nb = nb.drop("_cells3")
    # A place is about place_radius_m across: cells more than one cell from the busiest cell their links lead to
    # (the approach road to a busy office, chained cell by cell) are not part of that place. They are clustered
    # again among themselves, pass by pass; a cell still too far after the last pass is a place of its own.
    for _ in range(RELINK_PASSES):
        far = nb.filter(_far_from_place())
        if far.height == 0:
            break
        again = _link(cells.join(far.select("user_id", "ci", "cj"), on=["user_id", "ci", "cj"], how="semi"))
        nb = nb.join(again.rename({"pi": "qi", "pj": "qj"}), on=["user_id", "ci", "cj"], how="left").select(
            "user_id", "ci", "cj", pl.coalesce("qi", "pi").alias("pi"), pl.coalesce("qj", "pj").alias("pj"))
    nb = nb.with_columns(pl.when(_far_from_place()).then(pl.col("ci")).otherwise(pl.col("pi")).alias("pi"),
                         pl.when(_far_from_place()).then(pl.col("cj")).otherwise(pl.col("pj")).alias("pj"))
    # A cell block is 3 cells across: only its positions within place_radius_m of its seed are the place (a
    # station 380 m from the office was "at work" when the grid put it in the office's block, one 250 m away was
    # not; two flats 256 m apart in neighbouring cells were one home). Block positions farther out belong to no
    # place. Distances on the user's east-west scale, as the cells (exact enough at a few hundred metres).
    nb, seeds = _settle_seeds(squares, cells, crowded, nb, cell, scale)
    nb = nb.join(seeds.select("user_id", "pi", "pj", "_seed_lat", "_seed_dlon"), on=["user_id", "pi", "pj"],
                 how="left")
    # A position whose accuracy disc reaches the place's disc is at the place (contract section 5: distance rules
    # allow for the radius): indoor fixes scattered 100-150 m with honest 100-200 m radii are at the office or
    # flat they report from, while a 20 m outdoor fix 380 m off stays outside.
    # Never farther than REACH_CELLS cells from the seed, whatever the accuracy: within a cell block the farthest
    # positions lay 200-570 m off depending on where the grid lines fell.
    member = _within_reach("_seed_lat", "_seed_dlon", cell, scale)
    # still by (user_id, ts); _bi, _bj: the block's place, kept for the positions at no place
    placed = p.join(nb.lazy(), on=["user_id", "ci", "cj"], how="left", maintain_order="left").with_columns(
        pl.col("pi").alias("_bi"), pl.col("pj").alias("_bj"), *(pl.when(member).then(pl.col(c)).alias(c)
                                                               for c in ("pi", "pj"))
    ).drop("_seed_lat", "_seed_dlon").collect(engine=WIDE_ENGINE)
    return _join_bigger_in_reach(placed, seeds, cell, scale).drop("_bi", "_bj")


def with_dwell_ms(lf: pl.LazyFrame, name: str = "_w") -> pl.LazyFrame:
    """``lf`` (user_id, ts, acc_km; rows in (user_id, ts) order) with ``name``: the milliseconds each position stands
    for, as a whole number: half the gap to the user's previous instant plus half the gap to the next, each gap at
    most :data:`MAX_DWELL_S` (the user's first and last instants count it in full), shared evenly by the positions
    at that instant (a login and a ping in one second, a batch of fixes uploaded with one time stamp: together they
    stand for the instant's time, whatever their row order), at least 1 ms. Half of a gap longer than
    :data:`STAY_EDGE_S` goes to the most accurate position within :data:`STAY_EDGE_S` of it whose accuracy disc meets
    the edge position's (ties: the nearest the gap, shared by its instant's positions): a phone's first fix on waking
    is often a coarse one hundreds of metres off, and the sharp fixes seconds after it say where the stay was (a
    cold-start fix 300 m off took half of every night: home 149 m off), while a track's sharp fixes a minute up the
    road from the door are not where the night was (without the disc test, dense-track homes lay 22 m off, median,
    against 8 m).

    Places weigh positions by it, not by their number: a phone reports every 5-20 s on the move and once an
    hour or so at rest, and the fixes of a commute track near the door outnumbered a flat's indoor fixes (a
    dense-track audit: home centres 118 m up the road, median; work 147 m)."""
    t, acc = pl.col("_t"), pl.col("acc_km")
    u, row = pl.col("user_id"), pl.int_range(pl.len(), dtype=pl.Int64)
    cap, edge = MAX_DWELL_S * 1000, STAY_EDGE_S * 1000
    first, last = (u != u.shift(1)).fill_null(True), (u != u.shift(-1)).fill_null(True)
    starts, ends = first | (t != t.shift(1)).fill_null(True), last | (t != t.shift(-1)).fill_null(True)
    # the previous (next) instant and the instant's first (last) row, for every row of an instant alike: set on
    # the instant's first (last) row and carried over the rest (a user's first instant's previous lies cap before)
    prev = pl.when(first).then(t - cap).when(starts).then(t.shift(1)).otherwise(None).forward_fill()
    nxt = pl.when(last).then(t + cap).when(ends).then(t.shift(-1)).otherwise(None).backward_fill()
    rows = pl.when(ends).then(row).backward_fill() - pl.when(starts).then(row).forward_fill() + 1
    before, after = (t - prev).clip(0, cap), (nxt - t).clip(0, cap)
    short = pl.when(before <= edge).then(before).otherwise(0) + pl.when(after <= edge).then(after).otherwise(0)
    # each long gap's edge instant (_a*), length (_g*) and window (_w*: the rows up to the next long gap's edge,
    # or from the last one's; a user's last and first instants are such edges, so no window spans two users)
    at_tail, at_head = ends & (after > edge), starts & (before > edge)

    def carried(at_edge: pl.Expr, gap: pl.Expr, fill: str, side: str) -> list[pl.Expr]:
        # the edge fix's time, the gap's length, the edge fix's position and accuracy, on the rows of its window
        return [getattr(pl.when(at_edge).then(x), fill)().alias(f"_{n}{side}")
                for n, x in (("a", t), ("g", gap), ("lat", pl.col("lat")), ("lon", pl.col("lon")), ("acc", acc))]

    lf = lf.with_columns(pl.col("ts").dt.epoch("ms").alias("_t")).with_columns(
        ((before + after) // (2 * rows)).alias("_alone"), (short // (2 * rows)).alias("_short"),
        ((before <= edge) | (after <= edge)).alias("_crowd"), row.alias("_r"),
        *carried(at_tail, after, "backward_fill", "t"), at_tail.cast(pl.Int64).cum_sum(reverse=True).alias("_wt"),
        *carried(at_head, before, "forward_fill", "h"), at_head.cast(pl.Int64).cum_sum().alias("_wh"))
    # An instant with long gaps on both sides is alone in both its windows: it takes both halves (most instants of
    # sparse logs). Elsewhere, of the rows within `edge` of a long gap's edge, the most accurate nearest it takes the
    # gap's half: the least (accuracy in decimetres, milliseconds from the edge), one integer per row.
    edge_cols = [f"_{n}{side}" for side in "th" for n in ("a", "g", "lat", "lon", "acc")]
    crowd = lf.filter(pl.col("_crowd")).select("_r", "_t", "lat", "lon", "acc_km", "_short", "_wt", "_wh", *edge_cols)
    parts = []
    for side, win in (("t", "_wt"), ("h", "_wh")):
        at, gap, lat, lon, eacc = (pl.col(f"_{n}{side}") for n in ("a", "g", "lat", "lon", "acc"))
        off = (at - t).abs()
        # a fix whose accuracy disc meets the edge fix's: where the edge fix may have been (not a track's fix a
        # minute up the road from the door)
        meets = haversine_km(lat, lon, "lat", "lon") <= acc + eacc
        rank = pl.when((off <= edge) & meets).then((acc * 10_000).round().cast(pl.Int64) * (edge + 1) + off)
        crowd = crowd.with_columns(rank.alias("_rank")).with_columns(
            (pl.col("_rank") == pl.col("_rank").min().over(win)).fill_null(False).alias("_won"))
        crowd = crowd.with_columns(pl.when(pl.col("_won")).then(gap // (2 * pl.col("_won").sum().over(win)))
                                   .otherwise(0).alias(f"_p{side}"))
        parts.append(f"_p{side}")
    crowd = crowd.select("_r", (pl.col("_short") + pl.col(parts[0]) + pl.col(parts[1])).alias("_in_crowd"))
    return (lf.join(crowd, on="_r", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_in_crowd", "_alone").clip(lower_bound=1).cast(pl.Int64).alias(name))
            .drop("_t", "_alone", "_short", "_crowd", "_r", "_wt", "_wh", *edge_cols, "_in_crowd"))



def _squares(p: pl.LazyFrame, scale: pl.Expr) -> pl.DataFrame:
    """The positions of ``p`` (user_id, ci, cj, lat, _dlon, _ref_lat, _w: :func:`with_dwell_ms`) summed per
    :data:`SUB_CELL_M` square of their cell: ``_k`` their milliseconds, ``_ylat`` and ``_ydlon`` their coordinates in
    whole 1e-7 degrees times their milliseconds, summed (:data:`COORD_UNITS`: integer sums are exact, so a mean does not
    depend on the order rows come in), ``lat`` and ``_dlon`` the square's time-weighted mean, ``_ref_lat``. A flat's
    hundreds of fixes are a few dozen squares."""
    fine, q = float(SUB_CELL_M), float(COORD_UNITS)
    w = pl.col("_w").cast(SUM_TYPE)
    return (p.select("user_id", "ci", "cj", "lat", "_dlon", "_ref_lat", "_w")
            .group_by("user_id", "ci", "cj", (pl.col("lat") * M_PER_DEG / fine).floor().cast(pl.Int64).alias("_fi"),
                      (pl.col("_dlon") * M_PER_DEG * scale / fine).floor().cast(pl.Int64).alias("_fj"))
            .agg(pl.col("_w").sum().alias("_k"), ((pl.col("lat") * q).round().cast(SUM_TYPE) * w).sum().alias("_ylat"),
                 ((pl.col("_dlon") * q).round().cast(SUM_TYPE) * w).sum().alias("_ydlon"), pl.col("_ref_lat").first())
            .select("user_id", "ci", "cj", "_k", "_ylat", "_ydlon", (pl.col("_ylat") / pl.col("_k") / q).alias("lat"),
                    (pl.col("_ydlon") / pl.col("_k") / q).alias("_dlon"), "_ref_lat")
            .collect(engine=JOIN_ENGINE))


def _seed_cell(cell: float, scale: pl.Expr) -> list[pl.Expr]:
    """``_si``, ``_sj``: the grid cell of a seed (``_seed_lat``, ``_seed_dlon``)."""
    return [(pl.col("_seed_lat") * M_PER_DEG / cell).floor().cast(pl.Int64).alias("_si"),
            (pl.col("_seed_dlon") * M_PER_DEG * scale / cell).floor().cast(pl.Int64).alias("_sj")]


def _settle_seeds(squares: pl.DataFrame, cells: pl.DataFrame, crowded: pl.DataFrame, nb: pl.DataFrame,
                  cell: float, scale: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each place's seed (the centre of its ``cell``-metre disc), moved from the mean of the block's busiest cell to the
    time-weighted mean of the user's precise positions within ``cell`` metres of it (by :func:`_squares`: a square is
    within reach when its mean is), pass after pass until it moves less than :data:`SEED_STILL_M` (at most
    :data:`SEED_PASSES` passes): the densest spot near it, wherever the grid lines fall. The busiest cell's mean moved
    with the grid by 89 m (median; up to 221 m) for a flat whose indoor fixes scatter over 2-4 cells, and every fix near
    the flat's edge was at home or not with it (a grid-translation audit: commute deviations of 2-7% of users came and
    went). Places whose seeds settle within half a cell of each other are one place, the bigger one's (time at positions
    within ``cell`` of the seed; ties to the lowest grid position). A seed alone in its 3x3 cells (``crowded``: the
    cells with a neighbour) whose cell's squares all lie within ``cell`` metres of it has settled already (most places
    of sparse data: 0.45 s a pass for 169k places at 1M events).

    Returns ``nb`` (user_id, ci, cj, pi, pj) with merged places renamed and the seeds (user_id, pi, pj,
    _seed_lat, _seed_dlon, _ref_lat, and ``_dn``: the milliseconds of the positions within ``cell`` metres of the
    seed, a place's size that does not depend on the grid)."""
    keys = ["user_id", "pi", "pj"]
    seeds = (nb.select(keys).unique()
             .join(cells.select("user_id", pl.col("ci").alias("pi"), pl.col("cj").alias("pj"), "_seed_lat",
                                "_seed_dlon", "_ref_lat", pl.col("n").alias("_dn")), on=keys, how="left"))
    q = float(COORD_UNITS)
    lat_m = pl.max_horizontal(pl.col("_max_lat") - pl.col("_seed_lat"), pl.col("_seed_lat") - pl.col("_min_lat"))
    lon_m = pl.max_horizontal(pl.col("_max__dlon") - pl.col("_seed_dlon"), pl.col("_seed_dlon") - pl.col("_min__dlon"))
    spread = (lat_m * M_PER_DEG) ** 2 + (lon_m * M_PER_DEG * scale) ** 2 > cell * cell
    settling = pl.concat([crowded, cells.filter(spread).select("user_id", "ci", "cj")]).unique().rename(
        {"ci": "pi", "cj": "pj"})
    # a position within one cell of a seed lies in the seed's cell or one of its 8 neighbours
    off = pl.LazyFrame({"_di": [d // 3 - 1 for d in range(9)], "_dj": [d % 3 - 1 for d in range(9)]},
                       schema={"_di": pl.Int64, "_dj": pl.Int64})
    active = seeds.join(settling, on=keys, how="semi")
    moving, steps = active.select(keys), []  # the seeds that settle: only they can meet another
    for _ in range(SEED_PASSES):
        if active.height == 0:
            break
        step = active.join(
            active.lazy().with_columns(_seed_cell(cell, scale)).join(off, how="cross")
            .select(*keys, "_seed_lat", "_seed_dlon", "_ref_lat", (pl.col("_si") + pl.col("_di")).alias("ci"),
                    (pl.col("_sj") + pl.col("_dj")).alias("cj"))
            .join(squares.lazy().drop("_ref_lat"), on=["user_id", "ci", "cj"], how="inner")
            .filter(_sq_m("_seed_lat", "_seed_dlon", scale) <= cell * cell)
            .group_by(keys).agg(pl.col("_k", "_ylat", "_ydlon").sum())
            .select(*keys, (pl.col("_ylat") / pl.col("_k") / q).alias("_new_lat"),
                    (pl.col("_ydlon") / pl.col("_k") / q).alias("_new_dlon"), pl.col("_k").alias("_new_dn"))
            .collect(engine=JOIN_ENGINE), on=keys, how="inner")
        steps.append(step.select(*keys, "_new_lat", "_new_dlon", "_new_dn"))
        active = step.filter(((pl.col("_new_lat") - pl.col("_seed_lat")) * M_PER_DEG).abs().gt(SEED_STILL_M)
                             | ((pl.col("_new_dlon") - pl.col("_seed_dlon")) * M_PER_DEG * scale).abs()
                             .gt(SEED_STILL_M)).select(*keys, pl.col("_new_lat").alias("_seed_lat"),
                                                       pl.col("_new_dlon").alias("_seed_dlon"), "_ref_lat",
                                                       "_dn")
    if steps:  # each seed where its last pass left it
        last = pl.concat(steps).unique(keys, keep="last", maintain_order=True)
        seeds = seeds.join(last, on=keys, how="left", maintain_order="left").with_columns(
            pl.coalesce("_new_lat", "_seed_lat").alias("_seed_lat"),
            pl.coalesce("_new_dlon", "_seed_dlon").alias("_seed_dlon"),
            pl.coalesce("_new_dn", "_dn").alias("_dn")).drop("_new_lat", "_new_dlon", "_new_dn")
    # Seeds settled on one spot: one place. Each place goes to the biggest place (most time within one cell
    # of its seed) within half a cell of it (itself included), those links followed to the end. A seed that never
    # moved lies alone in its 3x3 cells: only a seed that moved can have come that near it.
    sc = seeds.with_columns(_seed_cell(cell, scale))
    pairs = (sc.lazy().join(moving.lazy(), on=keys, how="semi").join(off, how="cross")
             .with_columns((pl.col("_si") + pl.col("_di")).alias("_qi"), (pl.col("_sj") + pl.col("_dj")).alias("_qj"))
             .join(sc.lazy().select("user_id", pl.col("_si").alias("_qi"), pl.col("_sj").alias("_qj"),
                                    pl.col("pi").alias("qi"), pl.col("pj").alias("qj"),
                                    pl.col("_seed_lat").alias("_qlat"), pl.col("_seed_dlon").alias("_qdlon")),
                   on=["user_id", "_qi", "_qj"], how="inner")
             .filter(((pl.col("qi") != pl.col("pi")) | (pl.col("qj") != pl.col("pj")))
                     & (_sq_m("_seed_lat", "_seed_dlon", scale, "_qlat", "_qdlon") < (cell / 2) ** 2))
             .select(*keys, "qi", "qj").collect(engine=JOIN_ENGINE))
    if pairs.height == 0:
        return nb, seeds
    # sizes: the time at positions within one cell of each settled seed (grid-free, as the seeds)
    size = seeds.select(*keys, pl.col("_dn").alias("_bn"))
    qsize = size.rename({"pi": "qi", "pj": "qj", "_bn": "_qn"})
    pairs = (pairs.join(size, on=keys, how="left").join(qsize, on=["user_id", "qi", "qj"], how="left")
             .select(*keys, pl.col("_bn").fill_null(0), "qi", "qj", pl.col("_qn").fill_null(0)))
    both = pl.concat([pairs, pairs.select("user_id", pl.col("qi").alias("pi"), pl.col("qj").alias("pj"),
                                          pl.col("_qn").alias("_bn"), pl.col("pi").alias("qi"),
                                          pl.col("pj").alias("qj"), pl.col("_bn").alias("_qn"))])
    alias = (both.group_by(keys).agg(pl.col("qi", "qj").sort_by(["_qn", "qi", "qj"], descending=[True, False, False])
                                     .first(), pl.col("_qn").max(), pl.col("_bn").first())
             .filter((pl.col("_qn") > pl.col("_bn")) | ((pl.col("_qn") == pl.col("_bn")) & (
                 (pl.col("qi") < pl.col("pi")) | ((pl.col("qi") == pl.col("pi")) & (pl.col("qj") < pl.col("pj"))))))
             .select(*keys, "qi", "qj"))
    if alias.height == 0:
        return nb, seeds
    for _ in range(HOPS):
        alias = alias.join(alias.select("user_id", pl.col("pi").alias("qi"), pl.col("pj").alias("qj"),
                                        pl.col("qi").alias("_ri"), pl.col("qj").alias("_rj")),
                           on=["user_id", "qi", "qj"], how="left").select(
            *keys, pl.coalesce("_ri", "qi").alias("qi"), pl.coalesce("_rj", "qj").alias("qj"))
    nb = nb.join(alias, on=keys, how="left").select(
        "user_id", "ci", "cj", pl.coalesce("qi", "pi").alias("pi"), pl.coalesce("qj", "pj").alias("pj"))
    return nb, seeds.join(nb.select(keys).unique(), on=keys, how="semi")  # the places some cell still leads to


def _sq_m(lat: str, dlon: str, scale: pl.Expr, lat2: str = "lat", dlon2: str = "_dlon") -> pl.Expr:
    """Squared metres between (``lat``, ``dlon``) and (``lat2``, ``dlon2``) on the user's east-west ``scale``, as
    the cells measure (exact enough at a few hundred metres)."""
    return (((pl.col(lat2) - pl.col(lat)) * M_PER_DEG) ** 2
            + ((pl.col(dlon2) - pl.col(dlon)) * M_PER_DEG * scale) ** 2)


def _within_reach(lat: str, dlon: str, cell: float, scale: pl.Expr) -> pl.Expr:
    """A position (lat, _dlon, acc_km) at the place seeded at (``lat``, ``dlon``): its accuracy disc reaches the
    place's disc of ``cell`` metres around the seed, and it lies at most :data:`REACH_CELLS` cells from the seed.
    Distances on the user's east-west ``scale``, as the cells (exact enough at a few hundred metres)."""
    reach = pl.min_horizontal(cell + pl.col("acc_km") * 1000, REACH_CELLS * cell)
    return _sq_m(lat, dlon, scale) <= reach * reach


def _join_bigger_in_reach(placed: pl.DataFrame, seeds: pl.DataFrame, cell: float, scale: pl.Expr) -> pl.DataFrame:
    """``placed`` with each position at the biggest place (most time within a cell of its seed; ties to the
    nearest seed) that it is within reach of (:func:`_within_reach`), when that is bigger than its own (none counts
    as 0) or as big with a nearer seed: two flats 380 m apart with as many fixes each shared their
    200 m-radius fixes by the grid's blocks.

    The cell blocks decide most positions; this decides those the grid cut off: an indoor fix 250 m south of an
    office with a 150 m radius reaches the office's disc as one 250 m north does, but fell two cells from the
    office's busiest cell (a place of its own, or none) when the office's seed lay near its cell's south edge
    (an oracle audit's case: four such fixes north kept the stable-commute bonus, south they did not). Sizes are
    the time at positions within a cell of the seeds (:func:`_settle_seeds`; one pass: a place is not emptied into a
    third)."""
    # Per block (the cells linked to one place): its cells' extent, and whether it holds positions at no place.
    blocks = (placed.lazy().filter(pl.col("_bi").is_not_null()).group_by("user_id", "_bi", "_bj")
              .agg(pl.col("pi").is_null().any().alias("_loose"), pl.col("ci").min().alias("_i0"),
                   pl.col("ci").max().alias("_i1"), pl.col("cj").min().alias("_j0"), pl.col("cj").max().alias("_j1"))
              .join(seeds.lazy().select("user_id", pl.col("pi").alias("_bi"), pl.col("pj").alias("_bj"),
                                        pl.col("_dn").alias("_n"), pl.col("_seed_lat").alias("_blat"),
                                        pl.col("_seed_dlon").alias("_bdlon")), on=["user_id", "_bi", "_bj"], how="left")
              .with_columns(pl.col("_n").fill_null(0)))
    sc = seeds.with_columns(_seed_cell(cell, scale))
    places = sc.lazy().select("user_id", pl.col("pi").alias("qi"), pl.col("pj").alias("qj"),
                              pl.col("_dn").alias("_qn"), pl.col("_seed_lat").alias("_qlat"),
                              pl.col("_seed_dlon").alias("_qdlon"), "_si", "_sj")
    # A reached place's seed lies within REACH_CELLS cells of the position, in the block's cells: only another
    # place whose seed cell is that near the block's cells, and bigger than the block's own unless the block holds
    # positions at no place, can take a position. Sizes are the time at positions within a cell of the seeds (as the
    # seeds, free of the grid: the blocks' sizes followed where the grid cut two flats' fixes).
    span = REACH_CELLS + 1
    # Blocks meet places in squares of REACH_SQUARE_CELLS cells: each block is listed in the squares its reach
    # overlaps, each place in the one its seed lies in (joining every block of a user with every place of the user
    # was quadratic: 80k pings scattered over the globe, 72 s, and 950k never finished).
    k = REACH_SQUARE_CELLS
    blocks = blocks.with_columns(
        pl.int_ranges((pl.col("_i0") - span) // k, (pl.col("_i1") + span) // k + 1).alias("_gi"),
        pl.int_ranges((pl.col("_j0") - span) // k, (pl.col("_j1") + span) // k + 1).alias("_gj"),
    ).explode("_gi").explode("_gj")
    places = places.with_columns((pl.col("_si") // k).alias("_gi"), (pl.col("_sj") // k).alias("_gj"))
    pairs = (blocks.join(places, on=["user_id", "_gi", "_gj"], how="inner")
             .filter(pl.col("_si").is_between(pl.col("_i0") - span, pl.col("_i1") + span)
                     & pl.col("_sj").is_between(pl.col("_j0") - span, pl.col("_j1") + span)
                     & ((pl.col("qi") != pl.col("_bi")) | (pl.col("qj") != pl.col("_bj")))
                     & (pl.col("_loose") | (pl.col("_qn") >= pl.col("_n"))))
             .select("user_id", "_bi", "_bj", "_n", "_blat", "_bdlon", "qi", "qj", "_qn", "_qlat", "_qdlon")
             .collect(engine=JOIN_ENGINE))
    if pairs.height == 0:
        return placed

    # a position's own place: its size (0 for none) and its seed's squared distance (none: infinitely far)
    own_n = pl.when(pl.col("pi").is_null()).then(0).otherwise(pl.col("_n"))
    own_d2 = pl.when(pl.col("pi").is_null()).then(float("inf")).otherwise(_sq_m("_blat", "_bdlon", scale))
    moves = (placed.lazy().with_row_index("_r")
             .select("_r", "user_id", "_bi", "_bj", "pi", "lat", "_dlon", "acc_km", "_ref_lat")
             .join(pairs.lazy(), on=["user_id", "_bi", "_bj"], how="inner")
             .with_columns(_sq_m("_qlat", "_qdlon", scale).alias("_qd2"))
             .filter(((pl.col("_qn") > own_n) | ((pl.col("_qn") == own_n) & (pl.col("_qd2") < own_d2)))
                     & _within_reach("_qlat", "_qdlon", cell, scale))
             .group_by("_r").agg(pl.col("qi", "qj").sort_by(["_qn", "_qd2", "qi", "qj"],
                                                            descending=[True, False, False, False]).first())
             .collect(engine=JOIN_ENGINE))
    if moves.height == 0:
        return placed
    rows = moves["_r"]
    return placed.with_columns(placed["pi"].scatter(rows, moves["qi"]), placed["pj"].scatter(rows, moves["qj"]))


def _link(cells: pl.DataFrame) -> pl.DataFrame:
    """Each cell of ``cells`` (user_id, ci, cj, n) linked to the busiest cell of its 3x3 neighbourhood among
    ``cells`` (itself included; ties to the lowest grid position), the links followed for :data:`HOPS` rounds of
    pointer jumping: user_id, ci, cj, pi, pj, and ``_cells3``, the cells of ``cells`` in the cell's 3x3
    neighbourhood (itself included)."""
    # Neighbour k = 3 * (di + 1) + (dj + 1) orders the 3x3 block by grid position (ni, then nj), so "busiest,
    # ties to the lowest grid position" is the largest nn * 9 + (8 - k): one integer max per cell, no sort.
    off = pl.LazyFrame({"k": list(range(9))}, schema={"k": pl.Int64})
    c = cells.lazy()
    nb = (c.join(off, how="cross")
          .with_columns((pl.col("ci") + pl.col("k") // 3 - 1).alias("ni"),
                        (pl.col("cj") + pl.col("k") % 3 - 1).alias("nj"))
          .join(c.rename({"ci": "ni", "cj": "nj", "n": "nn"}), on=["user_id", "ni", "nj"], how="inner")
          .group_by("user_id", "ci", "cj")
          .agg((pl.col("nn").cast(pl.Int64) * 9 + 8 - pl.col("k")).max().alias("_best"), pl.len().alias("_cells3"))
          .with_columns((8 - pl.col("_best") % 9).alias("k"))
          .select("user_id", "ci", "cj", (pl.col("ci") + pl.col("k") // 3 - 1).alias("pi"),
                  (pl.col("cj") + pl.col("k") % 3 - 1).alias("pj"), "_cells3")).collect(engine=JOIN_ENGINE)
    for _ in range(HOPS):  # pointer jumping: follow the busiest-neighbour links to a local maximum
        nb = nb.lazy().join(nb.lazy().select("user_id", pl.col("ci").alias("pi"), pl.col("cj").alias("pj"),
                                             pl.col("pi").alias("qi"), pl.col("pj").alias("qj")),
                            on=["user_id", "pi", "pj"], how="left").select(
            "user_id", "ci", "cj", pl.coalesce("qi", "pi").alias("pi"), pl.coalesce("qj", "pj").alias("pj"), "_cells3"
        ).collect(engine=JOIN_ENGINE)
    return nb  # in no particular row order: every use joins it by cell


def _far_from_place() -> pl.Expr:
    """A cell (ci, cj) more than one cell from its place's busiest cell (pi, pj)."""
    return ((pl.col("ci") - pl.col("pi")).abs() > 1) | ((pl.col("cj") - pl.col("pj")).abs() > 1)
