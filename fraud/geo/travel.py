"""``geo.impossible_travel``: two consecutive positioned events of a user too far apart for the time between.

Every position with coordinates takes part (lat/lon events, location pings, IP-city and city-name positions;
country-only positions never do). A pair of consecutive positions (by time, per user) is flagged when its
distance reduced by both accuracy radii is over ``min_distance_km`` (100 km) and that reduced distance over
the elapsed time is over ``max_speed_kmh`` (900 km/h, a jet's cruise); a zero elapsed time is an infinite
speed. Evidence names both places and gives the geodesic distance, the minutes and the speeds.

A lone location ping that is impossible both from the previous position and to the next one, while those two
are a possible pair (A -> B -> A' with A' near A), is a bad fix (a GPS glitch, a Wi-Fi database error) rather
than two impossible trips; with ``ignore_lone_ping_spikes`` its two pairs are left out and counted
(``lone_ping_spikes_ignored`` in ``summary.json``). An account event is never left out (one login from afar
between two at home is the account-takeover shape), nor are two or more such fixes in a row.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import fmt
from fraud.findings import emit
from fraud.geo.distance import geodesic_km, haversine_km, thousands
from fraud.geo.gazetteer import place_name
from fraud.geo.positions import positions
from fraud.registry import NotEvaluated, register


def event_word(kind: pl.Expr, event: pl.Expr) -> pl.Expr:
    """``Login``, ``Payment`` ... for account events, ``Location ping`` for pings."""
    ev = event.fill_null("event").str.replace_all("_", " ")
    cap = pl.concat_str([ev.str.slice(0, 1).str.to_uppercase(), ev.str.slice(1)])
    return pl.when(kind == "ping").then(pl.lit("Location ping")).otherwise(cap)


def display_place(city: str, lat: str, lon: str) -> pl.Expr:
    """The input's city name when given, else the gazetteer's name of the coordinates."""
    return pl.coalesce(pl.col(city), place_name(lat, lon))


def minutes_text(minutes: pl.Expr) -> pl.Expr:
    """``3 s`` under a minute, ``4.5 min`` under ten, else ``38 min``."""
    return (pl.when(minutes < 1).then(fmt("{} s", thousands(minutes * 60)))
            .when(minutes < 10).then(fmt("{} min", thousands(minutes, 1))).otherwise(fmt("{} min", thousands(minutes))))


def too_fast(km_net: pl.Expr, hours: pl.Expr, min_km: float, max_kmh: float) -> pl.Expr:
    """A pair of positions ``km_net`` apart (net of both accuracy radii) ``hours`` apart is impossible: farther
    than ``min_km`` at more than ``max_kmh`` (a zero elapsed time is an infinite speed)."""
    kmh = pl.when(hours > 0).then(km_net / hours).otherwise(float("inf"))
    return (km_net > min_km) & (kmh > max_kmh)


def lone_ping_spikes(pairs: pl.DataFrame, min_km: float, max_kmh: float) -> pl.Series:
    """Over the impossible pairs (sorted by ``_i``, with ``prev_*`` and current columns), True on the first pair
    of each lone ping spike: pairs ``_i`` and ``_i + 1`` are both impossible, position ``_i`` is a ping, its two
    neighbours (``prev_*`` of the first pair, the current columns of the second) are a possible pair, and no
    neighbouring position is itself such a candidate (so leaving the spikes out never puts two left-out
    positions side by side: every new pair is a checked possible one)."""
    nxt = {c: pl.col(c).shift(-1) for c in ("_i", "lat", "lon", "acc_km", "ts")}
    bridge_km = (haversine_km("prev_lat", "prev_lon", nxt["lat"], nxt["lon"]) - pl.col("prev_acc_km")
                 - nxt["acc_km"]).clip(lower_bound=0)
    bridge_h = (nxt["ts"] - pl.col("prev_ts")).dt.total_microseconds() / 3.6e9
    candidate = ((nxt["_i"] == pl.col("_i") + 1) & (pl.col("kind") == "ping")
                 & ~too_fast(bridge_km, bridge_h, min_km, max_kmh)).fill_null(False)
    # a candidate at position _i - 1 or _i + 1 is the first pair one row up or down, one position apart
    return pairs.select(candidate.alias("c"), pl.col("_i")).select(
        pl.col("c") & ~(pl.col("c").shift(1) & (pl.col("_i").shift(1) == pl.col("_i") - 1)).fill_null(False)
        & ~(pl.col("c").shift(-1) & (pl.col("_i").shift(-1) == pl.col("_i") + 1)).fill_null(False)
    ).to_series()


@register("geo.impossible_travel", rules="geo.impossible_travel", family="geo", needs=())
def impossible_travel(ctx: ScanContext) -> pl.LazyFrame:
    """Flags consecutive positions more than ``min_distance_km`` apart (net of both accuracy radii) at more
    than ``max_speed_kmh`` (net distance / elapsed hours); one finding per flagged pair."""
    rule = ctx.cfg.rule("geo.impossible_travel")
    min_km, max_kmh = float(rule["min_distance_km"]), float(rule["max_speed_kmh"])
    p = positions(ctx).lazy().filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    if not positions(ctx)["lat"].is_not_null().any():
        raise NotEvaluated("no event or ping has a position with coordinates")
    cols = ("ts", "lat", "lon", "acc_km", "city", "kind", "event", "source")
    # positions are sorted by (user_id, ts): a plain shift, kept where the previous row is the same user's; _i
    # numbers the positions, so pair _i is (position _i - 1, position _i)
    pairs = p.with_row_index("_i").with_columns([pl.col(c).shift(1).alias(f"prev_{c}") for c in cols]).filter(
        pl.col("user_id") == pl.col("user_id").shift(1)
    ).with_columns(
        haversine_km("prev_lat", "prev_lon", "lat", "lon").alias("km"),
        ((pl.col("ts") - pl.col("prev_ts")).dt.total_microseconds() / 3.6e9).alias("hours"),
    ).with_columns(
        (pl.col("km") - pl.col("prev_acc_km") - pl.col("acc_km")).clip(lower_bound=0).alias("km_net"),
    ).with_columns(
        pl.when(pl.col("hours") > 0).then(pl.col("km_net") / pl.col("hours")).otherwise(float("inf")).alias("kmh"),
    ).filter(too_fast(pl.col("km_net"), pl.col("hours"), min_km, max_kmh))
    if rule["ignore_lone_ping_spikes"]:
        pairs = pairs.collect().sort("_i")
        spikes = lone_ping_spikes(pairs, min_km, max_kmh)
        ctx.notes["geo.impossible_travel"] = {"lone_ping_spikes_ignored": int(spikes.sum())}
        pairs = pairs.filter(~(spikes | spikes.shift(1, fill_value=False))).lazy()
    flagged = pairs.with_columns(
        geodesic_km("prev_lat", "prev_lon", "lat", "lon").alias("gkm"),
        display_place("prev_city", "prev_lat", "prev_lon").alias("from_place"),
        display_place("city", "lat", "lon").alias("to_place"),
        (pl.col("hours") * 60).alias("minutes"),
    ).with_columns(
        pl.when(pl.col("hours") > 0).then(pl.col("gkm") / pl.col("hours")).alias("speed"),
        (pl.col("gkm") - pl.col("prev_acc_km") - pl.col("acc_km")).clip(lower_bound=0).alias("gkm_net"),
    )
    speed_txt = pl.when(pl.col("speed").is_null()).then(pl.lit("at the same time")).otherwise(
        fmt("({} km/h)", thousands("speed")))
    when_txt = pl.when(pl.col("hours") > 0).then(
        fmt("{} after the previous one {}", minutes_text(pl.col("minutes")), speed_txt)).otherwise(
        pl.lit("at the same time as the previous one"))
    return emit(
        flagged, rule,
        first_ts="prev_ts", last_ts="ts", device_id="device_id", ip="ip",
        evidence={"from": "from_place", "to": "to_place",
                  "from_event": event_word(pl.col("prev_kind"), pl.col("prev_event")), "from_source": "prev_source",
                  "to_event": event_word(pl.col("kind"), pl.col("event")), "to_source": "source",
                  "from_lat": "prev_lat", "from_lon": "prev_lon", "to_lat": "lat", "to_lon": "lon",
                  "distance_km": pl.col("gkm").round(1), "minutes": pl.col("minutes").round(1),
                  "speed_kmh": pl.col("speed").round(0),
                  "accuracy_km": (pl.col("prev_acc_km") + pl.col("acc_km")).round(3),
                  # the shown net figures follow the shown (geodesic) distance; the decision used the haversine one,
                  # which differs by well under 1%
                  "net_distance_km": pl.col("gkm_net").round(1),
                  "net_speed_kmh": pl.when(pl.col("hours") > 0).then((pl.col("gkm_net") / pl.col("hours")).round(0)),
                  "min_distance_km": min_km, "max_speed_kmh": max_kmh},
        summary=fmt("{} in {} {} km from {} {}", event_word(pl.col("kind"), pl.col("event")), "to_place",
                          thousands("gkm"), "from_place", when_txt),
    )
