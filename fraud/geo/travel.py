"""``geo.impossible_travel``: two consecutive positioned events of a user too far apart for the time between.

Every position with coordinates takes part (lat/lon events, location pings, IP-city and city-name positions;
country-only positions never do, nor failed login attempts: :func:`fraud.geo.positions.positions`). The events
placed only in a country (by their IP or country name) are counted, not judged (``events_country_only_not_placed``
in ``summary.json``): a takeover login known only by a foreign IP country is not called clean. A pair
of consecutive positions (by time, per user) is flagged when its distance reduced by both accuracy radii is
over ``min_distance_km`` (100 km) and that reduced distance over the elapsed time is over ``max_speed_kmh``
(900 km/h, a jet's cruise); a zero elapsed time is an infinite speed; distances are WGS84 geodesic ones.
Evidence names both places and gives the distance, the minutes and the speeds. Flagged pairs in a row (each
pair's end the next one's start) are one run and one finding: the first pair's window and evidence, plus the
run's ``legs`` (its pairs), ``until`` (its last position's time), ``last_place``, ``top_speed_kmh`` (its fastest
pair with time between them, km/h) and the places, devices and IPs it went through (the first
:data:`RUN_VALUES_LISTED` of each, ``n_*`` counting all). A run ends at a possible leg and where the rule's
point windows start (see :func:`_point_windows`).

A lone location ping that is impossible both from the previous position and to the next one, while those two
are a possible pair (A -> B -> A' with A' near A), is a bad fix (a GPS glitch, a Wi-Fi database error) rather
than two impossible trips. So is a ping B between two pings with only one impossible leg, when B lies farther than
``min_distance_km`` from both and they lie within ``min_distance_km`` of each other (a phone at rest samples every
15-60 min: the leg into a glitch 400 km off often looks possible, the way back 18 min later does not). With
``ignore_lone_ping_spikes`` its two pairs are left out and counted (``lone_ping_spikes_ignored`` in
``summary.json``). An account event is never left out (one login from afar between two at home is the
account-takeover shape), nor are two or more such fixes in a row (:func:`with_lone_ping_spikes`).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import fmt, iso, shown_above, thousands, thousands_above
from fraud.findings import emit
from fraud.geo.distance import SPHERE_MARGIN, geodesic_km, haversine_bound_km, haversine_km
from fraud.geo.gazetteer import place_cc, place_name
from fraud.geo.localtime import with_local_time
from fraud.geo.positions import COUNTRY_ONLY_SOURCES, positions
from fraud.registry import NotEvaluated, register
from fraud.scoring import window_bucket


def event_word(kind: pl.Expr, event: pl.Expr) -> pl.Expr:
    """``Login``, ``Payment`` ... for account events, ``Location ping`` for pings."""
    ev = event.fill_null("event").str.replace_all("_", " ")
    cap = pl.concat_str([ev.str.slice(0, 1).str.to_uppercase(), ev.str.slice(1)])
    return pl.when(kind == "ping").then(pl.lit("Location ping")).otherwise(cap)


def display_place(city: str, lat: str, lon: str, source: str) -> pl.Expr:
    """The name of a position for a summary: the gazetteer's name of the coordinates for a reported fix (a lat/lon
    event or a ping, whose city text may come from an upstream GeoIP lookup and lie elsewhere), else the input's
    city name, else the coordinates' name."""
    by_fix = pl.col(source).is_in(["latlon", "ping"])
    named = place_name(lat, lon)
    return pl.when(by_fix).then(pl.coalesce(named, pl.col(city))).otherwise(pl.coalesce(pl.col(city), named))


def minutes_text(minutes: pl.Expr) -> pl.Expr:
    """``3 s`` under a minute, ``4.5 min`` under ten, else ``38 min``."""
    return (pl.when(minutes < 1).then(fmt("{} s", thousands(minutes * 60)))
            .when(minutes < 10).then(fmt("{} min", thousands(minutes, 1))).otherwise(fmt("{} min", thousands(minutes))))


def too_fast(km_net: pl.Expr, hours: pl.Expr, min_km: float, max_kmh: float) -> pl.Expr:
    """A pair of positions ``km_net`` apart (net of both accuracy radii) ``hours`` apart is impossible: farther
    than ``min_km`` at more than ``max_kmh`` (a zero elapsed time is an infinite speed)."""
    kmh = pl.when(hours > 0).then(km_net / hours).otherwise(float("inf"))
    return (km_net > min_km) & (kmh > max_kmh)


