"""Plain reference versions of the contract's rules (section 3), used to check the generator's labels.

They read the generated files and use the *true* homes, work places and zones (truth_places.csv) where the
real detectors infer them, so they test the data, not the inference. Each returns the set of user_ids (or IPs
for ip.spray) the rule fires for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

R_KM = 6371.0088
SENSITIVE = ["password_change", "phone_change", "bind_card", "withdraw"]


def km(a1, o1, a2, o2) -> pl.Expr:
    """Haversine distance in km between lat/lon expressions."""
    r = np.pi / 180
    x = ((a2 - a1) * r / 2).sin() ** 2 + (a1 * r).cos() * (a2 * r).cos() * ((o2 - o1) * r / 2).sin() ** 2
    return 2 * R_KM * x.sqrt().arcsin()


class Data:
    """The generated files, with parsed UTC times and each user's local clock (true zone)."""

    def __init__(self, d: Path):
        self.truth = pl.read_csv(d / "truth_places.csv")
        zones = self.truth.select("user_id", "timezone")
        ts = pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False).dt.convert_time_zone("UTC")
        self.logins = self._local(pl.read_csv(d / "logins.csv", infer_schema_length=0).with_columns(
            ts=ts, success=pl.col("success") == "true", lat=pl.col("lat").cast(pl.Float64),
            lon=pl.col("lon").cast(pl.Float64), amount=pl.col("amount").cast(pl.Float64)), zones)
        self.pings = self._local(pl.read_csv(d / "locations.csv", infer_schema_length=0).with_columns(
            ts=ts, lat=pl.col("lat").cast(pl.Float64), lon=pl.col("lon").cast(pl.Float64)), zones)
        self.devices = pl.read_csv(d / "devices.csv", infer_schema_length=0).with_columns(
            ts=ts, **{c: pl.col(c) == "true" for c in ("is_emulator", "is_rooted", "has_hook", "device_lock")})
        self.labels = pl.read_csv(d / "labels.csv", infer_schema_length=0)
        # the oracle ignores the planted bad rows, like a scan that rejects them
        self.logins = self.logins.filter(pl.col("ts").is_not_null(), pl.col("user_id").is_not_null(),
                                         pl.col("lat").is_null() | pl.col("lat").is_between(-90, 90))
        self.pings = self.pings.filter(pl.col("ts").is_not_null(), pl.col("lat").is_between(-90, 90),
                                       pl.col("lon").is_between(-180, 180))
        self.devices = self.devices.filter(pl.col("ts").is_not_null(), pl.col("device_id").is_not_null())
        home_cc = self.logins.filter(pl.col("lat").is_not_null()).group_by("user_id").agg(
            home_cc=pl.col("country").mode().first())
        self.home = self.truth.join(home_cc, on="user_id", how="left")

    @staticmethod
    def _local(df: pl.DataFrame, zones: pl.DataFrame) -> pl.DataFrame:
        df = df.join(zones, on="user_id", how="left")
        parts = [g.with_columns(local=pl.col("ts").dt.convert_time_zone(z).dt.replace_time_zone(None))
                 for (z,), g in df.group_by("timezone") if z is not None]
        return pl.concat(parts).sort("user_id", "ts", maintain_order=True)

    def labelled(self, rule: str) -> set[str]:
        col = "ip" if rule == "ip.spray" else "user_id"
        return set(self.labels.filter(pl.col("rule") == rule)[col].drop_nulls())

    def positions(self) -> pl.DataFrame:
        """Positioned events: pings and logins with lat/lon."""
        lg = self.logins.filter(pl.col("lat").is_not_null()).select("user_id", "ts", "local", "lat", "lon")
        return pl.concat([self.pings.select("user_id", "ts", "local", "lat", "lon"), lg]).sort("user_id", "ts")


def signins(d: Data) -> pl.DataFrame:
    return d.logins.filter(pl.col("event") == "login", pl.col("success"), pl.col("device_id").is_not_null())


