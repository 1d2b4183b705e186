"""``geo.cross_border_spend``: a burst of large payments or withdrawals from outside the home country.

Flags ``min_events`` (5) or more ``events`` (``payment``/``withdraw``) of at least ``min_amount`` (10,000, in the
data's currency; a withdrawal of either sign, as a ledger writes money out as -12,000, a payment as given: a
negative one is a refund) whose position lies outside the user's home country, within ``window_hours`` (24 h). An
event's country is that of its coordinates (gazetteer city naming them) for lat/lon positions, else the IP's
country, else the ``country`` column; the home country is that of the home place, else the user's most frequent
event country, else ``registered_country``. One finding per burst (events chained less than the window apart).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import POINT_GROUP as G, exact_sum, fmt, iso, later_windows, reach_us, thousands
from fraud.findings import emit
from fraud.geo.gazetteer import country_name, place_cc
from fraud.geo.places import home_ref
from fraud.geo.positions import positions
from fraud.registry import NotEvaluated, register


@register("geo.cross_border_spend", rules="geo.cross_border_spend", family="geo", needs=(),
          columns=("event", "amount"))
def cross_border_spend(ctx: ScanContext) -> pl.LazyFrame:
    """Flags ``min_events``+ large payments/withdrawals outside the home country within ``window_hours``: one
    finding per burst (such payments chained less than ``window_hours`` apart: the window ending at the payment
    that first reached the limit), and a burst
    outlasting the rule's point window (``window_days``) gives one in each point window from that window's
    payments (:func:`fraud.exprs.later_windows`)."""
    rule = ctx.cfg.rule("geo.cross_border_spend")
    n_min, amount_min = int(rule["min_events"]), float(rule["min_amount"])
    window_us = int(float(rule["window_hours"]) * 3.6e9)
    window = f"{reach_us(window_us)}i"  # closed: payments exactly window_hours apart are within it
    pos = positions(ctx)
    if pos.filter(pl.col("country").is_not_null() | pl.col("lat").is_not_null()).height == 0:
        raise NotEvaluated("no event has a position or country")
    kinds = pl.col("event").is_in(list(rule["events"]))
    # the money moved: a withdrawal whichever sign a ledger gives it (-12,000 is money out), a payment as given (a
    # negative payment is a refund, money coming back)
    size = pl.when(pl.col("event") == "withdraw").then(pl.col("amount").abs()).otherwise(pl.col("amount"))
    # a declined payment moved no money: the five tries of one card purchase abroad are one payment
    declined = ~pl.col("success").fill_null(True)
    big_kind = kinds & (size >= amount_min)
    large = big_kind & ~declined
    n_kind, n_big, n_declined = ctx.logins.select(kinds.sum().alias("n"), large.sum().alias("big"),
                                                  (big_kind & declined).sum().alias("no")).collect().row(0)
    if n_kind == 0:
        raise NotEvaluated(f"no {' or '.join(rule['events'])} events in the logins", stage=2)
    big = pos.lazy().filter((pl.col("kind") == "event") & large).with_columns(size.alias("amount"))
    cc = pl.when(pl.col("source") == "latlon").then(pl.coalesce(place_cc("lat", "lon"), pl.col("country"))) \
        .otherwise(pl.col("country"))
    told = (big.with_columns(cc.alias("ev_cc"))
            .join(home_ref(ctx).lazy().select("user_id", "home_cc"), on="user_id", how="left")
            .filter(pl.col("ev_cc").is_not_null() & pl.col("home_cc").is_not_null())).collect()
    # large events without a country, or of users without a home country, cannot be told in or out: counted
    ctx.notes["geo.cross_border_spend"] = {"large_events": n_big, "large_events_country_unknown": n_big - told.height,
                                           "large_events_declined": n_declined}
    if n_big and not told.height:
        # the reason names no count: a sliced scan keeps one slice's reason (the counts are the notes, summed)
        raise NotEvaluated(f"none of the {' or '.join(rule['events'])} events of {amount_min:,g}+ has a country to "
                           "compare with a home country", stage=2)
    cand = told.lazy().filter(pl.col("ev_cc") != pl.col("home_cc"))

    def found(cand: pl.LazyFrame, group: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        # ties on ts broken by content, so the device and IP named below never depend on row order
        cand = (cand.sort([group, "ts", "device_id", "ip", "amount", "ev_cc"], nulls_last=True)
                .with_columns(pl.col("ts").dt.epoch("us").alias("_t")))
        gap = (pl.col("ts") - pl.col("ts").shift(1)).over(group).dt.total_microseconds()
        cand = cand.with_columns(
            pl.col("ts").is_not_null().cast(pl.Int64).rolling_sum_by("_t", window).over(group).alias("n_win"),
            pl.col("ts").rolling_min_by("_t", window).over(group).alias("win_start"),
            (gap.is_null() | (gap > window_us)).cast(pl.Int32).cum_sum().over(group).alias("burst"),
        )
        qualifying = cand.filter(pl.col("n_win") >= n_min)
        # the 24 h ending at the payment that first reached the limit, as every rolling rule's evidence is
        best = (qualifying.sort([group, "burst", "ts"])
                .group_by(group, "burst", maintain_order=True).first()
                .select(group, "burst", pl.col("win_start").alias("first_ts"), pl.col("ts").alias("last_ts")))
        # the whole burst (payments chained less than the window apart) beside its first qualifying 24 h: a spree
        # of 18 payments is shown as such, not as the 5 that reached the limit
        whole = cand.group_by(group, "burst").agg(pl.len().alias("burst_n"),
                                                  exact_sum(pl.col("amount"), wide=True).alias("burst_total"),
                                                  pl.col("ts").max().alias("burst_last"))
        return (cand.join(best, on=[group, "burst"], how="inner", maintain_order="left")
                .filter((pl.col("ts") >= pl.col("first_ts")) & (pl.col("ts") <= pl.col("last_ts")))
                .group_by(group, "burst").agg(
                    *([] if group == "user_id" else [pl.col("user_id").first()]),
                    pl.len().alias("n"), exact_sum(pl.col("amount"), wide=True).alias("total"),
                    pl.col("first_ts").first(),
                    pl.col("last_ts").first(), pl.col("home_cc").first(),
                    pl.col("ev_cc").unique(maintain_order=True).alias("countries"),
                    pl.col("device_id").drop_nulls().last().alias("device_id"),
                    pl.col("ip").drop_nulls().last().alias("ip"))
                .join(whole, on=[group, "burst"], how="left").drop("burst"),
                qualifying.group_by(group).agg(pl.col("win_start").min().alias("_anchor")))

    per, anchors = found(cand, "user_id")
    # A spree outlasting the rule's point window (window_days, from the first qualifying 24 h) goes on in each
    # later window from that window's payments
    later = later_windows(cand, anchors, "user_id", int(rule.window_days * 86_400e6))
    per = pl.concat([per, found(later, G)[0].drop(G).join(per.select("user_id", "last_ts"),
                                                          on=["user_id", "last_ts"], how="anti")],
                    how="diagonal_relaxed")
    names = pl.col("countries").list.eval(country_name(pl.element())).list.join(", ")
    hours = ((pl.col("last_ts") - pl.col("first_ts")).dt.total_seconds() / 3600).round(1)
    return emit(
        per, rule, device_id="device_id", ip="ip",
        evidence={"events": "n", "total_amount": pl.col("total").round(2), "countries": "countries",
                  "home_country": "home_cc", "hours": hours, "min_events": n_min, "min_amount": amount_min,
                  "window_hours": rule["window_hours"], "burst_events": "burst_n",
                  "burst_total_amount": pl.col("burst_total").round(2), "burst_last_ts": iso("burst_last")},
        summary=fmt("{} payments/withdrawals of {}+ totalling {} in {} within {} h, outside home country {}{}",
                    "n", pl.lit(amount_min).pipe(thousands), thousands("total"), names, hours,
                    country_name(pl.col("home_cc")),
                    pl.when(pl.col("burst_n") > pl.col("n")).then(
                        pl.format("; {} in the burst, totalling {}, until {}", "burst_n", thousands("burst_total"),
                                  pl.col("burst_last").dt.strftime("%Y-%m-%d %H:%M UTC"))).otherwise(pl.lit(""))),
    )
