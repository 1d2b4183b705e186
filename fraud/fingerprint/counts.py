"""Device counts over true rolling windows of event time: ``device.many_devices`` (one account signing in
from many devices) and ``device.shared`` (one device used by many accounts: a device farm).

A window is ``[t - window_days, t]`` for every instant ``t``; a rule fires when some window holds more than the
configured number of distinct devices (accounts). The exceeding window is the evidence.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import reach_us
from fraud.findings import emit
from fraud.fingerprint.common import (
    fmt,
    POINT_GROUP as G,
    US_PER_DAY,
    groups_where,
    coverage_episodes,
    device_use,
    iso,
    later_only,
    later_windows,
    member_runs,
    require_device_ids,
    sign_ins,
    window_members,
    window_starts,
)
from fraud.registry import register


def _window_evidence(window_us: int) -> dict[str, pl.Expr]:
    return {"window_start": iso(pl.col("t_ref") - pl.duration(microseconds=window_us)),
            "window_end": iso("t_ref")}


@register("device.many_devices", rules="device.many_devices", family="fingerprint")
def many_devices(ctx: ScanContext) -> pl.LazyFrame:
    """Flags a user with more than ``max_devices`` distinct devices among the sign-ins (successful ``login``
    events with a device_id) of some rolling ``window_days``-day window. One finding per episode: the window
    ending at the sign-in that first exceeded the limit, with the devices signed in from within it."""
    rule = ctx.cfg.rule("device.many_devices")
    window_us = int(rule.window_days * US_PER_DAY)
    limit = int(rule["max_devices"])
    ev = sign_ins(ctx).select("user_id", "device_id", "ts")
    require_device_ids(ev, "sign-ins")
    ev = groups_where(ev, "user_id", pl.col("device_id").n_unique() > limit)

    def episodes(ev: pl.LazyFrame, group: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        runs = member_runs(ev, group, "device_id", reach_us(window_us))
        return runs, coverage_episodes(runs, group, limit).select(group, pl.col("ep_start").alias("t_ref"))

    def listed(ev: pl.LazyFrame, runs: pl.LazyFrame, ends: pl.LazyFrame, group: str) -> pl.LazyFrame:
        return ends.join(window_members(ev, runs, ends, group, "device_id", reach_us(window_us)), on=[group, "t_ref"])

    runs, ends = episodes(ev, "user_id")
    # an episode outlasting the rule's point window goes on in each later window from that window's sign-ins (the
    # episodes found first, the windows' members listed once for both sweeps)
    later = later_windows(ev, window_starts(ev, ends, "user_id", window_us), "user_id", window_us)
    lruns, lends = episodes(later, G)
    lends = later_only(lends, later, ends, "user_id", ["user_id", "t_ref"])
    per = pl.concat([listed(ev, runs, ends, "user_id"), listed(later, lruns, lends, G).drop(G)],
                    how="diagonal_relaxed")
    return emit(
        per, rule, first_ts="win_first", last_ts="t_ref",
        evidence={**_window_evidence(window_us), "devices": "members", "n_devices": "n_members",
                  "sign_ins": "n_events", "max_devices": limit, "window_days": rule.window_days},
        summary=fmt("Signed in from {} devices within {} days (limit {})", pl.col("n_members"),
                    rule.window_days, limit),
    )


@register("device.shared", rules="device.shared", family="fingerprint", key="device")
def shared(ctx: ScanContext) -> pl.LazyFrame:
    """Flags every account of a device used by more than ``max_accounts`` distinct accounts within some rolling
    ``window_days``-day window. One finding per account and episode; the evidence window ends at the first use
    at which that account was among too many (the episode start, or the account's later arrival)."""
    rule = ctx.cfg.rule("device.shared")
    window_us = int(rule.window_days * US_PER_DAY)
    limit = int(rule["max_accounts"])
    ev = device_use(ctx)
    require_device_ids(ev, "account events or snapshots")
    ev = groups_where(ev, "device_id", pl.col("user_id").n_unique() > limit)

    def episodes(ev: pl.LazyFrame, group: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        runs = member_runs(ev, group, "user_id", reach_us(window_us))
        eps = coverage_episodes(runs, group, limit)
        acc = (runs.join(eps, on=group, how="inner")
               .filter((pl.col("run_start") < pl.col("ep_end")) & (pl.col("run_end") > pl.col("ep_start")))
               .group_by(group, "user_id", "ep_start")
               .agg(pl.max_horizontal("run_start", "ep_start").min().alias("t_ref")))
        return runs, acc

    def listed(ev: pl.LazyFrame, runs: pl.LazyFrame, acc: pl.LazyFrame, group: str) -> pl.LazyFrame:
        return acc.join(window_members(ev, runs, acc, group, "user_id", reach_us(window_us)), on=[group, "t_ref"])

    runs, acc = episodes(ev, "device_id")
    # an episode outlasting the rule's point window goes on in each later window from that window's uses
    later = later_windows(ev, window_starts(ev, acc, "device_id", window_us), "device_id", window_us)
    lruns, lacc = episodes(later, G)
    lacc = later_only(lacc, later, acc, "device_id", ["device_id", "user_id", "t_ref"])
    per = pl.concat([listed(ev, runs, acc, "device_id"), listed(later, lruns, lacc, G).drop(G)],
                    how="diagonal_relaxed")
    return emit(
        per, rule, device_id="device_id", first_ts="win_first", last_ts="t_ref",
        evidence={**_window_evidence(window_us), "accounts": "members", "n_accounts": "n_members",
                  "max_accounts": limit, "window_days": rule.window_days},
        summary=fmt("Device {} used by {} accounts within {} days (limit {})", pl.col("device_id"),
                    pl.col("n_members"), rule.window_days, limit),
    )
