"""``device.new_device_sensitive``: a sensitive account change (password, phone, bound card, withdrawal) right
after the account's first sign-in from a new device — the classic account-takeover pattern.

Contract section 5: a device's first sign-in for a user is *new* when the user has events on at least
``min_history_days`` earlier (local calendar) days; sensitive events count from that first sign-in up to
``within_hours`` after it, from any device.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.fingerprint.common import fmt, iso, local_date, require_device_ids, sign_ins
from fraud.geo.localtime import local_logins
from fraud.registry import NotEvaluated, register

US_PER_HOUR = 3_600_000_000


@register("device.new_device_sensitive", rules="device.new_device_sensitive", family="fingerprint",
          columns=("event",))
def new_device_sensitive(ctx: ScanContext) -> pl.LazyFrame:
    """Flags each new device's first sign-in (the user having events on ``min_history_days``+ earlier local
    days, and no earlier successful event from that device: contract section 3's "history without it")
    followed within ``within_hours`` hours (inclusive) by one of ``sensitive_events`` (successful).
    One finding per user and new device; evidence lists the sensitive events."""
    rule = ctx.cfg.rule("device.new_device_sensitive")
    within_us = int(rule["within_hours"] * US_PER_HOUR)
    min_days = int(rule["min_history_days"])
    si = sign_ins(ctx)
    require_device_ids(si, "sign-ins")
    kinds = list(rule["sensitive_events"])
    if not ctx.logins.select(pl.col("event").is_in(kinds).any()).collect().item():
        # an export that logs none of them (or names them otherwise: see [events]) cannot show one after a new device
        raise NotEvaluated(f"no {', '.join(kinds)} events in the logins", stage=2)
    first = local_date(si.group_by("user_id", "device_id").agg(pl.col("ts").min()), ctx, out="first_day")
    days = local_logins(ctx).filter(pl.col("user_id").is_not_null()).select(
        "user_id", pl.col("local_ts").dt.date().alias("day")).unique()
    history = (first.join(days, on="user_id", how="inner").filter(pl.col("day") < pl.col("first_day"))
               .group_by("user_id", "device_id").agg(pl.len().alias("history_days")))
    # a device the account already used (a successful event of any kind before the sign-in: a payment from the
    # app) is not new; an attacker's failed attempts from it before getting in do not make it known
    used = (ctx.logins.filter(pl.col("success").fill_null(True) & pl.col("device_id").is_not_null()
                              & pl.col("user_id").is_not_null())
            .group_by("user_id", "device_id").agg(pl.col("ts").min().alias("first_use")))
    new = (first.join(history, on=["user_id", "device_id"], how="inner")
           .join(used, on=["user_id", "device_id"], how="left")
           .filter((pl.col("history_days") >= min_days) & ~(pl.col("first_use") < pl.col("ts")).fill_null(False))
           .drop("first_use").rename({"ts": "first_sign_in"}))
    sens = ctx.logins.filter(pl.col("event").is_in(kinds) & pl.col("success").fill_null(True)
                             & pl.col("user_id").is_not_null()).select(
        "user_id", "ts", "event", pl.col("device_id").alias("event_device"))
    ts = pl.col("ts")
    hits = new.join(sens, on="user_id", how="inner").filter(
        (ts >= pl.col("first_sign_in")) & ((ts - pl.col("first_sign_in")).dt.total_microseconds() <= within_us))
    per = (hits.sort("user_id", "device_id", "ts", "event", "event_device", nulls_last=True)
           .group_by("user_id", "device_id", "first_sign_in", "history_days").agg(
               ts.max().alias("last_ts"), pl.len().alias("n"), pl.col("event").unique().sort().alias("kinds"),
               pl.struct("event", iso(ts).alias("ts"), pl.col("event_device").alias("device_id")).alias("events")))
    return emit(
        per, rule, device_id="device_id", first_ts="first_sign_in", last_ts="last_ts",
        evidence={"first_sign_in": iso("first_sign_in"), "history_days": "history_days", "sensitive_events": "events",
                  "within_hours": rule["within_hours"], "min_history_days": min_days},
        summary=fmt("{} within {} h of the first sign-in from new device {}",
                    pl.col("kinds").list.join(", "), rule["within_hours"], pl.col("device_id")),
    )
