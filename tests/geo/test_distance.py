"""Geo maths against geopy on known city pairs, and the number formatting of summaries."""
import polars as pl
import pytest
from geopy.distance import geodesic, great_circle

from fraud.exprs import thousands
from fraud.geo.distance import geodesic_km, haversine_km
from tests.geo.helpers import BJ, BKK, HZ, SH

PAIRS = [(SH, BJ), (SH, HZ), (BJ, BKK), ((40.7128, -74.006), (51.5074, -0.1278)),  # New York - London
         ((-33.8688, 151.2093), (35.6762, 139.6503))]  # Sydney - Tokyo


def _frame():
    return pl.DataFrame({"a": [p[0][0] for p in PAIRS], "b": [p[0][1] for p in PAIRS],
                         "c": [p[1][0] for p in PAIRS], "d": [p[1][1] for p in PAIRS]})


def test_haversine_matches_geopy_great_circle():
    got = _frame().select(haversine_km("a", "b", "c", "d")).to_series().to_list()
    for (p, q), km in zip(PAIRS, got):
        assert km == pytest.approx(great_circle(p, q).km, rel=1e-6)  # geopy: R = 6371.009 km
        assert km == pytest.approx(geodesic(p, q).km, rel=0.006)  # sphere vs ellipsoid: within 0.6%


def test_shanghai_beijing_is_about_1067_km():
    km = pl.DataFrame({"a": [SH[0]], "b": [SH[1]], "c": [BJ[0]], "d": [BJ[1]]}).select(
        haversine_km("a", "b", "c", "d")).item()
    assert round(km) == 1067


def test_geodesic_expression_equals_geopy_and_keeps_nulls():
    df = pl.concat([_frame(), pl.DataFrame({"a": [None], "b": [1.0], "c": [2.0], "d": [3.0]})])
    got = df.select(geodesic_km("a", "b", "c", "d")).to_series().to_list()
    for (p, q), km in zip(PAIRS, got):
        assert km == pytest.approx(geodesic(p, q).km, rel=1e-12)
    assert got[-1] is None


def test_thousands_separators():
    df = pl.DataFrame({"x": [0.0, 999.4, 1684.2, 1234567.0, -2500.0, None]})
    assert df.select(thousands("x")).to_series().to_list() == ["0", "999", "1,684", "1,234,567", "-2,500", None]
    assert df.select(thousands("x", 1)).to_series().to_list()[:3] == ["0.0", "999.4", "1,684.2"]
