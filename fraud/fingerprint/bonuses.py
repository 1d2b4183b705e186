"""Bonuses for trustworthy devices: ``device.stable_main`` (a long-used main device) and
``device.lock_enabled`` (device lock turned on), and the ``main_device_id`` / ``main_device_days`` profile
columns.

The main device is the one with the most sign-in days (distinct local calendar days with a sign-in); ties go
to the earlier first sign-in, then the smaller device_id. Its tenure is the whole days elapsed from its first
to its last sign-in on the user's local clock: 20:00 on 20 September to 20:00 on 18 March is 180 days in Sydney,
where the clocks moved an hour between them (179 days and 23 hours of elapsed time).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.fingerprint.common import device_users, fmt, iso, require_device_ids, require_linked_snapshots, sign_ins
from fraud.geo.localtime import local_logins
from fraud.registry import NotEvaluated, profile_part, register


def main_devices(ctx: ScanContext) -> pl.LazyFrame:
    """One row per user with sign-ins: ``user_id, main_device_id, sign_in_days, first_ts, last_ts,
    main_device_days`` (tenure in whole days)."""
    si = sign_ins(ctx, local_logins(ctx)).select("user_id", "device_id", "ts", "local_ts",
                                                  pl.col("local_ts").dt.date().alias("day"))
    per = si.group_by("user_id", "device_id").agg(
        pl.col("day").n_unique().alias("sign_in_days"), pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        # the local clock of the first and last instants (an hour repeated in autumn is not monotonic)
        pl.col("local_ts").get(pl.col("ts").arg_min()).alias("_first_local"),
        pl.col("local_ts").get(pl.col("ts").arg_max()).alias("_last_local"))
    return (per.sort(["user_id", "sign_in_days", "first_ts", "device_id"], descending=[False, True, False, False])
            .group_by("user_id", maintain_order=True).first()
            .select("user_id", pl.col("device_id").alias("main_device_id"), "sign_in_days", "first_ts", "last_ts",
                    (pl.col("_last_local") - pl.col("_first_local")).dt.total_days().cast(pl.Int64)
                    .alias("main_device_days")))


@profile_part("fingerprint.main_device")
def main_device_part(ctx: ScanContext) -> pl.LazyFrame:
    """Profile columns ``main_device_id`` and ``main_device_days`` (null for users without sign-ins)."""
    return main_devices(ctx).select("user_id", "main_device_id", "main_device_days")


@register("device.stable_main", rules="device.stable_main", family="fingerprint", identity=("user_id", "device_id"))
def stable_main(ctx: ScanContext) -> pl.LazyFrame:
    """Bonus when the main device's tenure reaches ``min_days`` days (``points``) or ``long_days`` days
    (``long_points``, replacing the shorter bonus): one finding per user with the applicable points."""
    rule = ctx.cfg.rule("device.stable_main")
    require_device_ids(sign_ins(ctx), "sign-ins")
    long_ = pl.col("main_device_days") >= int(rule["long_days"])
    per = main_devices(ctx).filter(pl.col("main_device_days") >= int(rule["min_days"]))
    return emit(
        per, rule, device_id="main_device_id",
        points=pl.when(long_).then(pl.lit(int(rule["long_points"]))).otherwise(pl.lit(rule.points)),
        evidence={"main_device_id": "main_device_id", "tenure_days": "main_device_days",
                  "sign_in_days": "sign_in_days", "first_sign_in": iso("first_ts"), "last_sign_in": iso("last_ts"),
                  "min_days": int(rule["min_days"]), "long_days": int(rule["long_days"])},
        summary=fmt("Main device {} used for {} days ({} sign-in days)", pl.col("main_device_id"),
                    pl.col("main_device_days"), pl.col("sign_in_days")),
    )


def cap_locked_devices(findings: pl.DataFrame, cfg) -> pl.DataFrame:
    """Keep at most ``max_per_user`` lock bonuses per user, the earliest locked devices first (ties by
    device_id). Runs on the collected findings, so a user's devices may come from different device slices."""
    keep = int(cfg.rule("device.lock_enabled")["max_per_user"])
    return (findings.sort("user_id", "first_ts", "device_id", nulls_last=True)
            .filter(pl.int_range(pl.len()).over("user_id") < keep))


@register("device.lock_enabled", rules="device.lock_enabled", family="fingerprint", needs=("devices",),
          key="device", post=cap_locked_devices, identity=("user_id", "device_id"))
def lock_enabled(ctx: ScanContext) -> pl.LazyFrame:
    """Bonus per device whose latest snapshot with a ``device_lock`` value says the lock is on (of two at that
    instant that disagree, off), for every account that used the device since the lock was first reported on (a
    seller who sold the phone before its buyer turned the lock on earns nothing); :func:`cap_locked_devices` then
    keeps at most ``max_per_user`` devices per user."""
    rule = ctx.cfg.rule("device.lock_enabled")
    snap = ctx.devices.filter(pl.col("device_lock").is_not_null() & pl.col("device_id").is_not_null())
    if snap.select(pl.len()).collect().item() == 0:
        raise NotEvaluated("no device_lock values in the device snapshots")
    require_linked_snapshots(ctx, snap, "a device_lock value")
    # two snapshots of one instant that disagree (on and off): off is the latest, no bonus on evidence that
    # contradicts itself
    dev = snap.sort("device_id", "ts", "device_lock", descending=[False, False, True]).group_by("device_id").agg(
        pl.col("device_lock").last().alias("locked"),
        pl.col("ts").filter(pl.col("device_lock")).min().alias("first_ts"), pl.col("ts").max().alias("last_ts"),
        pl.col("device_lock").sum().alias("locked_snapshots"))
    per = dev.filter("locked").join(device_users(ctx), on="device_id", how="inner").filter(
        pl.col("first_ts") <= pl.col("last_use"))
    return emit(
        per, rule, device_id="device_id",
        evidence={"device_id": "device_id", "locked_since": iso("first_ts"), "last_snapshot": iso("last_ts"),
                  "locked_snapshots": "locked_snapshots", "max_per_user": int(rule["max_per_user"])},
        summary=fmt("Device lock enabled on device {}", pl.col("device_id")),
    )
