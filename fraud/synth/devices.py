"""The device table (every phone, computer, emulator and farm device) and the client snapshots they report."""
from __future__ import annotations

import numpy as np
import polars as pl

from .cities import IP_FIXED, CityTable, draw_ips
from .plans import Plan
from .population import EV, Devices, DeviceTable, Population
from .useragents import Profiles, imeis, macs, pick_profiles, uuids

SNAP_COLS = {"t": pl.Int64, "dev": pl.Int32, "uid": pl.Int32, "alt": pl.Boolean, "zone": pl.Int16}


def build_devices(rng: np.random.Generator, pop: Population, ct: CityTable, pr: Profiles, plan: Plan,
                  noise: dict[str, np.ndarray]) -> tuple[DeviceTable, dict[str, np.ndarray]]:
    """Main phones for everyone (40% locked), second devices and replacement phones for the noise users, and
    the devices of the planted rules (never locked). Returns the table and per-user device columns."""
    n, U, P = pop.n, plan.users, plan.par
    cn = ct.cc[pop.city] == "CN"
    devs = Devices()
    main = devs.add(rng, pick_profiles(rng, pr, "phone", cn), np.arange(n), lock=0.4)
    second, new, new_day = np.full(n, -1), np.full(n, -1), np.full(n, -1)
    s = noise["second"]
    prof = np.where(rng.random(len(s)) < 0.75, pick_profiles(rng, pr, "desktop", cn[s]),
                    pick_profiles(rng, pr, "phone", cn[s]))
    second[s] = devs.add(rng, prof, s, lock=0.4)
    s = noise["new_phone"]
    new[s] = devs.add(rng, pick_profiles(rng, pr, "phone", cn[s]), s, lock=0.4)
    new_day[s] = noise["new_day"]
    u = U["device.emulator"]
    emu = pr.of_kind("emulator")
    P["device.emulator"] = {"dev": devs.add(rng, rng.choice(emu, len(u), p=[0.6, 0.4]), u),
                            "flag": rng.random(len(u)) < 0.67}
    u = np.repeat(U["device.many_devices"], 4)
    P["device.many_devices"] = {"dev": devs.add(rng, pick_profiles(rng, pr, "phone", cn[u]), u).reshape(-1, 4)}
    k = len(U["device.shared"]) // 7
    android = np.flatnonzero((pr.kind == "phone") & (pr.family == "android") & (pr.w_cn > 0))
    P["device.shared"].update(dev=devs.add(rng, rng.choice(android, k), np.full(k, -1)),
                              ip=draw_ips(rng, IP_FIXED["CN"], k))
    u = U["device.new_device_sensitive"]
    P["device.new_device_sensitive"] = {"dev": devs.add(rng, pick_profiles(rng, pr, "phone", cn[u]), u)}
    u = U["geo.impossible_travel"]
    P["geo.impossible_travel"]["dev"] = devs.add(rng, pick_profiles(rng, pr, "phone", cn[u]), u, reports=False)
    dt = devs.freeze(rng, pr)
    _tamper(rng, dt, pr, plan, main)
    return dt, {"main": main, "second": second, "new": new, "new_day": new_day}


def _tamper(rng: np.random.Generator, dt: DeviceTable, pr: Profiles, plan: Plan, main: np.ndarray) -> None:
    """Integrity signals and inconsistencies of the planted fingerprint rules."""
    U, P = plan.users, plan.par
    m = main[U["device.rooted"]]
    r = rng.random(len(m)) < 0.5
    dt.rooted[m[r]], dt.hook[m[~r]] = True, True
    e = P["device.emulator"]
    dt.emulator[e["dev"][e["flag"]]] = True
    m = main[U["device.id_conflict"]]
    field = np.where(dt.imei[m] != "", 1, np.where(dt.mac[m] != "", 2, 3))
    alt = np.select([field == 1, field == 2], [imeis(rng, len(m)), macs(rng, len(m))], uuids(rng, len(m)))
    dt.alt_field[m], dt.alt_value[m] = field, alt
    m = main[U["device.ua_mismatch"]]
    apple = pr.family[dt.profile[m]] == "apple"
    phones = pr.of_kind("phone")
    ios, andr = phones[pr.family[phones] == "apple"], phones[pr.family[phones] == "android"]
    dt.ua[m] = np.where(apple, rng.choice(andr, len(m)), rng.choice(ios, len(m)))


def snapshots(logins: pl.DataFrame, dt: DeviceTable, pop: Population, rng: np.random.Generator) -> pl.DataFrame:
    """2-4 snapshots per (device, user) pair with sign-ins: at its first sign-in and at random times up to its
    last; a device with a planted conflict reports its conflicting id in one extra snapshot."""
    pairs = (logins.filter(pl.col("ev") == EV["login"], pl.col("ok"), pl.col("dev") >= 0)
             .group_by("dev", "uid").agg(tf=pl.col("t").min(), tl=pl.col("t").max()).sort("dev", "uid"))
    pairs = pairs.filter(pl.Series(dt.reports[pairs["dev"].to_numpy()]))
    dev, uid = pairs["dev"].to_numpy(), pairs["uid"].to_numpy()
    tf, tl = pairs["tf"].to_numpy(), pairs["tl"].to_numpy()
    k = rng.integers(2, 5, len(dev))
    conflict = (dt.alt_field[dev] > 0) & (dt.owner[dev] == uid)
    idx = np.repeat(np.arange(len(dev)), k + conflict)
    j = np.arange(len(idx)) - np.repeat(np.cumsum(k + conflict) - (k + conflict), k + conflict)
    t = np.where(j == 0, tf[idx] + rng.integers(1, 30, len(idx)), tf[idx] + (rng.random(len(idx)) * (tl - tf)[idx]))
    alt = conflict[idx] & (j == k[idx])
    return pl.DataFrame({"t": t.astype(np.int64), "dev": dev[idx], "uid": uid[idx], "alt": alt,
                         "zone": pop.zone[uid[idx]], "tf": tf[idx], "tl": tl[idx]},
                        schema_overrides={**SNAP_COLS, "tf": pl.Int64, "tl": pl.Int64})


def snapshot_table(snap: pl.DataFrame, dt: DeviceTable, pr: Profiles) -> pl.DataFrame:
    """Snapshot columns of the contract (except ts) from the device table."""
    dev = snap["dev"].to_numpy()
    prof = dt.profile[dev]
    frac = (snap["t"].to_numpy() - snap["tf"].to_numpy()) / np.maximum(snap["tl"].to_numpy() - snap["tf"].to_numpy(), 1)
    upg = ~np.isnan(dt.upgrade[dev]) & (frac > np.nan_to_num(dt.upgrade[dev], nan=2.0))
    alt = snap["alt"].to_numpy()
    fld = dt.alt_field[dev]
    pick = lambda col, f: np.where(alt & (fld == f), dt.alt_value[dev], col[dev])  # noqa: E731
    text = ("device_id", "imei", "mac", "hw_uuid", "model", "os", "os_version")
    return pl.DataFrame({
        "device_id": dt.id[dev], "uid": snap["uid"].to_numpy(),
        "imei": pick(dt.imei, 1), "mac": pick(dt.mac, 2), "hw_uuid": pick(dt.hw_uuid, 3),
        "model": pr.model[prof], "os": pr.os[prof], "os_version": np.where(upg, pr.os_next[prof], pr.os_version[prof]),
        "is_emulator": dt.emulator[dev], "is_rooted": dt.rooted[dev], "has_hook": dt.hook[dev],
        "device_lock": dt.lock[dev]}).with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text)