def may_be_far(a: dict[str, pl.Expr], b: dict[str, pl.Expr], min_km: float, scale: float = 1.0) -> pl.Expr:
    """A cheap necessary condition (no trigonometry) for :func:`too_fast`'s distance test (net of both radii):
    the great-circle distance is at most R x (|dlat| + |dlon|) in radians (a path along a meridian and then a
    parallel is no shorter), so a pair whose bound, net of both radii, is within ``min_km`` cannot be too far.
    Rows are filtered on it before the exact distance is computed. ``scale``: the factor the caller applies to
    the distance."""
    bound = haversine_bound_km(a["lat"], a["lon"], b["lat"], b["lon"])
    return bound * scale - a["acc_km"] - b["acc_km"] > min_km


POINT = ("lat", "lon", "acc_km", "ts")
RUN_VALUES_LISTED = 20  # places, devices and IPs of a run of jumps listed in its evidence (n_* counts them all)


def _at(k: int) -> dict[str, pl.Expr]:
    """The position ``k`` rows away (``shift`` offset: 1 the previous row, -1 the next, 0 this one)."""
    return {c: pl.col(c).shift(k) if k else pl.col(c) for c in POINT}


def _net_km(a: dict[str, pl.Expr], b: dict[str, pl.Expr]) -> pl.Expr:
    """Haversine distance between positions ``a`` and ``b`` net of both accuracy radii (km, at least 0)."""
    return (haversine_km(a["lat"], a["lon"], b["lat"], b["lon"]) - a["acc_km"] - b["acc_km"]).clip(lower_bound=0)


def _hours(a: dict[str, pl.Expr], b: dict[str, pl.Expr]) -> pl.Expr:
    return (b["ts"] - a["ts"]).dt.total_microseconds() / 3.6e9


def with_lone_ping_spikes(lf: pl.LazyFrame, min_km: float, max_kmh: float, out: str = "_spike") -> pl.LazyFrame:
    """``lf`` (sorted by (user_id, ts), with ``lat``, ``lon``, ``acc_km``, ``ts``, ``kind``) with a Boolean column
    ``out``: True for a lone ping spike, a location ping B between positions A and C of the same user that is

    * impossible (:func:`too_fast`) both from A and to C, while A and C are a possible pair; or
    * impossible from A or to C (one leg is enough: a phone at rest samples every 15-60 min, so the leg into a
      Wi-Fi database error 400 km off is often "possible"), A and C being location pings too, B farther than
      ``min_km`` from both and A and C within ``min_km`` of each other (all net of accuracy radii): C is back
      where A was, so one of the three is wrong, and the lone far one is;

    and whose neighbours are no such candidate themselves; a candidate of the second kind also yields to a
    neighbour of the first (so leaving the spikes out never puts two left-out positions side by side: every new
    pair is a checked possible one). An account event is never a spike, nor are two far fixes in a row."""
    user, ping = pl.col("user_id"), pl.col("kind") == "ping"
    # the leg into a row, once; the leg out of it is the next row's leg in. (Filtering the rows on may_be_far
    # first and joining the few candidates back was slower: 0.75 against 0.33 s on a 10M slice's 2.2M positions.)
    lf = lf.with_columns(_net_km(_at(1), _at(0)).alias("_km_in"), _hours(_at(1), _at(0)).alias("_h_in"))
    lf = lf.with_columns(too_fast(pl.col("_km_in"), pl.col("_h_in"), min_km, max_kmh).alias("_leg_in"),
                         (pl.col("_km_in") > min_km).alias("_far_in"))
    leg_in, leg_out = pl.col("_leg_in"), pl.col("_leg_in").shift(-1)
    far_in, far_out = pl.col("_far_in"), pl.col("_far_in").shift(-1)
    km_ac, h_ac = _net_km(_at(1), _at(-1)), _hours(_at(1), _at(-1))
    between = ping & (user == user.shift(1)) & (user == user.shift(-1))
    both = (between & leg_in & leg_out & ~too_fast(km_ac, h_ac, min_km, max_kmh)).fill_null(False)
    one = (between & ping.shift(1) & ping.shift(-1) & (leg_in | leg_out) & far_in & far_out
           & (km_ac <= min_km)).fill_null(False)
    b, c = pl.col("_both"), pl.col("_cand")

    def alone(x: pl.Expr) -> pl.Expr:
        return ~x.shift(1, fill_value=False) & ~x.shift(-1, fill_value=False)

    # the candidates as columns first: shifting the whole expressions would evaluate them three times
    return (lf.with_columns(both.alias("_both"), one.alias("_one"))
            .with_columns((b | pl.col("_one")).alias("_cand"))
            .with_columns(((b & alone(b)) | (c & ~b & alone(c))).alias(out))
            .drop("_km_in", "_h_in", "_leg_in", "_far_in", "_both", "_one", "_cand"))


