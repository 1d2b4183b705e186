"""Month rules about being away from the home city (contract sections 3 and 5).

* ``geo.remote_logins``: ``min_logins`` (3) or more successful ``login`` events in one local calendar month
  outside the home city.
* ``geo.away_from_home``: in a local calendar month with at least ``min_events`` (20) positioned events (pings
  and positioned account events), less than ``min_home_share`` (80%) of them in the home city.

"Outside the home city" is :func:`fraud.geo.places.outside_home`: more than ``home_radius_km`` (50 km) from the
home place net of the position's accuracy radius (a position known only to its country: a country none of whose
cities lies within reach of the home place); for users without a home place, another city name than their most
frequent ``city`` (else ``registered_city``); where only countries are known, another country. Events whose side
cannot be told are left out of both counts.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import fmt, shown_below, thousands, thousands_below
from fraud.findings import emit
from fraud.geo.gazetteer import country_name, place_name
from fraud.geo.places import home_ref, home_side, local_positions
from fraud.registry import NotEvaluated, register, rows_meeting


def with_home_side(ctx: ScanContext, radius_km: float) -> pl.DataFrame:
    """:func:`local_positions` with the ``outside`` flag of :func:`fraud.geo.places.home_side` (null = cannot
    tell); the home's name and country are joined on the few rows a finding needs (:func:`with_home`)."""
    return _require_positions(ctx).with_columns(home_side(ctx, radius_km))


def with_home(lf: pl.LazyFrame, ctx: ScanContext) -> pl.LazyFrame:
    """``lf`` with the user's ``home_city`` and ``home_cc`` (:func:`home_ref`)."""
    return lf.join(home_ref(ctx).lazy().select("user_id", "home_city", "home_cc"), on="user_id", how="left")


def home_label() -> pl.Expr:
    """The home city's display name, or ``home country X`` when only the country is known."""
    return pl.coalesce(pl.col("home_city"), fmt("home country {}", country_name(pl.col("home_cc"))),
                       pl.lit("home"))


def where_label() -> pl.Expr:
    """A position's display name: its city name, else the gazetteer's name of its coordinates, else country."""
    return pl.coalesce(pl.col("city"), place_name("lat", "lon"), country_name(pl.col("country")))


def _require_positions(ctx: ScanContext) -> pl.DataFrame:
    p = local_positions(ctx)
    if p.height == 0:
        raise NotEvaluated("no event or ping has a position (lat/lon, IP, city or country)")
    return p


def month_col() -> pl.Expr:
    """The local calendar month as a datetime (its first instant): a cheap group key on every position; the
    findings show it as ``YYYY-MM`` (:func:`month_text`, applied to the few flagged rows)."""
    return pl.col("local_ts").dt.truncate("1mo").alias("month")


def month_text() -> pl.Expr:
    return pl.col("month").dt.strftime("%Y-%m").alias("month")