def fingerprint(d: Data) -> dict[str, set[str]]:
    """device.* integrity, consistency and account rules."""
    import crawleruseragents
    from ua_parser import parse
    out: dict[str, set[str]] = {}
    uas = d.logins["user_agent"].drop_nulls().unique().to_list()
    bots = [u for u in uas if crawleruseragents.is_crawler(u)]
    out["device.bot_agent"] = set(d.logins.filter(pl.col("user_agent").is_in(bots))["user_id"])
    emu_sig = pl.col("model").is_in(["sdk_gphone64_x86_64", "Android SDK built for x86"])
    emu_dev = set(d.devices.filter(pl.col("is_emulator") | emu_sig)["device_id"])
    emu_dev |= set(d.logins.filter(pl.col("user_agent").str.contains("sdk_gphone|Android SDK built for"))["device_id"])
    out["device.emulator"] = users_of(d, emu_dev)
    out["device.rooted"] = set(d.devices.filter(pl.col("is_rooted") | pl.col("has_hook"))["user_id"])
    fam = pl.col("os").replace({"HarmonyOS": "Android"})
    conf = d.devices.group_by("device_id").agg(*(pl.col(c).drop_nulls().n_unique() for c in ("imei", "mac", "hw_uuid")),
                                               fam=fam.n_unique())
    bad = conf.filter((pl.col("imei") > 1) | (pl.col("mac") > 1) | (pl.col("hw_uuid") > 1) | (pl.col("fam") > 1))
    out["device.id_conflict"] = users_of(d, set(bad["device_id"]))
    ua_fam = {u: {"iOS": "iOS", "Android": "Android", "Windows": "Windows", "Mac OS X": "macOS"}.get(
        parse(u).os.family if parse(u).os else "", "?") for u in uas}
    pairs = d.logins.filter(pl.col("device_id").is_not_null()).select("device_id", "user_agent").unique().with_columns(
        ua_os=pl.col("user_agent").replace_strict(ua_fam, default="?"))
    snap = d.devices.select("device_id", snap_os=fam).unique()
    mm = pairs.join(snap, on="device_id").filter(pl.col("ua_os") != "?", pl.col("ua_os") != pl.col("snap_os"))
    out["device.ua_mismatch"] = users_of(d, set(mm["device_id"]))
    s = signins(d)
    out["device.many_devices"] = _window_distinct(s, "user_id", "device_id", 30, 3)
    shared = _window_distinct(s, "device_id", "user_id", 30, 5)
    out["device.shared"] = set(s.filter(pl.col("device_id").is_in(list(shared)))["user_id"])
    out["device.new_device_sensitive"] = _new_device_sensitive(d, s)
    pw = d.logins.filter(pl.col("event") == "password_change")
    out["account.password_churn"] = _window_count(pw, "user_id", 90 * 86400, 3)
    out["account.login_failures"] = _failures(d)
    out["ip.spray"] = _window_distinct(d.logins.filter(~pl.col("success")), "ip", "user_id", 1 / 24, 9)
    days = s.group_by("user_id", "device_id").agg(n=pl.col("local").dt.date().n_unique(),
                                                  span=(pl.col("ts").max() - pl.col("ts").min()).dt.total_days())
    main = days.sort("n", "device_id", descending=[True, False]).group_by("user_id").first()
    out["device.stable_main"] = set(main.filter(pl.col("span") >= 180)["user_id"])
    out["device.lock_enabled"] = set(d.devices.filter(pl.col("device_lock"))["user_id"])
    return out


def users_of(d: Data, devices: set[str]) -> set[str]:
    """Users signing in with, or reported on, any of ``devices``."""
    a = set(d.logins.filter(pl.col("device_id").is_in(list(devices)))["user_id"].drop_nulls())
    return a | set(d.devices.filter(pl.col("device_id").is_in(list(devices)))["user_id"].drop_nulls())


def _window_distinct(df: pl.DataFrame, key: str, what: str, days: float, more_than: int) -> set[str]:
    """Keys with more than ``more_than`` distinct ``what`` within any window of ``days`` (first uses)."""
    first = df.group_by(key, what).agg(pl.col("ts").min(), last=pl.col("ts").max())
    hits = set()
    span = pl.duration(seconds=int(days * 86400))
    for k, g in first.group_by(key):
        g = g.sort("ts")
        if g.height <= more_than:
            continue
        # a window [t, t+span] holds every `what` that is used at some time inside it: approximate by first
        # and last uses (enough for the planted patterns: the used devices/accounts are used inside windows)
        t = g["ts"]
        for i in range(g.height):
            inside = g.filter((pl.col("last") >= t[i]) & (pl.col("ts") <= t[i] + g.select(span).item()))
            if inside.height > more_than:
                hits.add(k[0])
                break
    return hits


def _window_count(df: pl.DataFrame, key: str, seconds: int, at_least: int) -> set[str]:
    hits = set()
    for k, g in df.group_by(key):
        t = g["ts"].sort().dt.epoch("s").to_numpy()
        if len(t) >= at_least and (t[at_least - 1:] - t[: len(t) - at_least + 1] <= seconds).any():
            hits.add(k[0])
    return hits


def _new_device_sensitive(d: Data, s: pl.DataFrame) -> set[str]:
    first = s.group_by("user_id", "device_id").agg(tf=pl.col("ts").min())
    days = d.logins.select("user_id", "ts", day=pl.col("local").dt.date())
    sens = d.logins.filter(pl.col("event").is_in(SENSITIVE)).select("user_id", ts_s="ts")
    j = first.join(sens, on="user_id").filter(pl.col("ts_s") >= pl.col("tf"),
                                              pl.col("ts_s") <= pl.col("tf") + pl.duration(hours=24))
    hits = set()
    for row in j.iter_rows(named=True):
        before = days.filter(pl.col("user_id") == row["user_id"], pl.col("ts") < row["tf"])["day"].n_unique()
        if before >= 7:
            hits.add(row["user_id"])
    return hits


def _failures(d: Data) -> set[str]:
    hits = set()
    lg = d.logins.filter(pl.col("event") == "login").select("user_id", "ts", "success")
    users = lg.filter(~pl.col("success")).group_by("user_id").len().filter(pl.col("len") >= 5)["user_id"]
    for u in users:
        g = lg.filter(pl.col("user_id") == u)
        t, ok = g["ts"].dt.epoch("s").to_numpy(), g["success"].to_numpy()
        ft = t[~ok]
        for i in range(len(ft) - 4):
            if ft[i + 4] - ft[i] <= 600 and ((t > ft[i + 4]) & (t <= ft[i + 4] + 600) & ok).any():
                hits.add(u)
    return hits
