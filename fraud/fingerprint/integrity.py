"""Device integrity: ``device.emulator`` (the client reports an emulator, or the device model or a user agent
carries an emulator signature such as ``sdk_gphone`` or ``vbox86p``) and ``device.rooted`` (root, jailbreak
or a hook framework reported by the client).

A device-level signal concerns every account that used the device (reported a snapshot of it or had a
successful event on it) at or after the signal; a user-agent signal on an event without a device id concerns that
event's account only, and only when the event did not fail (a failed login is whoever tried the password).
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import per_distinct
from fraud.findings import emit
from fraud.fingerprint.common import (PC_FAMILIES, device_users, fmt, iso, note_unlinked, os_family,
                                      require_linked_snapshots)
from fraud.fingerprint.patterns import CPU_MODEL, emulator_signature
from fraud.fingerprint.useragent import agent_table
from fraud.registry import NotEvaluated, register

SIGNAL_COLUMNS = ("user_id", "device_id", "ts", "source", "detail")


def _any_non_null(lf: pl.LazyFrame, cols: list[str]) -> bool:
    return bool(lf.select(pl.any_horizontal([pl.col(c).is_not_null().any() for c in cols])).collect().item())


def _to_users(signals: pl.LazyFrame, ctx: ScanContext) -> pl.LazyFrame:
    """Attach device-level signals to every account of the device that used it at or after the signal (a seller
    whose last use came before the buyer's phone reported root is not told of it); keep device-less signals on
    their user."""
    on_device = signals.filter(pl.col("device_id").is_not_null()).drop("user_id").join(
        device_users(ctx), on="device_id", how="inner").filter(pl.col("ts") <= pl.col("last_use"))
    own = signals.filter(pl.col("device_id").is_null() & pl.col("user_id").is_not_null())
    return pl.concat([on_device.select(SIGNAL_COLUMNS), own.select(SIGNAL_COLUMNS)])


def emulator_signals(ctx: ScanContext) -> pl.LazyFrame:
    """Rows ``user_id, device_id, ts, source, detail``: ``flag`` (snapshot ``is_emulator``), ``model`` (an
    emulator signature in the snapshot's model) and ``user_agent`` (an emulator signature in an event's UA)."""
    # A desktop client may put its CPU type in the model ("x86_64" on Linux): the iOS Simulator's host machine
    # name is no signature on a snapshot that reports a desktop OS, nor, when it reports none, on a device whose
    # own successful events carry desktop user agents only (a Windows app's snapshot without its OS; one desktop
    # agent beside iPhone ones hides no simulator).
    # (per distinct model: a fleet reports a few hundred models in millions of snapshots)
    cpu = per_distinct(pl.col("model"), lambda m: m.str.contains(CPU_MODEL), pl.Boolean).fill_null(False)
    snapshot_os = os_family("os")
    desktop_cpu = cpu & (snapshot_os.is_in(PC_FAMILIES).fill_null(False)
                         | snapshot_os.is_null() & pl.col("_desktop_agent").fill_null(False))
    families = (agent_table(ctx).lazy().select("user_agent", os_family("os_family").alias("_family"))
                .filter(pl.col("_family").is_not_null()))
    on_desktop = (ctx.logins.filter(pl.col("success").fill_null(True) & pl.col("device_id").is_not_null())
                  .join(families, on="user_agent", how="inner").group_by("device_id")
                  .agg(pl.col("_family").is_in(PC_FAMILIES).all().alias("_desktop_agent")))
    dev = ctx.devices.join(on_desktop, on="device_id", how="left", maintain_order="left").with_columns(
        pl.when(~desktop_cpu).then(per_distinct(pl.col("model"), emulator_signature, pl.String)).alias("_sig"))
    flag = dev.filter(pl.col("is_emulator").fill_null(False)).select(
        "user_id", "device_id", "ts", pl.lit("flag").alias("source"), pl.lit("is_emulator").alias("detail"))
    model = dev.filter(pl.col("_sig").is_not_null()).select(
        "user_id", "device_id", "ts", pl.lit("model").alias("source"),
        fmt("{} (model {})", pl.col("_sig"), pl.col("model")).alias("detail"))
    sigs = agent_table(ctx).lazy().filter(pl.col("emulator_sig").is_not_null()).select("user_agent", "emulator_sig")
    # A failed event without a device id tells only of whoever tried the account's password (an attacker's
    # emulator in a credential-stuffing run): its signature is not the account's. With a device id the signal
    # is the device's, and goes to the device's own accounts (:func:`device_users`: never via a failed login).
    told = pl.col("success").fill_null(True) | pl.col("device_id").is_not_null()
    ua = ctx.logins.filter(told).join(sigs, on="user_agent", how="inner").select(
        "user_id", "device_id", "ts", pl.lit("user_agent").alias("source"),
        fmt("{} (user agent)", pl.col("emulator_sig")).alias("detail"))
    return pl.concat([flag, model, ua])


@register("device.emulator", rules="device.emulator", family="fingerprint", key="device",
          identity=("user_id", "device_id"))
def emulator(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device with an emulator signal. Points scale by strength inside the rule's
    ``points_min``..``points_max`` band: reported flag *and* a signature -> ``points_max``, one kind of
    signal -> ``points_min``."""
    rule = ctx.cfg.rule("device.emulator")
    if not (_any_non_null(ctx.devices, ["is_emulator", "model"]) or agent_table(ctx).height):
        raise NotEvaluated("no is_emulator flags, device models or user agents")
    if not agent_table(ctx).height:  # the snapshots are all there is to read
        require_linked_snapshots(ctx, ctx.devices.filter(pl.col("is_emulator").is_not_null()
                                                         | pl.col("model").is_not_null()),
                                 "an is_emulator flag or a model")
    signals = emulator_signals(ctx).collect().lazy()  # read twice below
    note_unlinked(ctx, "device.emulator", signals)
    per = _to_users(signals, ctx).group_by("user_id", "device_id").agg(
        (pl.col("source") == "flag").any().alias("flagged"), (pl.col("source") != "flag").any().alias("signed"),
        pl.col("detail").filter(pl.col("source") != "flag").unique().sort().alias("signatures"),
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"), pl.len().alias("signals"))
    both = pl.col("flagged") & pl.col("signed")
    return emit(
        per, rule, device_id="device_id",
        points=pl.when(both).then(rule["points_max"]).otherwise(rule["points_min"]),
        evidence={"reported_emulator": "flagged", "signatures": "signatures", "signals": "signals",
                  "strength": pl.when(both).then(pl.lit("flag and signature")).otherwise(pl.lit("one signal")),
                  "first_seen": iso("first_ts"), "last_seen": iso("last_ts")},
        summary=fmt("Emulator: {}{}{}",
                    pl.when(pl.col("flagged")).then(pl.lit("the client reports an emulator"))
                    .otherwise(pl.lit("")),
                    pl.when(both).then(pl.lit(" and ")).otherwise(pl.lit("")),
                    pl.when(pl.col("signed"))
                    .then(fmt("signature {}", pl.col("signatures").list.join(", ")))
                    .otherwise(pl.lit(""))),
    )


@register("device.rooted", rules="device.rooted", family="fingerprint", needs=("devices",), key="device",
          identity=("user_id", "device_id"))
def rooted(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device whose snapshots report root/jailbreak (``is_rooted``) or a hook
    framework (``has_hook``)."""
    rule = ctx.cfg.rule("device.rooted")
    if not _any_non_null(ctx.devices, ["is_rooted", "has_hook"]):
        raise NotEvaluated("no is_rooted / has_hook values in the device snapshots")
    told = pl.col("is_rooted").is_not_null() | pl.col("has_hook").is_not_null()
    require_linked_snapshots(ctx, ctx.devices.filter(told), "an is_rooted / has_hook value")
    rooted_, hook = pl.col("is_rooted").fill_null(False), pl.col("has_hook").fill_null(False)
    sig = ctx.devices.filter(rooted_ | hook).select(
        "user_id", "device_id", "ts",
        pl.when(rooted_ & hook).then(pl.lit("both")).when(rooted_).then(pl.lit("rooted"))
        .otherwise(pl.lit("hook")).alias("source"), pl.lit(None, pl.String).alias("detail"))
    note_unlinked(ctx, "device.rooted", sig)
    per = _to_users(sig, ctx).group_by("user_id", "device_id").agg(
        pl.col("source").is_in(["rooted", "both"]).any().alias("rooted"),
        pl.col("source").is_in(["hook", "both"]).any().alias("hooked"),
        pl.len().alias("snapshots"), pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"))
    what = (pl.when(pl.col("rooted") & pl.col("hooked")).then(pl.lit("root/jailbreak and a hook framework"))
            .when(pl.col("rooted")).then(pl.lit("root/jailbreak")).otherwise(pl.lit("a hook framework")))
    return emit(
        per, rule, device_id="device_id",
        evidence={"rooted": "rooted", "hook_framework": "hooked", "snapshots": "snapshots",
                  "first_seen": iso("first_ts"), "last_seen": iso("last_ts")},
        summary=fmt("Device {} reports {} in {} snapshot(s)", pl.col("device_id"), what, pl.col("snapshots")),
    )
