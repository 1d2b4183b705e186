"""Turning internal numeric rows into the contract's files (CSV or Parquet), with a few planted bad rows."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

from .cities import CityTable, Clock, ip_expr
from .population import EVENTS, DeviceTable, Population
from .useragents import Profiles

LOGIN_OUT = ["ts", "user_id", "event", "success", "ip", "user_agent", "device_id", "lat", "lon", "country", "city",
             "amount"]
DEVICE_OUT = ["ts", "device_id", "user_id", "imei", "mac", "hw_uuid", "model", "os", "os_version", "is_emulator",
              "is_rooted", "has_hook", "device_lock"]
LOCATION_OUT = ["ts", "user_id", "lat", "lon", "accuracy_m"]
SCORE_OUT = ["user_id", "score", "registered_city", "registered_country"]
# how planted bad rows are broken, per file (cycled)
BAD_KINDS = {"logins": ["bad_date", "garbage_ts", "no_user", "lat_123"],
             "locations": ["bad_date", "lat_123", "lon_200", "no_lat"],
             "devices": ["no_device", "garbage_ts"],
             "scores": ["score_1200", "no_user"]}


def user_id(col: str = "uid") -> pl.Expr:
    """Integer user number -> ``U0000042``."""
    return pl.concat_str(pl.lit("U"), pl.col(col).cast(pl.String).str.zfill(7))


def user_ids(uid: np.ndarray) -> pl.Series:
    """``user_id`` strings of a large column of user numbers (formats each distinct user once)."""
    uniq, inv = np.unique(uid, return_inverse=True)
    names = pl.DataFrame({"uid": uniq}).select(user_id()).to_series()
    return names.gather(pl.Series(inv.astype(np.int64)))


def lookup(table: pl.Series, idx: np.ndarray) -> pl.Series:
    """``table[idx]`` with null where ``idx`` < 0."""
    i = pl.Series(idx.astype(np.int64))
    return table.gather(pl.select(pl.when(i >= 0).then(i)).to_series())


_CLOCK = pl.Series([f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])


def ts_strings(t: np.ndarray, zone: np.ndarray, clock: Clock) -> pl.Series:
    """ISO 8601 local time with offset of UTC epoch seconds ``t`` in zones ``zone`` (-1 = UTC, ``+00:00``)."""
    off = np.where(zone >= 0, clock.offset_min(np.maximum(zone, 0), t), 0).astype(np.int64)
    local = t + off * 60
    day, sec = local // 86400, local % 86400
    d0 = int(day.min()) if len(day) else 0
    dates = pl.Series(np.arange(d0, int(day.max()) + 1 if len(day) else 1).astype("datetime64[D]").astype(str))
    uniq = np.unique(off)
    names = pl.Series([f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o in uniq])
    parts = [dates.gather(pl.Series(day - d0)), _CLOCK.gather(pl.Series(sec)),
             names.gather(pl.Series(np.searchsorted(uniq, off)))]
    return pl.select(pl.concat_str([pl.lit(p) for p in parts])).to_series()


def time_order(df: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by (UTC time, user). numpy's introsort is deterministic, so equal keys keep a fixed order."""
    key = df["t"].to_numpy().astype(np.int64) * (1 << 22) + df["uid"].to_numpy()
    return df[np.argsort(key)]


