"""``behavior.repeated``: ``consecutive_days`` (3) consecutive local calendar days that each carry a
``behavior.sigma`` finding. One finding per maximal run of such days (a 5-day run is one finding)."""
from __future__ import annotations

import polars as pl

from fraud.config import Rule
from fraud.findings import emit


def repeated_findings(flagged: pl.LazyFrame, rule: Rule) -> pl.LazyFrame:
    """``flagged``: one row per user-day with a sigma finding (``user_id, day, first_ts, last_ts, _names`` =
    the fired features). Flags runs of at least ``consecutive_days`` consecutive calendar days."""
    n_min = int(rule["consecutive_days"])
    gap = pl.col("day") - pl.col("day").shift(1).over("user_id")
    runs = (flagged.sort("user_id", "day")
            .with_columns((gap != pl.duration(days=1)).fill_null(True).cum_sum().over("user_id").alias("_run"))
            .group_by("user_id", "_run")
            .agg(pl.len().alias("n_days"), pl.col("day").min().alias("from_day"), pl.col("day").max().alias("to_day"),
                 pl.col("day").dt.to_string("%Y-%m-%d").alias("days"), pl.col("first_ts").min(),
                 pl.col("last_ts").max(),
                 pl.col("_names").list.explode(keep_nulls=False, empty_as_null=False)
                 .unique(maintain_order=True).alias("features"))
            .filter(pl.col("n_days") >= n_min))
    return emit(
        runs, rule,
        evidence={"days": "days", "consecutive_days": "n_days", "min_consecutive_days": n_min,
                  "features": "features"},
        summary=pl.format("Behaviour outside the user's baseline on {} consecutive days ({} to {}): {}",
                          pl.col("n_days"), pl.col("from_day").dt.to_string("%Y-%m-%d"),
                          pl.col("to_day").dt.to_string("%Y-%m-%d"), pl.col("features").list.join(", ")),
    )
