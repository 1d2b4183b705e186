"""Profile parts the geo family infers: the user's time zone and the home and work places."""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.geo.localtime import user_timezones
from fraud.geo.places import home_ref, home_work
from fraud.registry import profile_part


@profile_part("geo.timezone")
def timezone_part(ctx: ScanContext) -> pl.LazyFrame:
    return user_timezones(ctx).lazy()


@profile_part("geo.places")
def places_part(ctx: ScanContext) -> pl.LazyFrame:
    """user_id, home_lat/lon/city, work_lat/lon/city (null when unknown, never 0,0) and their support:
    home_nights (nights seen at home) and work_days (weekdays seen at work). A user without a home place keeps
    the home city name the rules compare by (most frequent ``city``, else ``registered_city``), no coordinates."""
    hw = home_work(ctx).select("user_id", "home_lat", "home_lon", "home_nights", "work_lat", "work_lon",
                               "work_city", "work_days")
    ref = home_ref(ctx).select("user_id", "home_city")
    return (ref.join(hw, on="user_id", how="left").lazy()
            .select("user_id", "home_lat", "home_lon", "home_city", "work_lat", "work_lon", "work_city",
                    "home_nights", "work_days"))
