import polars as pl

from fraud.fingerprint.common import groups_where


def test_groups_where_keeps_whole_groups_in_order():
    lf = pl.LazyFrame({"g": ["a", "b", "a", "c", None, "a"], "m": [1, 1, 2, 1, 5, 3]})
    out = groups_where(lf, "g", pl.col("m").n_unique() > 1).collect()
    assert out.rows() == [("a", 1), ("a", 2), ("a", 3)]
    assert groups_where(lf, "g", pl.col("m").n_unique() > 3).collect().height == 0
