"""Places, home and work (contract section 5).

A place is a cluster of precise positions (lat/lon events and pings whose accuracy is at most
``max_place_accuracy_m``) about ``place_radius_m`` (200 m) around its centre, wherever the grid lines fall:
:func:`fraud.geo.clusters.cluster`.

Home is the place with most nights (22:00-06:00 local; a night belongs to the date it starts) and at least
``min_home_nights`` of them; work is the place other than home with most weekdays seen 09:00-17:00 local, at
least ``min_work_days`` of them and at least ``min_work_share`` of the weekdays with positions in those hours
(a workplace is regular; a shop visited now and then is not one), and at least ``min_work_distance_m`` from
home's centre (the indoor fixes of a flat scatter into pieces of it a few hundred metres off: they are home).
The thresholds live in ``[rules."geo.commute_deviation"]``.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.geo.clusters import WIDE_ENGINE, cluster, wrap_lon
from fraud.geo.distance import SPHERE_MARGIN, geodesic_km, haversine_km
from fraud.geo.gazetteer import cities, country_code, countries_near, name_places, names_apart, norm_name
from fraud.geo.localtime import with_local_time
from fraud.geo.positions import positions

PLACE_RULE = "geo.commute_deviation"  # the rule section holding the place-inference settings


def place_settings(ctx: ScanContext) -> dict:
    r = ctx.cfg.rule(PLACE_RULE)
    return {k: r[k] for k in ("place_radius_m", "max_place_accuracy_m", "min_home_nights", "min_work_days",
                              "min_work_share", "min_work_distance_m", "night_hours", "work_hours", "work_days")}


def is_work_day(ctx: ScanContext, local_ts: str = "local_ts") -> pl.Expr:
    """Whether a local time falls on one of the working week's days (``work_days``, ISO numbers: Monday 1 ..
    Sunday 7; Monday-Friday by default, Sunday-Thursday where that is the week): the contract's "weekdays" of the
    work place, commute windows and stable commute."""
    return pl.col(local_ts).dt.weekday().is_in(list(place_settings(ctx)["work_days"]))


def local_positions(ctx: ScanContext) -> pl.DataFrame:
    """:func:`positions` with ``local_ts`` (naive local wall clock of the user), cached.

    The join that adds ``local_ts`` copies every column; the cached positions are then re-pointed at this
    copy (same rows, same order) so that one copy of the table, not two, stays in memory."""

    def build() -> pl.DataFrame:
        lp = with_local_time(positions(ctx).lazy(), ctx).collect(engine=WIDE_ENGINE)
        ctx.provide("geo.positions", lp.drop("local_ts"))
        return lp

    return ctx.cached("geo.local_positions", build)


def in_hours(hour: pl.Expr, hours: list[int]) -> pl.Expr:
    """``hour`` (0-23) within the half-open local window [start, end), which may wrap midnight."""
    a, b = int(hours[0]), int(hours[1])
    return (hour >= a) & (hour < b) if a < b else (hour >= a) | (hour < b)


def night_date(local_ts: pl.Expr, night_end_hour: int) -> pl.Expr:
    """The date a night starts on: 02:00 on Tuesday belongs to Monday's night."""
    return (local_ts - pl.duration(hours=night_end_hour)).dt.date()


def placed_positions(ctx: ScanContext) -> pl.DataFrame:
    """Precise positions with their place: columns of :func:`local_positions` plus ``pi``, ``pj`` (place key
    within the user; null for a position at no place: :func:`fraud.geo.clusters.cluster`) — cached."""
    def build() -> pl.DataFrame:
        s = place_settings(ctx)
        return cluster(local_positions(ctx), float(s["place_radius_m"]), float(s["max_place_accuracy_m"]))

    return ctx.cached("geo.placed", build)


