"""Commute rules (contract section 5), for users with an inferred home H and work W (D = distance(H, W)).

* ``geo.commute_deviation``: on a commute day (a local weekday that is no day of a trip: no position lies outside
  the home city, nor, with ``trip_edge_hours`` set, is it the day a trip starts or ends, see :func:`_trip_days`;
  nor one that starts or ends a night the user spent away from home, see :func:`_away_night_days`),
  a precise position (accuracy at most ``max_place_accuracy_m``, as for places: a city-name or IP position says
  nothing about a route) not at a place where the user sleeps (:func:`fraud.geo.places.night_places`) in a
  commute window (07:00-10:00 or 17:00-20:00 local) whose detour
  ``distance(H, P) + distance(P, W) - D``, net of the position's accuracy radius (:func:`detour_allowance`), is
  over ``min_detour_km`` (1 km) and over ``max_deviation`` (0.15) of D. One finding per user-day, on the day's
  farthest point (largest deviation).
* ``geo.stable_commute`` (bonus): at the work place (a position clustered into it) during ``arrival_hours``
  (07:00-10:00 local) on ``min_share`` (80%) or more of the weekdays that have precise positions, the days at
  work spanning ``min_span_days`` (182) or more.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import fmt, shown_above, thousands
from fraud.findings import emit
from fraud.geo.clusters import REACH_CELLS
from fraud.geo.distance import haversine_km
from fraud.geo.gazetteer import place_name
from fraud.geo.places import (home_side, home_work, in_hours, is_work_day, local_positions, night_places,
                               night_positions, place_settings, placed_positions)
from fraud.registry import NotEvaluated, register


def detour_allowance(d1: str, d2: str, d: str, acc_km: str) -> pl.Expr:
    """How much a position's accuracy radius ``acc_km`` can shorten its detour (km): the detour
    f(P) = d1 + d2 - D (d1 = distance(H, P), d2 = distance(P, W), D = distance(H, W)) changes by at most
    2 cos(a/2) per km P moves, a being the angle H-P-W, so over the accuracy disc it is at least
    f(P) - 2 cos(a/2) acc (f is convex: never more than the disc allows, so a fix whose disc reaches inside the
    ellipse is not flagged). Flat 2 acc would be the bound for a fix beside H or W; for a fix off to the side
    of the route it took a third too much (a 300 m fix at deviation 0.20 over 10 km went unflagged)."""
    a, b, c = pl.col(d1), pl.col(d2), pl.col(d)
    cos_angle = (a * a + b * b - c * c) / (2 * a * b)  # law of cosines at P
    cos_half = ((1 + cos_angle) / 2).clip(0.0, 1.0).sqrt()
    return 2 * pl.col(acc_km) * pl.when((a > 0) & (b > 0)).then(cos_half).otherwise(1.0)


def _with_places(ctx: ScanContext) -> pl.DataFrame:
    hw = home_work(ctx).filter(pl.col("work_lat").is_not_null())
    if hw.height == 0:
        raise NotEvaluated("no user has both an inferred home and a work place")
    return hw


def _trip_days(p: pl.LazyFrame, edge_hours: float) -> pl.LazyFrame:
    """The (user_id, day) pairs of trips, which are no commute days: days with a position outside the home
    city, and with ``edge_hours`` > 0 a trip's start and end days: the day of the last position in the home city
    before the trip's first position outside it, and of the first one after its last, when that position lies
    within ``edge_hours`` (hours) of the outside one. An overnight flight leaves its departure evening (the drive
    to the airport) and its arrival morning without a position outside the city. ``p`` is sorted by user and
    time, with ``_out`` (:func:`fraud.geo.places.home_side`)."""
    out, ts, user = pl.col("_out"), pl.col("ts"), pl.col("user_id")
    side = p.select("user_id", "ts", "day", "_out").filter(out.is_not_null())  # whose side of the city is known
    if edge_hours <= 0:  # the contract's reading: only days with a position outside the city
        return side.filter(out).select("user_id", "day").unique()
    edge = pl.duration(microseconds=round(edge_hours * 3_600_000_000))
    departs = ~out & (user == user.shift(-1)) & out.shift(-1) & (ts.shift(-1) - ts <= edge)
    returns = ~out & (user == user.shift(1)) & out.shift(1) & (ts - ts.shift(1) <= edge)
    return side.filter((out | departs | returns).fill_null(False)).select("user_id", "day").unique()


def _away_night_days(ctx: ScanContext) -> pl.LazyFrame:
    """The (user_id, day) pairs next to a night spent away from home, which are no commute days: a night (night
    hours of the places' settings) with precise positions, none at the home place and one that cannot be at home
    (farther from home's centre than a place reaches, twice ``place_radius_m``, net of its accuracy radius), and the
    days it starts (the evening route leads to it) and ends (the morning route leaves from it). Before a move, at a
    partner's or a second flat in the same city, the route to work starts elsewhere: measured against the scan's
    one home, the drive from the old flat was a deviation on every commute day (120 findings in a year for one
    move). A night whose only fix is a flat's indoor scatter 250 m off its centre is no night away: it silenced
    the commute checks of two days."""
    home = home_work(ctx).lazy().select("user_id", "home_pi", "home_pj", "home_lat", "home_lon")
    at_home = ((pl.col("pi") == pl.col("home_pi")) & (pl.col("pj") == pl.col("home_pj"))).fill_null(False)
    reach_km = REACH_CELLS * float(place_settings(ctx)["place_radius_m"]) / 1000
    elsewhere = haversine_km("home_lat", "home_lon", "lat", "lon") - pl.col("acc_km") > reach_km
    away = (night_positions(ctx).join(home, on="user_id", how="inner")
            .group_by("user_id", pl.col("night").alias("day"))
            .agg(at_home.any().alias("_home"), elsewhere.fill_null(False).any().alias("_elsewhere"))
            .filter(~pl.col("_home") & pl.col("_elsewhere")).select("user_id", "day"))
    return pl.concat([away, away.with_columns(pl.col("day") + pl.duration(days=1))]).unique()


@register("geo.commute_deviation", rules="geo.commute_deviation", family="geo", needs=())
def commute_deviation(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a commute day whose farthest commute-window position leaves the home-work ellipse by more than
    ``max_deviation`` of D and ``min_detour_km`` (km, net of accuracy); one finding per user-day."""
    rule = ctx.cfg.rule("geo.commute_deviation")
    max_dev, min_detour = float(rule["max_deviation"]), float(rule["min_detour_km"])
    hw = _with_places(ctx).lazy().select("user_id", "home_city", "work_city", "home_area", "work_area", "work_lat",
                                         "work_lon", pl.col("home_lat").alias("h_lat"),
                                         pl.col("home_lon").alias("h_lon"))
    p = (local_positions(ctx).with_columns(home_side(ctx, float(rule["home_radius_km"])).alias("_out")).lazy()
         .join(hw.select("user_id"), on="user_id", how="semi").with_columns(pl.col("local_ts").dt.date().alias("day")))
    weekday = is_work_day(ctx)
    trips = _trip_days(p, float(rule["trip_edge_hours"]))
    hour = pl.col("local_ts").dt.hour()
    in_window = pl.any_horizontal([in_hours(hour, w) for w in rule["commute_hours"]])
    d_hw = haversine_km("h_lat", "h_lon", "work_lat", "work_lon")
    # The precise positions places are built from (reported coordinates accurate to max_place_accuracy_m: a city
    # name or an IP says nothing about a route), except those at a place where the user sleeps (min_home_nights
    # nights: a flat moved into, a second home): at home, not on a route (a mover's every morning at the new
    # flat was a deviation from the scan's one home).
    route = (placed_positions(ctx).lazy().join(hw.select("user_id"), on="user_id", how="semi")
             .join(night_places(ctx), on=["user_id", "pi", "pj"], how="anti")
             .select(local_positions(ctx).columns).with_columns(pl.col("local_ts").dt.date().alias("day")))
    cand = (route.filter(weekday & in_window)
            .join(trips, on=["user_id", "day"], how="anti")
            .join(_away_night_days(ctx), on=["user_id", "day"], how="anti")
            .join(hw, on="user_id", how="inner")
            .with_columns(d_hw.alias("D"), haversine_km("h_lat", "h_lon", "lat", "lon").alias("_d1"),
                          haversine_km("lat", "lon", "work_lat", "work_lon").alias("_d2"))
            .with_columns((pl.col("_d1") + pl.col("_d2") - pl.col("D")).alias("detour_raw"))
            .with_columns((pl.col("detour_raw") - detour_allowance("_d1", "_d2", "D", "acc_km"))
                          .clip(lower_bound=0).alias("detour"))
            .with_columns((pl.col("detour") / pl.col("D")).alias("dev"))
            .filter((pl.col("D") > 0) & (pl.col("dev") > max_dev) & (pl.col("detour") > min_detour)))
    day = (cand.with_columns(pl.len().over("user_id", "day").alias("n"),
                             pl.col("ts").min().over("user_id", "day").alias("first_ts"),
                             pl.col("ts").max().over("user_id", "day").alias("last_ts"))
           .sort(["user_id", "day", "dev", "ts"], descending=[False, False, True, False])
           .group_by("user_id", "day", maintain_order=True).first()
           .with_columns(place_name("lat", "lon", districts=True).alias("near")))
    return emit(
        day, rule,
        evidence={"day": pl.col("day").dt.to_string("%Y-%m-%d"), "farthest_lat": "lat", "farthest_lon": "lon",
                  "farthest_place": "near", "farthest_time": pl.col("local_ts").dt.strftime("%H:%M"),
                  "detour_km": pl.col("detour").round(2), "deviation": shown_above(pl.col("dev"), max_dev, 3),
                  "raw_detour_km": pl.col("detour_raw").round(2), "home_work_km": pl.col("D").round(2),
                  "positions_off_route": "n", "home_city": "home_city", "home_area": "home_area", "home_lat": "h_lat",
                  "home_lon": "h_lon", "work_city": "work_city", "work_area": "work_area", "work_lat": "work_lat",
                  "work_lon": "work_lon",
                  "max_deviation": max_dev, "min_detour_km": min_detour},
        summary=fmt("On {} at {} the commute between home in {} and work in {} went {} km out of the way "
                          "near {} (deviation {} > {})", pl.col("day").dt.to_string("%a %Y-%m-%d"),
                          pl.col("local_ts").dt.strftime("%H:%M"), "home_area", "work_area",
                          thousands("detour", 1), "near", shown_above(pl.col("dev"), max_dev), pl.lit(max_dev)),
    )


@register("geo.stable_commute", rules="geo.stable_commute", family="geo", needs=(), identity=("user_id",))
def stable_commute(ctx: ScanContext) -> pl.LazyFrame:
    """Bonus: at the work place in ``arrival_hours`` on ``min_share``+ of the weekdays with precise positions,
    the at-work days spanning ``min_span_days``+ days; one finding per user."""
    rule = ctx.cfg.rule("geo.stable_commute")
    share_min, span_min = float(rule["min_share"]), float(rule["min_span_days"])
    hw = _with_places(ctx).lazy().select("user_id", "work_pi", "work_pj", "work_city", "home_city", "work_area",
                                         "work_lat", "work_lon", "home_lat", "home_lon")
    p = (placed_positions(ctx).lazy().filter(is_work_day(ctx))
         .with_columns(pl.col("local_ts").dt.date().alias("day")).join(hw, on="user_id", how="inner"))
    at_work = (pl.col("pi") == pl.col("work_pi")) & (pl.col("pj") == pl.col("work_pj")) \
        & in_hours(pl.col("local_ts").dt.hour(), rule["arrival_hours"])
    per = (p.group_by("user_id").agg(
        pl.col("day").n_unique().alias("weekdays"), pl.col("day").filter(at_work).n_unique().alias("at_work"),
        pl.col("day").filter(at_work).min().alias("d0"), pl.col("day").filter(at_work).max().alias("d1"),
        pl.col("ts").filter(at_work).min().alias("first_ts"), pl.col("ts").filter(at_work).max().alias("last_ts"),
        *[pl.col(c).first() for c in ("work_city", "home_city", "work_area", "work_lat", "work_lon", "home_lat",
                                      "home_lon")])
        .with_columns((pl.col("at_work") / pl.col("weekdays")).alias("share"),
                      (pl.col("d1") - pl.col("d0")).dt.total_days().alias("span"))
        .filter((pl.col("share") >= share_min) & (pl.col("span") >= span_min)))
    h = rule["arrival_hours"]
    return emit(
        per, rule,
        evidence={"weekdays_with_positions": "weekdays", "weekdays_at_work": "at_work",
                  "share": pl.col("share").round(3), "span_days": "span", "work_city": "work_city",
                  "work_lat": "work_lat", "work_lon": "work_lon", "home_city": "home_city", "home_lat": "home_lat",
                  "home_lon": "home_lon", "arrival_hours": pl.lit(f"{h[0]:02d}:00-{h[1]:02d}:00"),
                  "min_share": share_min, "min_span_days": span_min},
        summary=fmt("At work in {} by {}:00 on {}% of {} weekdays over {} days", "work_area",
                          pl.lit(f"{h[1]:02d}"), (pl.col("share") * 100).round(0).cast(pl.Int64),
                          thousands("weekdays"), thousands("span")),
    )
