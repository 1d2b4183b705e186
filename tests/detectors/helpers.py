"""Shared builders for the behaviour detector tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from fraud.config import load_config
from fraud.context import ScanContext

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def daily_logins(counts: list[int], user: str = "u1", start: datetime = T0, **extra) -> list[dict]:
    """``counts[d]`` successful logins on day d (one minute apart from 12:00 UTC)."""
    return [{"ts": start + timedelta(days=d, minutes=i), "user_id": user, "event": "login", "success": True,
             "ip": "10.0.0.1", "device_id": "dev-1", **extra}
            for d, n in enumerate(counts) for i in range(n)]


def ctx_of(logins: list[dict], config=None, model=None, **frames) -> ScanContext:
    cfg = config or load_config()
    return ScanContext.from_frames(cfg, model=model, logins=pl.DataFrame(logins, infer_schema_length=None), **frames)
