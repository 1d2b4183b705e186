"""Shared test helpers: tiny inline frames and a context builder."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc)


def at(minutes: float = 0, days: float = 0) -> datetime:
    """A UTC timestamp ``days`` and ``minutes`` after 2024-03-04 08:00 UTC."""
    return T0 + timedelta(days=days, minutes=minutes)


def make_ctx(cfg=None, **frames) -> ScanContext:
    return ScanContext.from_frames(cfg or load_config(), **{k: (pl.DataFrame(v) if isinstance(v, dict) else v)
                                                           for k, v in frames.items()})


@pytest.fixture
def cfg():
    return load_config()
