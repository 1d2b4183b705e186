"""Distance helpers as Polars expressions (vectorised)."""
from __future__ import annotations

import math

import polars as pl

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG), as geopy's great_circle uses
# The haversine (sphere) distance differs from the WGS84 one by at most 0.56%: a decision on the WGS84 distance can
# differ from the sphere's only where the sphere's lies within this share of the limit.
SPHERE_MARGIN = 0.01


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



def haversine_bound_km(lat1: str | pl.Expr, lon1: str | pl.Expr, lat2: str | pl.Expr, lon2: str | pl.Expr) -> pl.Expr:
    """An upper bound of :func:`haversine_km` without trigonometry: R x (|dlat| + |dlon|) in radians (a path along
    a meridian and then a parallel is no shorter than the great circle), with |dlon| taken the short way round and
    a hair of margin for rounding. For cheap "surely near" tests before the exact distance."""
    dlon = (_e(lon2) - _e(lon1)).abs()
    bound = EARTH_RADIUS_KM * math.pi / 180 * ((_e(lat2) - _e(lat1)).abs() + pl.min_horizontal(dlon, 360 - dlon))
    return bound * (1 + 1e-9) + 1e-9


def geodesic_km(lat1: str | pl.Expr, lon1: str | pl.Expr, lat2: str | pl.Expr, lon2: str | pl.Expr) -> pl.Expr:
    """WGS84 ellipsoid distance in km (Karney's geodesic, the one geopy's ``geodesic`` computes) for evidence
    figures: PROJ's vectorised solver (pyproj ``Geod.inv``), ~1M pairs/s against geopy's ~15k/s in pure Python
    (an account whose events jump between cities all day has a flagged pair per event). Null where a coordinate
    is null. The detection itself uses :func:`haversine_km`."""

    def run(s: pl.Series) -> pl.Series:
        from pyproj import Geod

        df = s.struct.unnest()
        lat1, lon1, lat2, lon2 = (df[c].to_numpy() for c in ("a", "b", "c", "d"))  # null -> NaN
        _, _, metres = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)  # NaN in, NaN out
        return pl.Series(metres / 1000.0, dtype=pl.Float64).fill_nan(None)

    s = pl.struct(_e(lat1).cast(pl.Float64).alias("a"), _e(lon1).cast(pl.Float64).alias("b"),
                  _e(lat2).cast(pl.Float64).alias("c"), _e(lon2).cast(pl.Float64).alias("d"))
    return s.map_batches(run, return_dtype=pl.Float64, is_elementwise=True)
