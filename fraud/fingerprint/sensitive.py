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
from fraud.fingerprint.common import fmt, index_range, iso, local_date, require_device_ids, sign_ins
from fraud.geo.localtime import local_logins
from fraud.registry import NotEvaluated, register, require_events

US_PER_HOUR = 3_600_000_000


@register("device.new_device_sensitive", rules="device.new_device_sensitive", family="fingerprint",
          columns=("event",))
def new_device_sensitive(ctx: ScanContext) -> pl.LazyFrame:
    """Flags each new device's first sign-in (the user having events on ``min_history_days``+ earlier local
    days, and no successful event from that device more than ``within_hours`` before it: contract section 3's
    "history without it")
    followed within ``within_hours`` hours (inclusive) by one of ``sensitive_events`` (successful).
    One finding per user and new device; evidence lists the sensitive events."""
    rule = ctx.cfg.rule("device.new_device_sensitive")
    within_us = int(rule["within_hours"] * US_PER_HOUR)
    min_days = int(rule["min_history_days"])
    si = sign_ins(ctx)
    require_device_ids(si, "sign-ins")
    kinds = list(rule["sensitive_events"])
    require_events(ctx, kinds)  # none after a new device could be shown
    first = local_date(si.group_by("user_id", "device_id").agg(pl.col("ts").min()), ctx, out="first_day")
    days = local_logins(ctx).filter(pl.col("user_id").is_not_null()).select(
        "user_id", pl.col("local_ts").dt.date().alias("day")).unique().collect().lazy()  # read twice below
    # a batch in which no user's events span min_history_days days cannot hold a device new after that history (a
    # 3-day export): no clean result
    span = days.group_by("user_id").agg((pl.col("day").max() - pl.col("day").min()).dt.total_days().alias("d"))
    if not span.select((pl.col("d") >= min_days).any()).collect().item():
        raise NotEvaluated(f"no user's events span {min_days} days: a device is new only after {min_days} earlier "
                           "days of history", stage=2)
    history = (first.join(days, on="user_id", how="inner").filter(pl.col("day") < pl.col("first_day"))
               .group_by("user_id", "device_id").agg(pl.len().alias("history_days")))
    # a device the account already used (a successful event of any kind: a payment from the app) more than
    # within_hours before the sign-in is not new; its events in those hours are the sign-in's own episode (a
    # takeover resets the password on the new device, at 23:55 or at noon, then signs in), and an attacker's failed
    # attempts from it do not make it known either
    used = (ctx.logins.filter(pl.col("success").fill_null(True) & pl.col("device_id").is_not_null()
                              & pl.col("user_id").is_not_null())
            .group_by("user_id", "device_id").agg(pl.col("ts").min().alias("first_use")))
    known = pl.col("first_use") < pl.col("ts") - pl.duration(microseconds=within_us)
    new = (first.join(history, on=["user_id", "device_id"], how="inner")
           .join(used, on=["user_id", "device_id"], how="left")
           .filter((pl.col("history_days") >= min_days) & ~known.fill_null(False))
           .drop("first_use").rename({"ts": "first_sign_in"}))
    per = _window_events(new, ctx.logins.filter(pl.col("event").is_in(kinds) & pl.col("success").fill_null(True)
                                                & pl.col("user_id").is_not_null()), kinds, within_us)
    return emit(
        per, rule, device_id="device_id", first_ts="first_sign_in", last_ts="last_ts",
        evidence={"first_sign_in": iso("first_sign_in"), "history_days": "history_days", "sensitive_events": "events",
                  "n_sensitive_events": "n", "within_hours": rule["within_hours"], "min_history_days": min_days},
        summary=fmt("{} within {} h of the first sign-in from new device {}",
                    pl.col("kinds").list.join(", "), rule["within_hours"], pl.col("device_id")),
    )


# A finding lists the first LISTED_EVENTS sensitive events of its window (n_sensitive_events counts them all): a
# bot account with 10,000 new devices and 10,000 password changes in a day would otherwise write 10,000 x 10,000
# events (the window pairing itself is linear: index ranges, not every device paired with every event).
LISTED_EVENTS = 20


def _window_events(new: pl.LazyFrame, sens: pl.LazyFrame, kinds: list[str], within_us: int) -> pl.LazyFrame:
    """Per new device (``new``: user_id, device_id, first_sign_in, history_days) whose window [first_sign_in,
    first_sign_in + within] holds sensitive events (``sens``): ``last_ts``, ``n`` (events in it), ``kinds``
    (their distinct kinds, sorted) and ``events`` (the first :data:`LISTED_EVENTS`: event, ts, device_id). The
    events sorted by (user, ts, event, device) are numbered; a window is the index range between two as-of joins,
    and its per-kind counts differences of running counts."""
    ev = (sens.select("user_id", "ts", "event", pl.col("device_id").alias("event_device"))
          .sort("user_id", "ts", "event", "event_device", nulls_last=True)
          .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"),
                        *[(pl.col("event") == k).cast(pl.Int64).cum_sum().alias(f"_c{j}") for j, k in enumerate(kinds)])
          .cache())  # read by both as-of joins and the listing
    counts = [f"_c{j}" for j in range(len(kinds))]
    win = index_range(new.with_columns((pl.col("first_sign_in") + pl.duration(microseconds=within_us)).alias("_until")),
                      ev, "user_id", "first_sign_in", "_until",
                      start_cols={"event": "event", **{c: f"{c}_lo" for c in counts}},
                      end_cols={"ts": "last_ts", **{c: f"{c}_hi" for c in counts}})
    in_window = [pl.col(f"{c}_hi") - pl.col(f"{c}_lo") + (pl.col("event") == k).cast(pl.Int64)
                 for c, k in zip(counts, kinds)]
    win = win.with_columns(
        (pl.col("_hi") - pl.col("_lo") + 1).alias("n"),
        pl.concat_list([pl.when(n > 0).then(pl.lit(k)) for n, k in zip(in_window, kinds)])
        .list.drop_nulls().list.sort().alias("kinds")).cache()
    listed = (win.select("user_id", "device_id", pl.int_ranges("_lo", pl.min_horizontal("_hi", pl.col("_lo")
                                                                                          + LISTED_EVENTS - 1) + 1)
                         .alias("_i")).explode("_i")
              .join(ev.select("_i", "event", "ts", "event_device"), on="_i", how="inner")
              .sort("user_id", "device_id", "_i")
              .group_by("user_id", "device_id", maintain_order=True)
              .agg(pl.struct("event", iso("ts").alias("ts"), pl.col("event_device").alias("device_id"))
                   .alias("events")))
    return win.select("user_id", "device_id", "first_sign_in", "history_days", "last_ts", "n", "kinds").join(
        listed, on=["user_id", "device_id"], how="left")
