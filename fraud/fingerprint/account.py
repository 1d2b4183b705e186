"""Account-event checks. ``account.login_failures``: a burst of failed logins followed by a success (a
guessed or stuffed password that worked)."""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.findings import emit
from fraud.registry import register


@register("account.login_failures", rules="account.login_failures", family="fingerprint")
def login_failures(ctx: ScanContext) -> pl.LazyFrame:
    """Flags ``min_failures``+ failed logins within ``failure_window_minutes`` followed by a successful login
    of the same user within ``success_within_minutes`` of the last failure (one finding per success)."""
    rule = ctx.cfg.rule("account.login_failures")
    n_min = int(rule["min_failures"])
    win = f"{int(rule['failure_window_minutes'] * 60)}s"
    within_us = int(rule["success_within_minutes"] * 60e6)
    ev = (ctx.logins.filter(pl.col("event") == "login")
          .select("user_id", "ts", "success", "ip", "device_id")
          .sort(["user_id", "ts", "success"]))
    fail = ~pl.col("success")
    marked = ev.with_columns(
        fail.cast(pl.Int32).rolling_sum_by("ts", win).over("user_id").alias("n_fail"),
        pl.when(fail).then(pl.col("ts")).rolling_min_by("ts", win).over("user_id").alias("burst_start"),
        pl.when(pl.col("success")).then(pl.col("ts")).backward_fill().over("user_id").alias("next_success"),
        pl.when(pl.col("success")).then(pl.col("ip")).backward_fill().over("user_id").alias("success_ip"),
        pl.when(pl.col("success")).then(pl.col("device_id")).backward_fill().over("user_id").alias("success_device"),
    )
    hits = marked.filter(
        fail & (pl.col("n_fail") >= n_min) & pl.col("next_success").is_not_null()
        & ((pl.col("next_success") - pl.col("ts")).dt.total_microseconds() <= within_us)
    )
    per = hits.group_by("user_id", "next_success").agg(
        pl.col("burst_start").min().alias("first_ts"), pl.col("n_fail").max().alias("failures"),
        pl.col("ts").max().alias("last_failure"), pl.col("ip").drop_nulls().unique().sort().alias("ips"),
        pl.col("success_ip").first(), pl.col("success_device").first(),
    )
    return emit(
        per, rule, last_ts="next_success", device_id="success_device", ip="success_ip",
        evidence={"failures": "failures", "first_failure": pl.col("first_ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
                  "last_failure": pl.col("last_failure").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
                  "success": pl.col("next_success").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
                  "failure_ips": pl.col("ips"), "min_failures": n_min,
                  "failure_window_minutes": rule["failure_window_minutes"]},
        summary=pl.format("{} failed logins within {} min, then a successful login {} min after the last failure",
                          pl.col("failures"), pl.lit(rule["failure_window_minutes"]),
                          ((pl.col("next_success") - pl.col("last_failure")).dt.total_seconds() / 60).round(1)),
    )
