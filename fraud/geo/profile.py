"""Profile parts the geo family infers: the user's time zone (and, as they land, home and work places)."""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.geo.localtime import user_timezones
from fraud.registry import profile_part


@profile_part("geo.timezone")
def timezone_part(ctx: ScanContext) -> pl.LazyFrame:
    return user_timezones(ctx).lazy()
