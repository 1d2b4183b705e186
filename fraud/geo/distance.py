"""Distance helpers as Polars expressions (vectorised; geopy is used only for evidence figures)."""
from __future__ import annotations

import math

import polars as pl

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG), as geopy's great_circle uses


def _e(x: str | pl.Expr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def haversine_km(lat1: str | pl.Expr, lon1: str | pl.Expr, lat2: str | pl.Expr, lon2: str | pl.Expr) -> pl.Expr:
    """Great-circle distance in km between two points given in WGS84 degrees (column names or expressions)."""
    r = math.pi / 180.0
    p1, p2 = _e(lat1) * r, _e(lat2) * r
    dphi = p2 - p1
    dlmb = (_e(lon2) - _e(lon1)) * r
    a = (dphi / 2).sin() ** 2 + p1.cos() * p2.cos() * (dlmb / 2).sin() ** 2
    return 2 * EARTH_RADIUS_KM * a.sqrt().clip(upper_bound=1.0).arcsin()
