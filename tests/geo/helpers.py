"""Tiny inline data builders for the geo tests (UTC instants, per-user local clocks via time zones)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl

from fraud.config import load_config
from fraud.context import ScanContext

SH = (31.2304, 121.4737)  # Shanghai (Asia/Shanghai, UTC+8)
SH_WORK = (31.2397, 121.4998)  # Lujiazui, ~2.6 km east of SH
BJ = (39.9042, 116.4074)  # Beijing
HZ = (30.2741, 120.1551)  # Hangzhou
NJ = (32.0603, 118.7969)  # Nanjing
BKK = (13.7563, 100.5018)  # Bangkok
TZ_SH = ZoneInfo("Asia/Shanghai")


def local(d: date, hour: int, minute: int = 0, tz: ZoneInfo = TZ_SH) -> datetime:
    """A local wall-clock time in ``tz`` as a UTC datetime."""
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz).astimezone(timezone.utc)


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def pings(user: str, rows: list[tuple[datetime, tuple[float, float]]], acc: float | None = 20.0) -> pl.DataFrame:
    return pl.DataFrame({"ts": [t for t, _ in rows], "user_id": [user] * len(rows),
                         "lat": [p[0] for _, p in rows], "lon": [p[1] for _, p in rows],
                         "accuracy_m": [acc] * len(rows)},
                        schema={"ts": pl.Datetime("us", "UTC"), "user_id": pl.String, "lat": pl.Float64,
                                "lon": pl.Float64, "accuracy_m": pl.Float64})


def routine(user: str, start: date, n_days: int, home=SH, work=SH_WORK, tz: ZoneInfo = TZ_SH,
            work_days: bool = True) -> list[tuple[datetime, tuple[float, float]]]:
    """Nights at home (23:00, 03:00), weekdays at work (09:30, 14:00) and home again (20:30)."""
    rows = []
    for d in days(start, n_days):
        rows += [(local(d, 23, 0, tz), home), (local(d + timedelta(days=1), 3, 0, tz), home)]
        if work_days and d.weekday() < 5:
            rows += [(local(d, 9, 30, tz), work), (local(d, 14, 0, tz), work), (local(d, 20, 30, tz), home)]
    return rows


def ctx_of(**frames) -> ScanContext:
    return ScanContext.from_frames(load_config(), **frames)


def logins(rows: list[dict]) -> pl.DataFrame:
    """Account events from dicts (missing keys are null)."""
    cols = ["ts", "user_id", "event", "success", "ip", "device_id", "lat", "lon", "country", "city", "amount"]
    schema = {"ts": pl.Datetime("us", "UTC"), "user_id": pl.String, "event": pl.String, "success": pl.Boolean,
              "ip": pl.String, "device_id": pl.String, "lat": pl.Float64, "lon": pl.Float64, "country": pl.String,
              "city": pl.String, "amount": pl.Float64}
    data = {c: [r.get(c, "login" if c == "event" else (True if c == "success" else None)) for r in rows] for c in cols}
    return pl.DataFrame(data, schema=schema)
