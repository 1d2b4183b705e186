"""Device consistency: ``device.id_conflict`` (one device_id reported with conflicting hardware ids or OS
families) and ``device.ua_mismatch`` (the OS or device type parsed from the user agents of a device's events
contradicts what the device's snapshots report).

Both concern every account that used the device. Evidence lists each conflicting value with when it was seen.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.exprs import is_missing, per_distinct
from fraud.findings import emit
from fraud.fingerprint.common import (PC_FAMILIES, device_users, fmt, iso, note_unlinked, os_family,
                                      require_linked_snapshots, snapshot_os_family)
from fraud.fingerprint.useragent import with_agents
from fraud.registry import NotEvaluated, register

ID_FIELDS = ("imei", "mac", "hw_uuid")
MOBILE_FAMILIES = ("android", "ios", "windows phone", "blackberry")
APPLE_FAMILIES = ("ios", "macos", "tvos", "watchos", "visionos")


# Android's fixed MAC for apps without the permission since Android 6.
MAC_PLACEHOLDER = "020000000000"
# Organisation ids (first 3 octets) of virtual network adapters: a hypervisor's switch, not hardware. A laptop
# reports its Wi-Fi MAC one day and Hyper-V's (WSL, Docker) the next. Hyper-V, VMware (4), VirtualBox, Parallels,
# Xen, Microsoft Virtual PC; QEMU's 52:54:00 and Docker's 02:42 are locally administered, dropped as such.
VIRTUAL_MAC_OUIS = ("00155d", "005056", "000c29", "000569", "001c14", "080027", "001c42", "00163e", "0003ff")
CONFLICT_VALUES_LISTED = 20  # per field, in a finding's evidence (distinct_values counts them all)


def _normalised(col: str) -> pl.Expr:
    """Column ``col`` (``imei``, ``mac`` or ``hw_uuid``) through :func:`_normalise`, once per distinct value (a
    device reports the same ids snapshot after snapshot). Values in the plain form most devices report
    (:data:`PLAIN_IDS`: 15 or 16 digits, six colon-separated octets) take a short way to the same result: the full
    reading splits each value into a list, ~8 us a value, and nearly every device has ids of its own."""
    shortcut = (PLAIN_IDS[col], lambda s: _normalise(s, col, plain=True)) if col in PLAIN_IDS else None
    return per_distinct(pl.col(col), lambda s: _normalise(s, col), pl.String, shortcut).alias(col)


# The plain written forms of an IMEI (or IMEISV) and a MAC, read without splitting (:func:`_normalised`).
PLAIN_IDS = {"imei": r"^[0-9]{15,16}$", "mac": r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$"}


def _luhn_ok(digits15: pl.Expr) -> pl.Expr:
    """Whether a 15-digit string's last digit is its Luhn check digit (an IMEI's: every second digit from the
    right, the check digit's left neighbour first, doubled and its digits summed)."""
    total = pl.lit(0, pl.Int32)
    for i in range(15):
        d = digits15.str.slice(i, 1).cast(pl.Int32, strict=False).fill_null(0)
        total = total + (d if i % 2 == 0 else pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2))
    return total % 10 == 0