def place_centres(ctx: ScanContext) -> pl.DataFrame:
    """One row per (user_id, pi, pj): lat, lon (centre: the mean of its positions, each weighted by the time it
    stands for, :func:`fraud.geo.clusters.with_dwell_ms`), n (positions) and acc_km (their median accuracy radius)."""
    def build() -> pl.DataFrame:
        p = placed_positions(ctx).filter(pl.col("pi").is_not_null())
        w = pl.col("_w")
        return p.group_by("user_id", "pi", "pj").agg(
            ((pl.col("lat") * w).sum() / w.sum()).alias("lat"),
            wrap_lon((pl.col("_dlon") * w).sum() / w.sum() + pl.col("_ref_lon").first()).alias("lon"),
            pl.len().alias("n"), pl.col("acc_km").median().alias("acc_km"))
    return ctx.cached("geo.place_centres", build)


def _support(p: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Per (user_id, pi, pj) place: ``support`` (distinct ``key`` values: nights, days) and ``_n`` (milliseconds: the
    time its positions stand for, :func:`fraud.geo.clusters.with_dwell_ms`)."""
    return (p.filter(pl.col("pi").is_not_null()).group_by("user_id", "pi", "pj")
            .agg(pl.col(key).n_unique().alias("support"), pl.col("_w").sum().alias("_n")))


def _best(support: pl.LazyFrame, min_support: int, prefix: str) -> pl.LazyFrame:
    """Per user the place of :func:`_support` with most support (ties: more time there, then grid order)."""
    return (support.filter(pl.col("support") >= min_support)
            .sort(["user_id", "support", "_n", "pi", "pj"], descending=[False, True, True, False, False])
            .group_by("user_id", maintain_order=True).first()
            .select("user_id", pl.col("pi").alias(f"{prefix}_pi"), pl.col("pj").alias(f"{prefix}_pj"),
                    pl.col("support").alias(f"{prefix}_support")))


def night_positions(ctx: ScanContext) -> pl.LazyFrame:
    """:func:`placed_positions` in the night hours of the places' settings, with ``night``: the date the night
    starts (02:00 on Tuesday is Monday's night)."""
    s = place_settings(ctx)
    return (placed_positions(ctx).lazy().filter(in_hours(pl.col("local_ts").dt.hour(), s["night_hours"]))
            .with_columns(night_date(pl.col("local_ts"), int(s["night_hours"][1])).alias("night")))


def _night_support(ctx: ScanContext) -> pl.DataFrame:
    """:func:`_support` of the nights (:func:`night_positions`) at each place, cached: home is the best of them,
    :func:`night_places` all with enough of them."""
    return ctx.cached("geo.night_support", lambda: _support(night_positions(ctx), "night").collect())


def night_places(ctx: ScanContext) -> pl.LazyFrame:
    """(user_id, pi, pj) of every place where the user spent ``min_home_nights`` or more nights: the home, and any
    other place a user sleeps at (a flat moved into, a second home)."""
    min_nights = int(place_settings(ctx)["min_home_nights"])
    return _night_support(ctx).lazy().filter(pl.col("support") >= min_nights).select("user_id", "pi", "pj")


def home_work(ctx: ScanContext) -> pl.DataFrame:
    """Per user with a home place: home_pi/pj/lat/lon/city/cc/nights and work_pi/pj/lat/lon/city/days (work
    null when there is none). Cached."""
    return ctx.cached("geo.home_work", lambda: _home_work(ctx))


def _home_work(ctx: ScanContext) -> pl.DataFrame:
    s = place_settings(ctx)
    p = placed_positions(ctx).lazy()  # lazy: each step reads only the columns it needs
    hour = pl.col("local_ts").dt.hour()
    home = _best(_night_support(ctx).lazy(), int(s["min_home_nights"]), "home").collect().lazy()
    daytime = (p.filter(in_hours(hour, s["work_hours"]) & is_work_day(ctx))
               .with_columns(pl.col("local_ts").dt.date().alias("day")))
    c = place_centres(ctx).lazy().select("user_id", "pi", "pj", "lat", "lon", "acc_km")
    # The places that can be work: not home, and farther from home's centre than min_work_distance_m and than
    # both places' (median) accuracy radii together: two places closer than their fixes' accuracy cannot be told
    # apart (indoor fixes of 100-450 m around a flat scatter into pieces of it 500 m off).
    home_c = home.join(c.rename({"pi": "home_pi", "pj": "home_pj", "lat": "_hlat", "lon": "_hlon", "acc_km": "_hacc"}),
                       on=["user_id", "home_pi", "home_pj"], how="left").select("user_id", "_hlat", "_hlon", "_hacc")
    apart_km = pl.max_horizontal(pl.lit(float(s["min_work_distance_m"]) / 1000), pl.col("_hacc") + pl.col("acc_km"))
    away = (c.join(home_c, on="user_id", how="left")
            .filter((haversine_km("_hlat", "_hlon", "lat", "lon") >= apart_km).fill_null(True))
            .select("user_id", "pi", "pj"))
    days = daytime.join(away, on=["user_id", "pi", "pj"], how="semi")
    work = _best(_support(days, "day"), int(s["min_work_days"]), "work")
    # a workplace is regular: seen on at least min_work_share of the weekdays with daytime positions
    seen = daytime.group_by("user_id").agg(pl.col("day").n_unique().alias("_wd"))
    work = work.join(seen, on="user_id", how="left").filter(
        pl.col("work_support") >= float(s["min_work_share"]) * pl.col("_wd")).drop("_wd")
    hw = (home.join(work, on="user_id", how="left")
          .join(c.rename({"pi": "home_pi", "pj": "home_pj", "lat": "home_lat", "lon": "home_lon"}),
                on=["user_id", "home_pi", "home_pj"], how="left")
          .join(c.rename({"pi": "work_pi", "pj": "work_pj", "lat": "work_lat", "lon": "work_lon"}),
                on=["user_id", "work_pi", "work_pj"], how="left")).collect()
    # the city (Shanghai) and the part of it (Minhang, Pudong: for commutes inside one city)
    for side in ("home", "work"):
        hw = name_places(hw, f"{side}_lat", f"{side}_lon").rename(
            {"place_name": f"{side}_city", "place_cc": f"{side}_cc", "place_area": f"{side}_area"})
    return hw.rename({"home_support": "home_nights", "work_support": "work_days"}).sort("user_id")


def home_ref(ctx: ScanContext) -> pl.DataFrame:
    """Every user's home for "in the home city" tests: home_lat/lon (home place, else null), home_city (display
    name), home_key (name to compare events by, for users without a home place: their most frequent ``city``,
    else ``registered_city``), home_ref (the city the most frequent ``city`` means: positions' ``city_ref``; null
    when the gazetteer cannot place it), hc_lat/hc_lon (that city's gazetteer point) and home_cc (the home's country:
    of the home place; else of the home city: the gazetteer's country of the city its name means, else the most
    frequent country of the events naming it, or ``registered_country`` with a registered city; else the most
    frequent event country, else ``registered_country``). "Most frequent" counts days (UTC dates) first, then
    events: a day's spending spree or trip abroad does not outweigh the days the user is seen at home. Cached."""
    def build() -> pl.DataFrame:
        full = home_work(ctx)
        hw = full.select("user_id", "home_lat", "home_lon", "home_city", "home_cc")
        pos = positions(ctx).lazy()
        day, most = pl.col("ts").dt.date().n_unique().alias("_days"), pl.len().alias("_n")
        top_city = (pos.filter(pl.col("city_key").is_not_null()).group_by("user_id", "city_key")
                    .agg(day, most, pl.col("city").drop_nulls().mode().sort().first().alias("city"),
                         pl.col("city_ref").drop_nulls().mode().sort().first().alias("city_ref"),
                         pl.col("country").drop_nulls().mode().sort().first().alias("city_cc"))
                    .sort(["user_id", "_days", "_n", "city_key"], descending=[False, True, True, False])
                    .group_by("user_id", maintain_order=True).first().select("user_id", "city_key", "city",
                                                                             "city_ref", "city_cc"))
        top_cc = (pos.filter(pl.col("country").is_not_null()).group_by("user_id", "country").agg(day, most)
                  .sort(["user_id", "_days", "_n", "country"], descending=[False, True, True, False])
                  .group_by("user_id", maintain_order=True).first().select("user_id", pl.col("country").alias("ev_cc")))
        reg = (ctx.scores.select("user_id", pl.col("registered_city").str.strip_chars().alias("reg_city"),
                                 country_code(pl.col("registered_country")).alias("reg_cc"))
               .group_by("user_id").agg(pl.col("reg_city", "reg_cc").drop_nulls().min()).collect())  # order-free
        top_city, top_cc = pl.collect_all([top_city, top_cc])
        # the gazetteer's name and point of the city the name means (NYC and New York show as New York)
        named = cities().select(pl.col("gid").alias("city_ref"), pl.col("name").alias("ref_name"),
                                pl.col("lat").alias("ref_lat"), pl.col("lon").alias("ref_lon"),
                                pl.col("cc").alias("ref_cc"))
        top_city = top_city.join(named, on="city_ref", how="left")
        u = (ctx.users().collect().join(hw, on="user_id", how="left").join(top_city, on="user_id", how="left")
             .join(top_cc, on="user_id", how="left").join(reg, on="user_id", how="left"))
        placed = pl.col("home_lat").is_not_null()
        # Users whose "home city" rules can only compare by name or country, or not at all: said, not called clean
        # (fewer than min_home_nights nights at one place, night fixes less accurate than places need ...).
        unplaced = u.join(pos.select(pl.col("user_id").unique()).collect(), on="user_id", how="semi").filter(~placed)
        no_ref = (pl.coalesce("city_key", "reg_city").is_null()
                  & pl.coalesce("home_cc", "ev_cc", "reg_cc").is_null())
        # commute rules need both places: users with a home and no work place are not judged by them
        homeless_work = full.filter(pl.col("home_lat").is_not_null() & pl.col("work_lat").is_null()).height
        ctx.notes["geo.home"] = {"users_with_positions_without_home_place": unplaced.height,
                                 "users_with_positions_without_any_home": unplaced.filter(no_ref).height,
                                 "users_with_home_place_without_work_place": homeless_work}
        by_name = ~placed & pl.col("city_key").is_not_null()
        return u.select(
            "user_id", "home_lat", "home_lon",
            pl.when(placed).then("home_city").otherwise(pl.coalesce("ref_name", "city", "reg_city")).alias("home_city"),
            pl.when(placed).then(None).otherwise(pl.coalesce("city_key", norm_name(pl.col("reg_city"))))
            .alias("home_key"),
            # (a registered city is the home key only when no event names a city: none to compare with it)
            pl.when(by_name).then(pl.col("city_ref")).alias("home_ref"),
            pl.when(by_name).then(pl.col("ref_lat")).alias("hc_lat"),
            pl.when(by_name).then(pl.col("ref_lon")).alias("hc_lon"),
            pl.when(placed).then(pl.coalesce("home_cc", "ev_cc", "reg_cc"))
            .when(pl.col("city_key").is_not_null()).then(pl.coalesce("ref_cc", "city_cc", "ev_cc", "reg_cc"))
            .when(pl.col("reg_city").is_not_null()).then(pl.coalesce("reg_cc", "ev_cc"))
            .otherwise(pl.coalesce("ev_cc", "reg_cc")).alias("home_cc"))
    return ctx.cached("geo.home_ref", build)


def home_side(ctx: ScanContext, radius_km: float) -> pl.Series:
    """Per row of :func:`local_positions` (same order): ``outside_home(radius_km)`` against the user's
    :func:`home_ref` (null: cannot tell). Computed once per scan and radius: the month rules and the commute's trip
    days read the same sides (one join of every position with the homes instead of three)."""
    def build() -> pl.Series:
        lp = local_positions(ctx).lazy().select("user_id", "lat", "lon", "acc_km", "city_key", "city_ref",
                                                "country")
        lp = lp.join(home_ref(ctx).lazy(), on="user_id", how="left", maintain_order="left")
        # users without a home place compare names: whether two differing names mean different cities, per
        # distinct pair of names
        cols = ["home_key", "home_ref", "city_key", "city_ref"]
        pairs = (lp.filter(pl.col("home_lat").is_null() & (pl.col("city_key") != pl.col("home_key")))
                 .select(cols).unique().collect())
        apart = names_apart(pairs.rename({"home_key": "a_key", "home_ref": "a_ref", "city_key": "b_key",
                                          "city_ref": "b_ref"})).rename(
            {"a_key": "home_key", "a_ref": "home_ref", "b_key": "city_key", "b_ref": "city_ref",
             "apart": "names_apart"})
        near = countries_near_home(lp, radius_km + ctx.cfg.city_name_accuracy_km)
        sided = (lp.join(apart.lazy(), on=cols, how="left", nulls_equal=True, maintain_order="left")
                 .join(near.lazy(), on=["user_id", "country"], how="left", maintain_order="left"))
        # a position near the radius's edge is decided on the WGS84 distance
        sided = sided.with_columns(haversine_km("home_lat", "home_lon", "lat", "lon").alias("_home_km"))
        outside = outside_home(radius_km, pl.col("_home_km"), ctx.cfg.city_name_accuracy_km)
        sides = sided.select(outside.alias("outside"),
                             pl.when(_near_edge(radius_km)).then(pl.struct(EDGE_COLUMNS)).alias("_edge")).collect()
        edge = sides["_edge"].is_not_null().arg_true()
        if edge.len() == 0:
            return sides["outside"]
        exact = sides[edge].unnest("_edge").select(
            geodesic_km("home_lat", "home_lon", "lat", "lon") - pl.col("acc_km") > radius_km).to_series()
        return sides["outside"].scatter(edge, exact)
    return ctx.cached(f"geo.home_side.{float(radius_km)!r}", build)


EDGE_COLUMNS = ("home_lat", "home_lon", "lat", "lon", "acc_km")


def _near_edge(radius_km: float) -> pl.Expr:
    """A position (with its home place and its sphere distance from it, ``_home_km``) whose distance from home, net
    of its accuracy radius, lies so near ``radius_km`` on the sphere that the WGS84 distance may fall on the other
    side (:data:`fraud.geo.distance.SPHERE_MARGIN`): :func:`home_side` decides those few on the WGS84 distance, as
    ``geo.impossible_travel`` decides and geopy's ``geodesic`` measures (a point 50.05 km from an Accra home on the
    ellipsoid is 50.33 km on the sphere)."""
    sphere = pl.col("_home_km")
    return ((sphere - pl.col("acc_km") - radius_km).abs() <= sphere * SPHERE_MARGIN).fill_null(False)


def countries_near_home(lp: pl.LazyFrame, reach_km: float) -> pl.DataFrame:
    """(user_id, country, ``country_near_home`` = True) for the countries of ``lp``'s country-only positions (no
    lat/lon, a country other than the home's) that may lie within reach of the user's home place (``lp``: positions
    with :func:`home_ref` joined): a gazetteer city of that country lies within ``reach_km`` of the home place
    (:func:`fraud.geo.gazetteer.countries_near`: the home radius plus a city's own extent, the city-name accuracy).
    Geneva's office network is a Swiss IP 7 km from an Annemasse home. One query for all those users' homes."""
    homes = (lp.filter(pl.col("home_lat").is_not_null() & pl.col("lat").is_null() & pl.col("country").is_not_null()
                       & pl.col("home_cc").is_not_null() & (pl.col("country") != pl.col("home_cc")))
             .select("user_id", "home_lat", "home_lon").unique().sort("user_id").collect())
    near = countries_near(homes["home_lat"].to_numpy(), homes["home_lon"].to_numpy(), reach_km)
    return (homes.with_row_index("_i").join(near, on="_i", how="inner")
            .select("user_id", pl.col("cc").alias("country"), pl.lit(True).alias("country_near_home")))


def outside_home(radius_km: float, home_km: pl.Expr | None = None, city_acc_km: float | None = None) -> pl.Expr:
    """True when a position (lat, lon, acc_km, city_key, city_ref, country) lies outside the user's home city
    (columns of :func:`home_ref` joined, and ``names_apart``: :func:`fraud.geo.gazetteer.names_apart` of home_key
    and city_key where they differ): farther than ``radius_km`` from the home place after allowing for the
    position's accuracy radius; without a home place, by city name: the same name or city is home (a district is
    its city: Brooklyn is New York), and another name is outside when it cannot mean the home's city (Kunming for
    a Changsha home; not "Manhattan, US" for a New York home, although it may be Manhattan, Kansas); a name no
    gazetteer city has ("Frankfurt a.M.") cannot be told by name, only by another country. A position known only
    to its country (no lat/lon) against a home place is outside only when it is another country than the home's
    and no part of it can lie in the home city: none of its gazetteer cities within reach of home
    (``country_near_home``: :func:`countries_near_home`; a Swiss IP for an Annemasse home, 7 km from Geneva, cannot
    be told; a Japanese one for a Paris home is outside); its distance is never measured (contract section 5).
    A position with coordinates but no city name (a GPS fix) against a home city known by name (``hc_lat``,
    ``hc_lon``: the gazetteer point of the city) is outside when farther than ``radius_km`` from that point after
    allowing for its accuracy and the city's own extent (``city_acc_km``, the city-name accuracy; not tested when
    None), and inside when within ``radius_km`` with both added. Where only countries are known (no home place),
    another country. Null when it cannot be told. ``home_km``: the sphere distance from the home place when the
    caller has it already (:func:`home_side`)."""
    dist = (haversine_km("home_lat", "home_lon", "lat", "lon") if home_km is None else home_km) - pl.col("acc_km")
    city_km = haversine_km("hc_lat", "hc_lon", "lat", "lon")
    gps_vs_city = (pl.col("home_lat").is_null() & pl.col("hc_lat").is_not_null() & pl.col("lat").is_not_null()
                   & pl.col("city_key").is_null()) if city_acc_km is not None else pl.lit(False)
    by_name = pl.col("home_lat").is_null() & pl.col("home_key").is_not_null() & pl.col("city_key").is_not_null()
    other_country = pl.col("home_cc").is_not_null() & pl.col("country").is_not_null() & (
        pl.col("country") != pl.col("home_cc"))
    return (pl.when(pl.col("home_lat").is_not_null() & pl.col("lat").is_not_null()).then(dist > radius_km)
            .when(by_name & (pl.col("city_key") == pl.col("home_key"))).then(False)
            .when(by_name & pl.col("city_ref").is_not_null() & pl.col("home_ref").is_not_null())
            .then(pl.col("city_ref") != pl.col("home_ref"))
            .when(by_name).then(pl.when(pl.col("names_apart").fill_null(False) | other_country).then(True))
            .when(gps_vs_city)
            .then(pl.when(city_km - pl.col("acc_km") - (city_acc_km or 0.0) > radius_km).then(True)
                  .when(city_km + pl.col("acc_km") + (city_acc_km or 0.0) <= radius_km).then(False))
            .when(pl.col("home_lat").is_not_null())
            .then(pl.when(other_country & ~pl.col("country_near_home").fill_null(False)).then(True))
            .when(pl.col("home_cc").is_not_null() & pl.col("country").is_not_null())
            .then(pl.col("country") != pl.col("home_cc"))
            .otherwise(None))
