"""``geo.impossible_travel``: two consecutive positioned events of a user too far apart for the time between.

Flags a pair when the distance, reduced by both positions' accuracy radii, is over ``min_distance_km`` and
the implied speed is over ``max_speed_kmh`` (a commercial jet cruises at ~900 km/h).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.geo.distance import haversine_km
from fraud.registry import register

DEFAULT_ACCURACY_M = 100.0  # contract section 5: lat/lon without accuracy_m


def positioned_events(ctx: ScanContext) -> pl.LazyFrame:
    """Every event with a coordinate: account events with lat/lon and location pings, sorted by (user, ts).

    Columns: user_id, ts, lat, lon, accuracy_km, source (``event`` or ``ping``), event, device_id, ip, city.
    """
    ev = ctx.logins.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()).select(
        "user_id", "ts", "lat", "lon", pl.lit(DEFAULT_ACCURACY_M / 1000).alias("accuracy_km"),
        pl.lit("event").alias("source"), "event", "device_id", "ip", "city")
    pings = ctx.locations.select(
        "user_id", "ts", "lat", "lon", (pl.col("accuracy_m").fill_null(DEFAULT_ACCURACY_M) / 1000).alias("accuracy_km"),
        pl.lit("ping").alias("source"), pl.lit(None, pl.String).alias("event"),
        pl.lit(None, pl.String).alias("device_id"), pl.lit(None, pl.String).alias("ip"),
        pl.lit(None, pl.String).alias("city"))
    return pl.concat([ev, pings]).sort(["user_id", "ts", "source", "lat", "lon"])


def _place(city: pl.Expr, lat: pl.Expr, lon: pl.Expr) -> pl.Expr:
    return pl.coalesce(city, pl.format("({}, {})", lat.round(3), lon.round(3)))


@register("geo.impossible_travel", rules="geo.impossible_travel", family="geo", needs=())
def impossible_travel(ctx: ScanContext) -> pl.LazyFrame:
    rule = ctx.cfg.rule("geo.impossible_travel")
    min_km, max_kmh = float(rule["min_distance_km"]), float(rule["max_speed_kmh"])
    p = positioned_events(ctx)
    prev = {c: pl.col(c).shift(1).over("user_id") for c in ("ts", "lat", "lon", "accuracy_km", "city")}
    pairs = p.with_columns(
        prev["ts"].alias("prev_ts"), prev["lat"].alias("prev_lat"), prev["lon"].alias("prev_lon"),
        prev["accuracy_km"].alias("prev_acc"), prev["city"].alias("prev_city"),
    ).filter(pl.col("prev_ts").is_not_null()).with_columns(
        haversine_km("prev_lat", "prev_lon", "lat", "lon").alias("km"),
        ((pl.col("ts") - pl.col("prev_ts")).dt.total_microseconds() / 3.6e9).alias("hours"),
    ).with_columns(
        (pl.col("km") - pl.col("prev_acc") - pl.col("accuracy_km")).clip(lower_bound=0).alias("km_net"),
    ).with_columns(
        pl.when(pl.col("hours") > 0).then(pl.col("km_net") / pl.col("hours")).otherwise(float("inf"))
        .alias("kmh"),
    ).filter((pl.col("km_net") > min_km) & (pl.col("kmh") > max_kmh))
    minutes = (pl.col("hours") * 60).round(1)
    speed = pl.when(pl.col("kmh").is_infinite()).then(pl.lit("instant")).otherwise(
        pl.format("{} km/h", pl.col("kmh").round(0).cast(pl.Int64)))
    return emit(
        pairs, rule,
        first_ts="prev_ts", last_ts="ts", device_id="device_id", ip="ip",
        evidence={"from": _place(pl.col("prev_city"), pl.col("prev_lat"), pl.col("prev_lon")),
                  "to": _place(pl.col("city"), pl.col("lat"), pl.col("lon")),
                  "from_lat": pl.col("prev_lat"), "from_lon": pl.col("prev_lon"),
                  "to_lat": pl.col("lat"), "to_lon": pl.col("lon"),
                  "distance_km": pl.col("km").round(1), "minutes": minutes,
                  "speed_kmh": pl.when(pl.col("kmh").is_infinite()).then(None).otherwise(pl.col("kmh").round(0)),
                  "min_distance_km": min_km, "max_speed_kmh": max_kmh},
        summary=pl.format("Event in {} {} km from {} {} min after the previous one ({})",
                          _place(pl.col("city"), pl.col("lat"), pl.col("lon")), pl.col("km").round(0).cast(pl.Int64),
                          _place(pl.col("prev_city"), pl.col("prev_lat"), pl.col("prev_lon")), minutes, speed),
    )
