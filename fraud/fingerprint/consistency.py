"""Device consistency: ``device.id_conflict`` (one device_id reported with conflicting hardware ids or OS
families) and ``device.ua_mismatch`` (the OS or device type parsed from the user agents of a device's events
contradicts what the device's snapshots report).

Both concern every account that used the device. Evidence lists each conflicting value with when it was seen.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.fingerprint.common import device_users, fmt, iso, os_family
from fraud.fingerprint.useragent import with_agents
from fraud.registry import NotEvaluated, register

ID_FIELDS = ("imei", "mac", "hw_uuid")
MOBILE_FAMILIES = ("android", "ios")
PC_FAMILIES = ("windows", "macos", "linux", "chromeos")


def _normalised(col: str) -> pl.Expr:
    """A hardware id in comparable form: trimmed, lower-case, MACs without separators."""
    s = pl.col(col).str.strip_chars().str.to_lowercase()
    if col == "mac":
        s = s.str.replace_all(r"[:\-. ]", "")
    return pl.when(s == "").then(None).otherwise(s).alias(col)


def _kind(family: pl.Expr) -> pl.Expr:
    """Device type implied by an OS family: ``mobile`` (phones and tablets) or ``pc``."""
    return (pl.when(family.is_in(MOBILE_FAMILIES)).then(pl.lit("mobile"))
            .when(family.is_in(PC_FAMILIES)).then(pl.lit("pc")).otherwise(pl.lit(None, pl.String)))


@register("device.id_conflict", rules="device.id_conflict", family="fingerprint", needs=("devices",), key="device")
def id_conflict(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device whose snapshots carry more than one distinct imei, mac or hw_uuid, or
    more than one OS family (Android and HarmonyOS count as one family)."""
    rule = ctx.cfg.rule("device.id_conflict")
    snap = ctx.devices.select("device_id", "ts", *[_normalised(c) for c in ID_FIELDS],
                              os_family("os").alias("os_family"))
    fields = [*ID_FIELDS, "os_family"]
    if not snap.select(pl.any_horizontal([pl.col(c).is_not_null().any() for c in fields])).collect().item():
        raise NotEvaluated("no hardware ids or OS names in the device snapshots")
    long = (snap.unpivot(index=["device_id", "ts"], on=fields, variable_name="field", value_name="value")
            .drop_nulls(["device_id", "value"])
            .with_columns(pl.col("field").replace({"os_family": "os"})))
    vals = long.group_by("device_id", "field", "value").agg(
        pl.col("ts").min().alias("first_seen"), pl.col("ts").max().alias("last_seen"))
    conflicting = vals.filter(pl.len().over("device_id", "field") > 1).sort(
        "device_id", "field", "first_seen", "value")
    per_device = conflicting.group_by("device_id").agg(
        pl.col("field").unique().sort().alias("fields"),
        pl.struct("field", "value", iso("first_seen").alias("first_seen"), iso("last_seen").alias("last_seen"))
        .alias("conflicts"),
        pl.col("first_seen").min().alias("first_ts"), pl.col("last_seen").max().alias("last_ts"))
    per = per_device.join(device_users(ctx), on="device_id", how="inner")
    return emit(
        per, rule, device_id="device_id",
        evidence={"fields": "fields", "conflicts": "conflicts"},
        summary=fmt("Device {} reported with conflicting {}", pl.col("device_id"),
                    pl.col("fields").list.join(", ")),
    )


@register("device.ua_mismatch", rules="device.ua_mismatch", family="fingerprint", needs=("logins", "devices"),
          key="device")
def ua_mismatch(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device whose events carry user agents with an OS family or device type (mobile
    vs pc) that none of the device's snapshots reports. An iPad snapshot accepts a Mac user agent (iPadOS
    browsers ask for desktop sites by default). Agents whose OS or type is unknown are not compared."""
    rule = ctx.cfg.rule("device.ua_mismatch")
    fam = os_family("os")
    snaps = ctx.devices.filter(fam.is_not_null()).group_by("device_id").agg(
        fam.unique().sort().alias("snap_os"), _kind(fam).drop_nulls().unique().sort().alias("snap_type"),
        pl.col("model").str.contains(r"(?i)^ipad").fill_null(False).any().alias("ipad"))
    if snaps.select(pl.len()).collect().item() == 0:
        raise NotEvaluated("no device snapshot names an OS")
    # One row per (user, device, agent) with its first/last event and count: the agent columns are joined onto
    # a few rows per device instead of every event.
    ts = pl.col("ts")
    ev = (ctx.logins.filter(pl.col("device_id").is_not_null() & pl.col("user_agent").is_not_null()
                            & pl.col("user_id").is_not_null())
          .join(snaps.select("device_id"), on="device_id", how="semi")
          .group_by("user_id", "device_id", "user_agent")
          .agg(ts.min().alias("f"), ts.max().alias("l"), pl.len().alias("n")))
    ev = with_agents(ev, ctx)
    ev = ev.with_columns(os_family("os_family").alias("ua_os"),
                         pl.col("device_class").replace_strict({"mobile": "mobile", "tablet": "mobile", "pc": "pc"},
                                                               default=None).alias("ua_type"))
    allowed_os = pl.concat_list("snap_os", pl.when("ipad").then(pl.lit(["macos"])).otherwise(pl.lit([], pl.List(
        pl.String))))
    allowed_type = pl.concat_list("snap_type", pl.when("ipad").then(pl.lit(["pc"])).otherwise(pl.lit([], pl.List(
        pl.String))))
    os_bad = pl.col("ua_os").is_not_null() & ~allowed_os.list.contains(pl.col("ua_os"))
    type_bad = (pl.col("ua_type").is_not_null() & (pl.col("snap_type").list.len() > 0)
                & ~allowed_type.list.contains(pl.col("ua_type")))
    bad = ev.join(snaps, on="device_id", how="inner").filter(os_bad | type_bad)
    seen = (bad.group_by("user_id", "device_id", "ua_os", "device_class").agg(
        pl.col("f").min(), pl.col("l").max(), pl.col("n").sum(),
        pl.col("user_agent").sort_by("f", "user_agent").first().alias("example"),
        pl.col("snap_os").first(), pl.col("snap_type").first())
        .sort("user_id", "device_id", "f", "ua_os", "device_class", nulls_last=True))
    per = seen.group_by("user_id", "device_id").agg(
        pl.col("snap_os").first(), pl.col("snap_type").first(), pl.col("f").min().alias("first_ts"),
        pl.col("l").max().alias("last_ts"), pl.col("n").sum().alias("events"),
        pl.struct(pl.col("ua_os").alias("os"), pl.col("device_class"), iso("f").alias("first_seen"),
                  iso("l").alias("last_seen"), pl.col("n").alias("events"),
                  pl.col("example").str.slice(0, 200).alias("user_agent")).alias("user_agents"))
    return emit(
        per, rule, device_id="device_id",
        evidence={"snapshot_os": "snap_os", "snapshot_type": "snap_type", "events": "events",
                  "user_agents": "user_agents"},
        summary=fmt("Device {} reports {} but {} event(s) carry a {} user agent", pl.col("device_id"),
                    pl.col("snap_os").list.join("/"), pl.col("events"),
                    pl.col("user_agents").list.eval(pl.element().struct.field("os").fill_null("?"))
                    .list.unique().list.sort().list.join("/")),
    )