def _normalise(raw: pl.Expr, col: str, plain: bool = False) -> pl.Expr:
    """A hardware id in comparable form, null when it identifies no hardware.

    Trimmed (of quotes too) and lower-cased. A MAC is read in any common notation (``3C-22-FB-11-22-33``,
    ``3c22.fb11.2233``, ``3c22-fb11-2233``, ``0x3C22FB112233``, octets without their leading zero:
    ``3c:22:fb:1:2:33``) as its 12 (or an EUI-64's 16) hex digits; text that is no MAC (``unavailable``) identifies
    no hardware, nor does a locally administered MAC (second hex digit 2, 6, a or e: the per-network random address
    of Android 10+ and iOS 14+), a virtual adapter's (:data:`VIRTUAL_MAC_OUIS`) or Android's ``02:00:00:00:00:00``
    placeholder. IMEIs keep their digits only and compare on the first 14 (type allocation code and serial: the 15th
    is a check digit, an IMEISV ends in a 2-digit software version); a value listing several (a dual-SIM phone's
    two) becomes their sorted, comma-joined set, of which only items with a digit count (``I1,unknown``, ``I1/N/A``,
    ``["I1", null]`` list one IMEI); all-zero values are placeholders. hw_uuid loses braces and hyphens and RFC
    4122's ``urn:uuid:`` prefix (``{6F9619FF-...}``, ``urn:uuid:6f9619ff-...`` and ``6f9619ff...`` are one id).
    ``plain``: every value is in its plain form (:data:`PLAIN_IDS`), read the short way to the same result."""
    if plain and col == "imei":  # one IMEI: its first 14 digits (all zeros: none)
        s = raw.str.slice(0, 14)
        return pl.when((s == "") | s.str.contains(r"^0+$")).then(None).otherwise(s)
    # quotes a log line or a JSON dump left around the value are no part of it
    s = pl.when(is_missing(raw)).then(None).otherwise(raw.str.strip_chars(" \t\"'").str.to_lowercase())
    if plain and col == "mac":
        s = s.str.replace_all(":", "", literal=True)
    elif col == "mac":
        s = s.str.replace(r"^0x", "")
        octets = s.str.replace_all(r"[\- ]", ":")
        padded = octets.str.split(":").list.eval(pl.element().str.zfill(2)).list.join("")
        s = (pl.when(octets.str.contains(r"^[0-9a-f]{1,2}(?::[0-9a-f]{1,2}){5}(?:(?::[0-9a-f]{1,2}){2})?$"))
             .then(padded)
             # Cisco's 3c22.fb01.0233, Huawei's and H3C's 3c22-fb01-0233, bare hex
             .when(s.str.contains(r"^(?:[0-9a-f]{4}[.\-:]){2}[0-9a-f]{4}$|^[0-9a-f]{12}$|^[0-9a-f]{16}$"))
             .then(s.str.replace_all(r"[.\-:]", "")))
    if col == "mac":
        virtual = pl.any_horizontal([s.str.starts_with(oui) for oui in VIRTUAL_MAC_OUIS])
        s = pl.when((s == MAC_PLACEHOLDER) | s.str.contains(r"^.[26ae]") | virtual).then(None).otherwise(s)
    elif col == "imei":
        # a dual-SIM phone may report both IMEIs in one value ("I1,I2", "[I1, I2]", "I1/I2"): each is an id, and
        # the value is their sorted set (I2,I1 is I1,I2)
        tokens = s.str.replace_all(r"[,;|/\[\]\"']+", ",").str.strip_chars(",").str.split(",")
        digits = pl.element().str.replace_all(r"[^0-9]", "")
        # a spreadsheet drops the leading 0 of the GSMA's "01" IMEIs (iPhones, many US phones): 14 digits from 1
        # that with the 0 back make a 15-digit IMEI with a valid check digit are that IMEI
        padded = pl.lit("0") + digits
        digits = (pl.when((digits.str.len_chars() == 14) & digits.str.starts_with("1") & _luhn_ok(padded))
                  .then(padded).otherwise(digits))
        one = (pl.when(digits.str.len_chars() >= 14).then(digits.str.slice(0, 14))
               .otherwise(pl.element().str.strip_chars()))
        # an item without a digit is no IMEI ("unknown", "null", "-", the "n" and "a" of "N/A"); all zeros neither
        real = pl.element().filter(pl.element().str.contains("[0-9]") & ~pl.element().str.contains(r"^0+$"))
        s = tokens.list.eval(one).list.eval(real).list.unique().list.sort().list.join(",")
    elif col == "hw_uuid":
        s = s.str.replace(r"^urn:uuid:", "").str.replace_all(r"[{}\-]", "")
    return pl.when((s == "") | s.str.contains(r"^0+$")).then(None).otherwise(s)


def _kind(family: pl.Expr) -> pl.Expr:
    """Device type implied by an OS family: ``mobile`` (phones and tablets) or ``pc``."""
    return (pl.when(family.is_in(MOBILE_FAMILIES)).then(pl.lit("mobile"))
            .when(family.is_in(PC_FAMILIES)).then(pl.lit("pc")).otherwise(pl.lit(None, pl.String)))


@register("device.id_conflict", rules="device.id_conflict", family="fingerprint", needs=("devices",), key="device",
          identity=("user_id", "device_id"))
