"""``geo.residence_change``: the inferred home moved more than ``max_moves`` (1) times within ``within_days``
(365) days (contract section 5).

The home is inferred per local calendar month, from months with at least ``min_nights`` (10) nights of precise
positions (a night belongs to the month it starts in): the month's home is the place with most nights in it.
A month is a move when its home lies more than ``move_km`` (1 km) from the previous such month's home and the
next such month's home lies within ``move_km`` of the new one (a stay, not a trip). A one-month excursion — a
month whose home lies more than ``move_km`` from its neighbours' homes while those lie within ``move_km`` of each
other (a month-long holiday, then home again) — is not a "previous such month" for the month after it: coming
home from a holiday is no move. One finding per user, at
the first move that makes more than ``max_moves`` moves within ``within_days``.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import fmt, reach_us
from fraud.findings import emit
from fraud.exprs import thousands
from fraud.geo.distance import haversine_km
from fraud.geo.gazetteer import place_name
from fraud.geo.places import in_hours, night_date, place_centres, place_settings, placed_positions
from fraud.registry import NotEvaluated, register, rows_meeting


def monthly_homes(ctx: ScanContext, min_nights: int) -> pl.LazyFrame:
    """One row per (user_id, month) with ``min_nights``+ nights of positions: the month's home place
    (pi, pj, lat, lon), its nights, the month's nights and first/last position times. Raises NotEvaluated when
    no user has such a month (homes cannot be followed: not "no move"); counts the months with night positions
    and those with enough nights in the notes of ``geo.residence_change``."""
    s = place_settings(ctx)
    p = placed_positions(ctx)
    if p.height == 0:
        raise NotEvaluated("no precise positions (lat/lon or pings) to infer homes from")
    nights = (p.lazy().filter(in_hours(pl.col("local_ts").dt.hour(), s["night_hours"]))
              .with_columns(night_date(pl.col("local_ts"), int(s["night_hours"][1])).alias("night"))
              .select("user_id", "ts", "pi", "pj", "_w", "night", pl.col("night").dt.truncate("1mo").alias("month"))
              .collect().lazy())  # read twice below (the months are counted before the rest of the plan runs)
    all_months = nights.group_by("user_id", "month").agg(
        pl.col("night").n_unique().alias("month_nights"), pl.col("ts").min().alias("m_first"),
        pl.col("ts").max().alias("m_last")).collect()
    month = rows_meeting(all_months, pl.col("month_nights") >= min_nights,
                         ctx.notes.setdefault("geo.residence_change", {}),
                         ("user_months_with_min_nights", "user_months_below_min_nights"),
                         f"no user has a month with {min_nights} nights of positions (min_nights) to infer a monthly "
                         "home from").lazy()
    home = (nights.filter(pl.col("pi").is_not_null()).group_by("user_id", "month", "pi", "pj")
            .agg(pl.col("night").n_unique().alias("nights"), pl.col("_w").sum().alias("_n"))  # ties: more time there
            .sort(["user_id", "month", "nights", "_n", "pi", "pj"], descending=[False, False, True, True, False, False])
            .group_by("user_id", "month", maintain_order=True).first())
    return (month.join(home, on=["user_id", "month"], how="inner")
            .join(place_centres(ctx).lazy().select("user_id", "pi", "pj", "lat", "lon"),
                  on=["user_id", "pi", "pj"], how="left")
            .sort(["user_id", "month"]))


@register("geo.residence_change", rules="geo.residence_change", family="geo", needs=())
def residence_change(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a user whose monthly home moved (see module doc) more than ``max_moves`` times within
    ``within_days`` days; evidence lists the moves in that span (months, places, km)."""
    rule = ctx.cfg.rule("geo.residence_change")
    move_km, max_moves = float(rule["move_km"]), int(rule["max_moves"])
    # closed, as every "within": month starts exactly within_days apart (January 2023, January 2024) are within it
    within = f"{reach_us(int(rule['within_days']) * 86_400_000_000)}i"
    prev = {c: pl.col(c).shift(1).over("user_id") for c in ("lat", "lon", "month")}
    nxt = {c: pl.col(c).shift(-1).over("user_id") for c in ("lat", "lon")}

    def with_neighbours(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.with_columns(prev["lat"].alias("p_lat"), prev["lon"].alias("p_lon"), prev["month"].alias("p_month"),
                                nxt["lat"].alias("n_lat"), nxt["lon"].alias("n_lon"))
                .with_columns(haversine_km("p_lat", "p_lon", "lat", "lon").alias("km"),
                              haversine_km("lat", "lon", "n_lat", "n_lon").alias("next_km")))

    excursion = ((pl.col("km") > move_km) & (pl.col("next_km") > move_km)
                 & (haversine_km("p_lat", "p_lon", "n_lat", "n_lon") <= move_km))
    months = monthly_homes(ctx, int(rule["min_nights"]))
    kept = with_neighbours(months).filter(~excursion.fill_null(False)).select(months.collect_schema().names())
    moves = (with_neighbours(kept)
             .filter((pl.col("km") > move_km) & (pl.col("next_km") <= move_km))
             .with_columns(pl.col("month").cast(pl.Datetime("us")).alias("mdt"))
             .with_columns(pl.col("mdt").dt.epoch("us").alias("_t"))
             .with_columns(pl.col("mdt").is_not_null().cast(pl.Int64).rolling_sum_by("_t", within)
                           .over("user_id").alias("n_moves"),
                           pl.col("mdt").rolling_min_by("_t", within).over("user_id").alias("span_start")))
    hit = (moves.filter(pl.col("n_moves") > max_moves).sort(["user_id", "month"])
           .group_by("user_id", maintain_order=True).first()
           .select("user_id", pl.col("month").alias("hit_month"), "span_start", "n_moves"))
    span = (moves.join(hit, on="user_id", how="inner")
            .filter((pl.col("mdt") >= pl.col("span_start")) & (pl.col("month") <= pl.col("hit_month")))
            .with_columns(place_name("p_lat", "p_lon", districts=True).alias("from_city"),
                          place_name("lat", "lon", districts=True).alias("to_city"))
            .with_columns(pl.when(pl.col("from_city") == pl.col("to_city"))
                          .then(fmt("{}: {} km within {}", pl.col("month").dt.to_string("%Y-%m"),
                                          thousands("km", 1), "to_city"))
                          .otherwise(fmt("{}: {} -> {} ({} km)", pl.col("month").dt.to_string("%Y-%m"),
                                               "from_city", "to_city", thousands("km", 1))).alias("move"),
                          # the inferred homes each move joins, for a reviewer to check (contract section 5)
                          pl.struct(pl.col("month").dt.to_string("%Y-%m").alias("month"),
                                    pl.col("p_lat").alias("from_lat"), pl.col("p_lon").alias("from_lon"),
                                    pl.col("lat").alias("to_lat"), pl.col("lon").alias("to_lon"),
                                    pl.col("km").round(2).alias("km")).alias("home"))
            .sort(["user_id", "month"])
            .group_by("user_id").agg(
                pl.col("move").alias("moves"), pl.col("home").alias("homes"), pl.col("n_moves").max(),
                pl.col("m_first").min().alias("first_ts"),
                pl.col("m_first").max().alias("last_ts"), pl.col("month").max().alias("hit_month"),
                pl.col("from_city").first().alias("first_home"), pl.col("to_city").last().alias("last_home")))
    return emit(
        span, rule,
        evidence={"moves": "moves", "homes": "homes", "n_moves": "n_moves", "within_days": rule["within_days"],
                  "max_moves": max_moves, "move_km": move_km, "min_nights": rule["min_nights"]},
        summary=fmt("Home moved {} times within {} days: {}", "n_moves", pl.lit(int(rule["within_days"])),
                          pl.col("moves").list.join("; ")),
    )