def _point_windows(flagged: pl.LazyFrame, ctx: ScanContext, window_days: float) -> pl.LazyFrame:
    """``flagged`` (pairs sorted by user and time) with ``_window``: the scoring window
    (:func:`fraud.scoring.window_bucket`) of each pair's start, counted from the user's first pair."""
    whole = pl.lit(int(window_days) if window_days == int(window_days) else None, pl.Int64)
    return with_local_time(flagged, ctx, ts="prev_ts", out="_local").with_columns(
        window_bucket(pl.col("_local").dt.date().cast(pl.Int64), pl.col("prev_ts"), whole,
                      pl.lit(int(window_days * 86_400e6)), "user_id").alias("_window")).drop("_local")


@register("geo.impossible_travel", rules="geo.impossible_travel", family="geo", needs=())
def impossible_travel(ctx: ScanContext) -> pl.LazyFrame:
    """Flags consecutive positions more than ``min_distance_km`` apart (net of both accuracy radii) at more
    than ``max_speed_kmh`` (net distance / elapsed hours); one finding per run of flagged pairs in a row.
    Distances are WGS84 geodesic ones (as geopy's ``geodesic``), the figures the evidence shows, computed for the
    candidates a vectorised haversine pass leaves (within :data:`SPHERE_MARGIN`)."""
    rule = ctx.cfg.rule("geo.impossible_travel")
    min_km, max_kmh = float(rule["min_distance_km"]), float(rule["max_speed_kmh"])
    # Events placed only in a country (its IP's, its country column's) take no part (contract section 5: never in
    # distance rules), so this check cannot judge them: counted, so that "ok, 0 findings" is not read as "every
    # event judged" (a takeover login known only by a foreign IP country is one of them).
    notes = ctx.notes.setdefault("geo.impossible_travel", {})
    notes["events_country_only_not_placed"] = int(
        positions(ctx).select(pl.col("source").is_in(COUNTRY_ONLY_SOURCES).sum()).item())
    p = positions(ctx).lazy().filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    # a trip needs two positions of one user: a batch of one positioned event per user shows none (positions are
    # sorted by user and time)
    any_position, any_pair = p.select(pl.len() > 0, (pl.col("user_id") == pl.col("user_id").shift(1)).any()
                                      ).collect().row(0)
    if not any_position:
        raise NotEvaluated("no event or ping has a position with coordinates")
    if not any_pair:
        raise NotEvaluated("no user has two positions with coordinates (a trip needs two)", stage=2)
    if rule["ignore_lone_ping_spikes"]:
        spike = with_lone_ping_spikes(p.select("user_id", "ts", "kind", "lat", "lon", "acc_km"), min_km,
                                      max_kmh).select("_spike").collect().to_series()
        notes["lone_ping_spikes_ignored"] = int(spike.sum())
        p = p.with_columns(spike.alias("_spike")).filter(~pl.col("_spike")).drop("_spike")
    # the position's place in the (spike-free) sequence: consecutive flagged pairs are one run of jumps
    p = p.with_row_index("_i")
    cols = ("ts", "lat", "lon", "acc_km", "city", "kind", "event", "source", "device_id", "ip")
    # positions are sorted by (user_id, ts): a plain shift, kept where the previous row is the same user's
    here = {c: pl.col(c) for c in POINT}
    prev = {c: pl.col(f"prev_{c}") for c in POINT}
    pairs = p.with_columns([pl.col(c).shift(1).alias(f"prev_{c}") for c in cols]).filter(
        (pl.col("user_id") == pl.col("user_id").shift(1)) & may_be_far(prev, here, min_km, 1 + SPHERE_MARGIN)
    ).with_columns(
        haversine_km("prev_lat", "prev_lon", "lat", "lon").alias("km"),
        ((pl.col("ts") - pl.col("prev_ts")).dt.total_microseconds() / 3.6e9).alias("hours"),
    ).with_columns(
        (pl.col("km") * (1 + SPHERE_MARGIN) - pl.col("prev_acc_km") - pl.col("acc_km")).clip(lower_bound=0)
        .alias("km_net"),
    ).filter(too_fast(pl.col("km_net"), pl.col("hours"), min_km, max_kmh))
    # The haversine pass above keeps every candidate; the decision is taken on the WGS84 distance the evidence shows.
    flagged = pairs.with_columns(geodesic_km("prev_lat", "prev_lon", "lat", "lon").alias("gkm")).with_columns(
        (pl.col("gkm") - pl.col("prev_acc_km") - pl.col("acc_km")).clip(lower_bound=0).alias("gkm_net"),
    ).filter(too_fast(pl.col("gkm_net"), pl.col("hours"), min_km, max_kmh)).with_columns(
        display_place("prev_city", "prev_lat", "prev_lon", "prev_source").alias("from_place"),
        display_place("city", "lat", "lon", "source").alias("to_place"),
        (pl.col("hours") * 60).alias("minutes"),
        pl.when(pl.col("hours") > 0).then(pl.col("gkm") / pl.col("hours")).alias("speed"),
    )
    # "London 5,893 km from London" says nothing: two places of one name show their countries (London, CA)
    same = pl.col("from_place").str.to_lowercase() == pl.col("to_place").str.to_lowercase()
    flagged = flagged.with_columns(
        *[pl.when(same).then(pl.format("{}, {}", pl.col(side), place_cc(lat, lon))).otherwise(pl.col(side))
          .fill_null(pl.col(side)).alias(side)
          for side, lat, lon in (("from_place", "prev_lat", "prev_lon"), ("to_place", "lat", "lon"))])
    # A run of jumps in a row (each pair's end the next one's start: a client flipping between two places, a
    # takeover alternating with the holder) is one finding (one per pair gave a spoofing client's account 185k
    # findings). It is cut where the rule's point windows start, so a month-long run costs what its pairs did. The
    # finding spans the run (first_ts its first jump's start, last_ts its last jump's end: contract section 2, the
    # span of the evidence) and describes its first jump (places, distance, speed, device and IP); its evidence adds
    # the rest: how many jumps, until when, places, devices and IPs.
    new_run = ((pl.col("_i") != pl.col("_i").shift(1) + 1) | (pl.col("_window") != pl.col("_window").shift(1))
               ).fill_null(True)

    seen = {"places": ("from_place", "to_place"), "devices": ("prev_device_id", "device_id"), "ips": ("prev_ip", "ip")}
    flagged = _point_windows(flagged, ctx, float(rule.window_days)).with_columns(
        new_run.cum_sum().alias("_run")).group_by("_run", maintain_order=True).agg(
        pl.all().exclude("_window").first(), pl.len().alias("legs"), pl.col("ts").last().alias("_run_end"),
        pl.col("to_place").last().alias("_last_place"), pl.col("speed").max().alias("_top_speed"),
        # the run's distinct values in order of appearance
        *[pl.col(first).first().append(pl.col(rest)).drop_nulls().unique(maintain_order=True).alias(f"_{name}")
          for name, (first, rest) in seen.items()]).with_columns(
        *[pl.col(f"_{name}").list.len().alias(f"_n_{name}") for name in seen],
        *[pl.col(f"_{name}").list.head(RUN_VALUES_LISTED) for name in seen])
    speed_txt = pl.when(pl.col("speed").is_null()).then(pl.lit("at the same time")).otherwise(
        fmt("({} km/h)", thousands_above(pl.col("speed"), max_kmh)))
    when_txt = pl.when(pl.col("hours") > 0).then(
        fmt("{} after the previous one {}", minutes_text(pl.col("minutes")), speed_txt)).otherwise(
        pl.lit("at the same time as the previous one"))
    more_txt = pl.when(pl.col("legs") > 1).then(
        fmt("; the first of {} impossible jumps in a row, until {}", thousands("legs"),
            pl.col("_run_end").dt.strftime("%Y-%m-%d %H:%M UTC"))).otherwise(pl.lit(""))
    return emit(
        flagged, rule,
        first_ts="prev_ts", last_ts="_run_end", device_id="device_id", ip="ip",
        evidence={"from": "from_place", "to": "to_place",
                  "from_event": event_word(pl.col("prev_kind"), pl.col("prev_event")), "from_source": "prev_source",
                  "to_event": event_word(pl.col("kind"), pl.col("event")), "to_source": "source",
                  "from_lat": "prev_lat", "from_lon": "prev_lon", "to_lat": "lat", "to_lon": "lon",
                  "distance_km": pl.col("gkm").round(1), "minutes": pl.col("minutes").round(1),
                  "speed_kmh": shown_above(pl.col("speed"), max_kmh, 0),
                  "accuracy_km": (pl.col("prev_acc_km") + pl.col("acc_km")).round(3),
                  "net_distance_km": pl.col("gkm_net").round(1),
                  "net_speed_kmh": pl.when(pl.col("hours") > 0).then(
                      shown_above(pl.col("gkm_net") / pl.col("hours"), max_kmh, 0)),
                  "min_distance_km": min_km, "max_speed_kmh": max_kmh,
                  "legs": "legs", "until": iso("_run_end"), "last_place": "_last_place",
                  "top_speed_kmh": shown_above(pl.col("_top_speed"), max_kmh, 0), "places": "_places",
                  "n_places": "_n_places",
                  "devices": "_devices", "n_devices": "_n_devices", "ips": "_ips", "n_ips": "_n_ips"},
        summary=fmt("{} in {} {} km from {} {}{}", event_word(pl.col("kind"), pl.col("event")), "to_place",
                    thousands("gkm"), "from_place", when_txt, more_txt),
    )