def id_conflict(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device whose snapshots carry more than one distinct imei (two of one model, a
    dual-SIM phone's slots, are one phone's), mac or hw_uuid, or
    more than one OS family (Android and HarmonyOS count as one family), for every account that used the device
    (a snapshot or a successful event) at or after the conflict began (a second value's first sighting). Evidence:
    the conflicting fields, each field's number of distinct values and its first :data:`CONFLICT_VALUES_LISTED`
    values by first sighting."""
    rule = ctx.cfg.rule("device.id_conflict")
    fields = [*ID_FIELDS, "os_family"]
    fam = snapshot_os_family()
    # Android is Linux underneath: what Java's os.name and Python's platform.system() say on a phone ("Linux", with
    # a kernel version at most) beside Android is no conflict; a distribution's name (Ubuntu) still is
    kernel = pl.col("os").str.contains(r"(?i)^\s*(?:gnu/)?linux(?:[\s\-_/]?[0-9][\w.\-]*)?\s*$").fill_null(False)
    fam = pl.when(kernel & (fam == "android").any().over("device_id")).then(pl.lit("android")).otherwise(fam)
    snap = ctx.devices.select("device_id", "ts", *[_normalised(c) for c in ID_FIELDS],
                              *[pl.col(c).str.strip_chars().alias(f"_raw_{c}") for c in ID_FIELDS],
                              fam.alias("os_family")).collect().lazy()  # read twice below
    if not snap.select(pl.any_horizontal([pl.col(c).is_not_null().any() for c in fields])).collect().item():
        raise NotEvaluated("no hardware ids or OS names in the device snapshots")
    require_linked_snapshots(ctx, snap.filter(pl.any_horizontal([pl.col(c).is_not_null() for c in fields])),
                             "a hardware id or an OS name")
    # One row per (device, field, comparable value); the evidence shows the value as first reported (an OS as
    # its family).
    long = pl.concat([snap.select("device_id", "ts", pl.lit("os" if c == "os_family" else c).alias("field"),
                                  (pl.col(c).str.split(",") if c == "imei" else pl.concat_list(c)).alias("key"),
                                  pl.col(c if c == "os_family" else f"_raw_{c}").alias("value"))
                      for c in fields]).explode("key").drop_nulls(["device_id", "key"])
    vals = long.group_by("device_id", "field", "key").agg(
        pl.col("value").sort_by("ts", "value").first(),
        pl.col("ts").min().alias("first_seen"), pl.col("ts").max().alias("last_seen"))
    # A dual-SIM phone reports the IMEI of either slot: two IMEIs of one type allocation code (their first 8
    # digits: one model) are one phone's pair, not a conflict; a third, or another model's, is one.
    dev_field = ["device_id", "field"]
    n, tacs = pl.len().over(dev_field), pl.col("key").str.slice(0, 8).n_unique().over(dev_field)
    dual_sim = (pl.col("field") == "imei") & (n == 2) & (tacs == 1)
    conflicting = vals.filter((n > 1) & ~dual_sim).sort(
        "device_id", "field", "first_seen", "value").with_columns(
        # the values seen so far (in order of first sighting) conflict from the second on, except a dual-SIM
        # pair: an IMEI pair of one model becomes a conflict only with a third IMEI or another model's
        pl.when((pl.col("field") == "imei") & (pl.int_range(pl.len()).over(dev_field) == 1)
                & (pl.col("key").str.slice(0, 8).is_first_distinct().cast(pl.Int32).cum_sum().over(dev_field) == 1))
        .then(None).otherwise(pl.col("first_seen")).alias("_conflict_from")).collect().lazy()  # read twice below
    per_device = (conflicting.group_by("device_id", "field").agg(
        pl.len().alias("values"), pl.col("first_seen").min(), pl.col("last_seen").max(),
        # the conflict starts when the values seen so far first conflict (conflicting is sorted by first_seen)
        pl.col("_conflict_from").slice(1).min().alias("_since"))
        .sort("device_id", "field").group_by("device_id").agg(
        pl.col("field").alias("fields"), pl.struct("field", "values").alias("distinct_values"),
        pl.col("first_seen").min().alias("first_ts"), pl.col("last_seen").max().alias("last_ts"),
        pl.col("_since").min()))
    # the first CONFLICT_VALUES_LISTED values of each field (a placeholder device id reported by thousands of
    # phones would otherwise copy thousands of values into the finding of every account that used it)
    listed = conflicting.filter(pl.int_range(pl.len()).over("device_id", "field") < CONFLICT_VALUES_LISTED).group_by(
        "device_id").agg(pl.struct("field", "value", iso("first_seen").alias("first_seen"),
                                   iso("last_seen").alias("last_seen")).alias("conflicts"))
    # the accounts that used the device once it was in conflict: a seller whose last use came before the buyer's
    # phone reported other ids is not penalised for them
    note_unlinked(ctx, "device.id_conflict", per_device, ts="_since")
    uses = device_users(ctx).rename({"last_use": "_last_use"})
    per = (per_device.join(listed, on="device_id").join(uses, on="device_id", how="inner")
           .filter(pl.col("_last_use") >= pl.col("_since")))
    return emit(
        per, rule, device_id="device_id",
        evidence={"fields": "fields", "conflicts": "conflicts", "distinct_values": "distinct_values"},
        summary=fmt("Device {} reported with conflicting {}", pl.col("device_id"),
                    pl.col("fields").list.join(", ")),
    )


@register("device.ua_mismatch", rules="device.ua_mismatch", family="fingerprint", needs=("logins", "devices"),
          key="device", columns=("user_agent", "device_id"), identity=("user_id", "device_id"))
def ua_mismatch(ctx: ScanContext) -> pl.LazyFrame:
    """One finding per user and device whose events carry user agents with an OS family or device type (mobile
    vs pc) that none of the device's snapshots reports. A browser's desktop mode is not a contradiction: an iOS,
    iPadOS or visionOS device accepts a Mac desktop agent (iPadOS and visionOS ask for desktop sites by default,
    iPhones on request) and an Android device a Linux desktop agent (Chrome on tablets, "desktop site", Samsung
    DeX); a Chromebook accepts a Linux agent (its Linux apps) and an Android one (its Android apps); every
    Apple device accepts a native app's CFNetwork/Darwin agent (it names no platform, and ua-parser reads it as
    iOS). Agents whose OS or type is unknown are not compared, and neither are failed events (an attacker's
    failed logins on a device do not make its victims' accounts users of it)."""
    rule = ctx.cfg.rule("device.ua_mismatch")
    # Row-level columns first, then plain reductions (conditions inside an aggregation run group by group).
    fam = pl.col("_fam")
    snaps = ctx.devices.select(
        # a snapshot without an OS name (or "Darwin") but with an Apple model id (iPhone14,2, iPad13,4) is iOS
        "device_id", snapshot_os_family().alias("_fam"),
        pl.col("model").str.contains(r"(?i)^ipad").fill_null(False).alias("_ipad"),
    ).filter(fam.is_not_null()).with_columns(
        _kind(fam).alias("_kind"), (pl.col("_ipad") | fam.is_in(["ios", "visionos"])).alias("apple_mobile"),
        (fam == "android").alias("android"), (fam == "chromeos").alias("chromebook"),
        fam.is_in(APPLE_FAMILIES).alias("apple"),
    ).group_by("device_id").agg(
        fam.unique().sort().alias("snap_os"), pl.col("_kind").drop_nulls().unique().sort().alias("snap_type"),
        *[pl.col(c).any() for c in ("apple_mobile", "android", "chromebook", "apple")],
    ).collect().lazy()  # read twice below
    if snaps.select(pl.len()).collect().item() == 0:
        raise NotEvaluated("no device snapshot names an OS")
    # One row per (user, device, agent) with its first/last event and count: the agent columns are joined onto
    # a few rows per device instead of every event.
    ts = pl.col("ts")
    # Failed logins are no use of the device by the account (a sprayed victim never held the attacker's device).
    ev = (ctx.logins.filter(pl.col("device_id").is_not_null() & pl.col("user_agent").is_not_null()
                            & pl.col("user_id").is_not_null() & pl.col("success").fill_null(True))
          .join(snaps.select("device_id"), on="device_id", how="semi")
          .group_by("user_id", "device_id", "user_agent")
          .agg(ts.min().alias("f"), ts.max().alias("l"), pl.len().alias("n")))
    ev = with_agents(ev, ctx)
    ev = ev.with_columns(os_family("os_family").alias("ua_os"),
                         pl.col("device_class").replace_strict({"mobile": "mobile", "tablet": "mobile", "pc": "pc"},
                                                               default=None).alias("ua_type")).collect()
    if not ev.select((pl.col("ua_os").is_not_null() | pl.col("ua_type").is_not_null()).any()).item():
        # nothing to compare is no agreement: agents all "-", or none on a device with an OS snapshot
        raise NotEvaluated("no user agent of a device with an OS snapshot names an OS or a device type", stage=2)
    ev = ev.lazy()
    none = pl.lit([], pl.List(pl.String))
    # A native Apple app's agent ("MyBank/512 CFNetwork/1494.0.7 Darwin/23.4.0") names no platform: ua-parser
    # reads it as iOS, but it is the same on a Mac, an Apple TV, a watch or a Vision Pro.
    # An Android browser's desktop mode poses as Linux (Chrome, Samsung, Firefox) or, in UC Browser, QQ Browser and
    # Quark, as Windows: their desktop agents keep the browser's own token.
    compatible = ((pl.col("apple_mobile") & (pl.col("ua_os") == "macos"))
                  | ((pl.col("android") | pl.col("chromebook")) & (pl.col("ua_os") == "linux"))
                  # ChromeOS runs Android apps (ARC): their Dalvik, web view and app agents name Android
                  | (pl.col("chromebook") & (pl.col("ua_os") == "android"))
                  | (pl.col("android") & (pl.col("ua_os") == "windows")
                     & pl.col("user_agent").str.contains(r"\b(?:UCBrowser|UCWEB|MQQBrowser|Quark)/"))
                  | (pl.col("apple") & (pl.col("ua_os") == "ios") & pl.col("user_agent").str.contains(r"\bCFNetwork/")))
    allowed_os = pl.concat_list("snap_os", pl.when(compatible).then(pl.concat_list("ua_os")).otherwise(none))
    allowed_type = pl.concat_list("snap_type", pl.when(compatible).then(pl.concat_list("ua_type")).otherwise(none))
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