@register("geo.remote_logins", rules="geo.remote_logins", family="geo", needs=(), identity=("user_id", "month"))
def remote_logins(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a user-month (local calendar) with ``min_logins``+ successful ``event`` (login) events outside the
    home city; one finding per user-month."""
    rule = ctx.cfg.rule("geo.remote_logins")
    n_min = int(rule["min_logins"])
    counted = (pl.col("event") == rule["event"]) & pl.col("success").fill_null(True)
    p = with_home_side(ctx, float(rule["home_radius_km"])).lazy().filter((pl.col("kind") == "event") & counted)
    n_placed, n_told = p.select(pl.len(), pl.col("outside").count()).collect().row(0)
    n_all = ctx.logins.filter(counted).select(pl.len()).collect().item()
    # logins that cannot be placed (no lat/lon, an IP without a country, no city or country name) or whose user has
    # no home to compare with are in neither count: said, so that "no remote logins" is not read as all at home
    ctx.notes["geo.remote_logins"] = {"logins_without_position": n_all - n_placed,
                                      "logins_side_unknown": n_placed - n_told}
    if n_told == 0:
        # the reason names no count: a sliced scan keeps one slice's reason (the counts are the notes, summed)
        raise NotEvaluated(f"no successful {rule['event']} event can be placed against a home (without any "
                           "position, or of users without a home to compare with)", stage=2)
    out = (with_home(p.filter(pl.col("outside").fill_null(False))
                     .with_columns(month_col()).filter(pl.len().over("user_id", "month") >= n_min), ctx)
           .with_columns(where_label().alias("where")))
    # ties on ts broken by content, so the places' order and the IP never depend on row order
    per = (out.sort(["user_id", "ts", "where", "ip"], nulls_last=True).group_by("user_id", "month").agg(
        pl.len().alias("n"), pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"),
        pl.col("where").drop_nulls().unique(maintain_order=True).alias("places"),
        pl.col("home_city").first(), pl.col("home_cc").first(), pl.col("local_ts").first().alias("lt"),
        pl.col("ip").drop_nulls().first().alias("ip"))).with_columns(month_text())
    return emit(
        per, rule, ip="ip",
        evidence={"month": "month", "logins": "n", "places": "places", "home_city": "home_city",
                  "home_country": "home_cc", "min_logins": n_min, "home_radius_km": rule["home_radius_km"]},
        summary=fmt("{} logins in {} from outside {}: {}", "n", pl.col("lt").dt.strftime("%B %Y"),
                          home_label(), pl.col("places").list.join(", ")),
    )


@register("geo.away_from_home", rules="geo.away_from_home", family="geo", needs=(), identity=("user_id", "month"))
def away_from_home(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a user-month (local calendar) with ``min_events``+ positioned events of which less than
    ``min_home_share`` lie in the home city; one finding per user-month."""
    rule = ctx.cfg.rule("geo.away_from_home")
    n_min, share_min = int(rule["min_events"]), float(rule["min_home_share"])
    sided = with_home_side(ctx, float(rule["home_radius_km"]))
    # positions whose side of the home city cannot be told (a country-only one beside a home place, a name placed
    # nowhere) are in neither count: said, not silent
    ctx.notes.setdefault("geo.away_from_home", {})["positions_side_unknown"] = sided["outside"].null_count()
    p = sided.lazy().filter(pl.col("outside").is_not_null()).with_columns(month_col())
    all_months = p.group_by("user_id", "month").agg(
        pl.len().alias("n"), (~pl.col("outside")).sum().alias("n_home"), pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"), pl.col("local_ts").first().alias("lt")).collect()
    # a month with fewer positioned events (that can be compared with a home) is not tested: said, not called clean
    tested = rows_meeting(all_months, pl.col("n") >= n_min, ctx.notes.setdefault("geo.away_from_home", {}),
                          ("user_months_tested", "user_months_below_min_events"),
                          f"no user has a month with {n_min} positioned events that can be compared with a home "
                          "(min_events)")
    months = with_home(tested.lazy().with_columns((pl.col("n_home") / pl.col("n")).alias("share"))
                       .filter(pl.col("share") < share_min), ctx)
    away = (p.filter(pl.col("outside")).join(months.select("user_id", "month"), on=["user_id", "month"], how="semi")
            .with_columns(where_label().alias("where"))
            .group_by("user_id", "month", "where").len()
            .sort(["user_id", "month", "len", "where"], descending=[False, False, True, False])
            .group_by("user_id", "month", maintain_order=True).agg(pl.col("where").head(3).alias("away_places")))
    per = months.join(away, on=["user_id", "month"], how="left").with_columns(month_text())
    pct = thousands_below(pl.col("share") * 100, share_min * 100)  # 79.6% under 80% is not "80%"
    return emit(
        per, rule,
        evidence={"month": "month", "events": "n", "in_home_city": "n_home",
                  "home_share": shown_below(pl.col("share"), share_min, 3),
                  "home_city": "home_city", "home_country": "home_cc", "away_places": "away_places",
                  "min_home_share": share_min, "min_events": n_min},
        summary=fmt("Only {}% of {} positioned events in {} were in {} (mostly {})", pct, thousands("n"),
                          pl.col("lt").dt.strftime("%B %Y"), home_label(),
                          pl.col("away_places").list.join(", ")),
    )