def plant_bad(df: pl.DataFrame, name: str, k: int, ok_users: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Add ``k`` copies of random rows of users in ``ok_users`` (bool per user), marked in column ``bad`` with
    the 1-based kind of damage of ``BAD_KINDS[name]`` the formatter applies; the originals stay."""
    df = df.with_columns(bad=pl.lit(0, pl.Int8))
    cand = np.flatnonzero(ok_users[df["uid"].to_numpy()])
    if k == 0 or len(cand) == 0:
        return df
    pick = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False))
    kinds = (np.arange(len(pick)) % len(BAD_KINDS[name]) + 1).astype(np.int8)
    return pl.concat([df, df[pick].with_columns(bad=pl.Series(kinds))])


def damage(df: pl.DataFrame, name: str) -> pl.DataFrame:
    """Apply the planted damage of rows with ``bad`` > 0 (see ``plant_bad``)."""
    fixes = {"bad_date": ("ts", pl.col("ts").str.slice(0, 4) + "-02-30" + pl.col("ts").str.slice(10)),
             "garbage_ts": ("ts", pl.lit("N/A")), "no_user": ("user_id", pl.lit(None, pl.String)),
             "lat_123": ("lat", pl.lit(123.0)), "lon_200": ("lon", pl.lit(-200.5)),
             "no_lat": ("lat", pl.lit(None, pl.Float64)), "no_device": ("device_id", pl.lit(None, pl.String)),
             "score_1200": ("score", pl.lit(1200, pl.Int64))}
    for i, kind in enumerate(BAD_KINDS[name], start=1):
        col, expr = fixes[kind]
        df = df.with_columns(pl.when(pl.col("bad") == i).then(expr).otherwise(pl.col(col)).alias(col))
    return df


class Formatter:
    """Converts internal frames (numeric codes, UTC epoch seconds) to the contract's columns."""

    def __init__(self, pop: Population, ct: CityTable, pr: Profiles, dt: DeviceTable, clock: Clock):
        self.pop, self.ct, self.pr, self.dt, self.clock = pop, ct, pr, dt, clock
        self.ua, self.dev_id = pl.Series(pr.ua_strings), pl.Series(dt.id)
        self.countries, self.cities = pl.Series(ct.countries), pl.Series(ct.name)
        self.events = pl.Series(EVENTS)

    def logins(self, df: pl.DataFrame) -> pl.DataFrame:
        """Internal logins -> contract columns."""
        code = {c: df[c].to_numpy() for c in ("ev", "dev", "ua", "city", "ctry")}
        out = df.select(
            "bad", ts=ts_strings(df["t"].to_numpy(), df["zone"].to_numpy(), self.clock),
            user_id=user_ids(df["uid"].to_numpy()),
            event=lookup(self.events, code["ev"]), success=pl.col("ok"), ip=ip_expr("ip"),
            user_agent=lookup(self.ua, code["ua"]), device_id=lookup(self.dev_id, code["dev"]),
            lat=pl.col("lat").fill_nan(None).round(6), lon=pl.col("lon").fill_nan(None).round(6),
            country=lookup(self.countries, code["ctry"]), city=lookup(self.cities, code["city"]),
            amount=pl.col("amount").fill_nan(None))
        return damage(out, "logins").select(LOGIN_OUT)

    def pings(self, df: pl.DataFrame) -> pl.DataFrame:
        """Internal pings -> contract columns."""
        out = df.select("bad", ts=ts_strings(df["t"].to_numpy(), df["zone"].to_numpy(), self.clock),
                        user_id=user_ids(df["uid"].to_numpy()), lat=pl.col("lat").round(6), lon=pl.col("lon").round(6),
                        accuracy_m=pl.col("acc"))
        return damage(out, "locations").select(LOCATION_OUT)

    def devices(self, snap: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
        """Snapshots (times, ``bad``) + their attribute table -> contract columns."""
        ts = ts_strings(snap["t"].to_numpy(), snap["zone"].to_numpy(), self.clock)
        out = table.with_columns(bad=snap["bad"], ts=ts, user_id=user_id())
        return damage(out, "devices").select(DEVICE_OUT)

    def scores(self, rng: np.random.Generator, ok_users: np.ndarray) -> pl.DataFrame:
        """One row per user (plus 2 planted bad rows)."""
        p, ct = self.pop, self.ct
        df = pl.DataFrame({"uid": np.arange(p.n), "t": np.zeros(p.n, np.int64), "score": p.score.astype(np.int64),
                           "registered_city": ct.name[p.reg_city], "registered_country": ct.cc[p.reg_city]})
        df = time_order(plant_bad(df, "scores", 2, ok_users, rng)).with_columns(user_id=user_id())
        return damage(df, "scores").select(SCORE_OUT)


class Sink:
    """Appends frames to ``name.csv`` (or collects Parquet parts and merges them on close)."""

    def __init__(self, out: Path, fmt: str):
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
        self.out, self.fmt = out, fmt
        self.handles: dict[str, object] = {}
        self.parts: dict[str, list[Path]] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, df: pl.DataFrame) -> None:
        """Append ``df`` (contract columns only) to file ``name``."""
        self.rows[name] = self.rows.get(name, 0) + df.height
        if self.fmt == "csv":
            first = name not in self.handles
            if first:
                self.handles[name] = open(self.out / f"{name}.csv", "wb")  # noqa: SIM115 - closed in close()
            df.write_csv(self.handles[name], include_header=first)
        else:
            tmp = self.out / f".{name}.parts"
            tmp.mkdir(exist_ok=True)
            part = tmp / f"{len(self.parts.setdefault(name, [])):05d}.parquet"
            df.write_parquet(part, compression="lz4")
            self.parts[name].append(part)

    def close(self) -> None:
        """Flush files; merge Parquet parts in order with bounded memory (LZ4: several times faster to write
        than zstd on two cores, files about a third larger)."""
        for h in self.handles.values():
            h.close()
        for name, parts in self.parts.items():
            if len(parts) == 1:
                parts[0].replace(self.out / f"{name}.parquet")
            else:
                pl.scan_parquet(parts).sink_parquet(self.out / f"{name}.parquet", compression="lz4")
            shutil.rmtree(parts[0].parent)
        other = "parquet" if self.fmt == "csv" else "csv"
        for name in self.rows:  # a stale table of the other format would be read by a folder scan too
            (self.out / f"{name}.{other}").unlink(missing_ok=True)
