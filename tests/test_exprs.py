"""Expression helpers: per_distinct computes once per distinct value and maps back."""
from __future__ import annotations

import polars as pl

from fraud.exprs import per_distinct


def test_per_distinct_equals_the_per_row_expression_and_keeps_nulls_and_name():
    calls = []

    def upper(e: pl.Expr) -> pl.Expr:
        return e.map_batches(lambda s: (calls.append(len(s)), s.str.to_uppercase())[1], return_dtype=pl.String)

    df = pl.DataFrame({"c": ["a", "b", None, "a", "a", " b", None]})
    got = df.select(per_distinct(pl.col("c"), upper, pl.String))
    assert got.columns == ["c"]
    assert got["c"].to_list() == ["A", "B", None, "A", "A", " B", None]
    assert calls == [3]  # "a", "b", " b": each distinct value once


def test_per_distinct_on_empty_and_all_null_columns():
    f = lambda e: e.str.len_chars()  # noqa: E731
    empty = pl.DataFrame({"c": []}, schema={"c": pl.String})
    assert empty.lazy().select(per_distinct(pl.col("c"), f, pl.UInt32)).collect().schema == {"c": pl.UInt32}
    nulls = pl.DataFrame({"c": [None, None]}, schema={"c": pl.String})
    assert nulls.select(per_distinct(pl.col("c"), f, pl.UInt32))["c"].to_list() == [None, None]
