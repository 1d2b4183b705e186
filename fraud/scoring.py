"""Credit score (contract section 4): findings' points -> penalty and bonus per user -> 300..850 score.

* Points of one rule count at most once per user per window of that rule: a user's findings of a rule fall
  into consecutive ``window_days`` windows anchored at that user's first finding of the rule; in each window
  only the finding with the largest points (by magnitude) counts. Windows of whole days are whole local
  calendar days (the user's time zone, when the scan gives them): ``behavior.sigma``'s 1-day window counts each
  flagged day, however early the next day's first event. A rule with ``count_per_device`` (the
  device-lock bonus, one finding per device) counts once per user and device per window instead, and one with
  ``calendar_month_windows`` (the monthly rules ``geo.remote_logins`` and ``geo.away_from_home``) once per local
  calendar month: the window the rule itself counts in.
* A reviewer's decision overrides a finding: confirmed keeps its points, dismissed counts none. What
  dismissals give back to one user in one scan is capped at ``dismiss_cap_share`` of ``score_before``
  (the rest stays in ``penalty``), and the user is under observation until ``observation_days`` after the
  latest dismissal.
* ``score_after = clamp(score_before + penalty + bonus, min_score, max_score)``.
"""
from __future__ import annotations

import polars as pl

from fraud.config import Config
from fraud.schema import SCORES_SCHEMA, TS


def tier_expr(score: pl.Expr, cfg: Config) -> pl.Expr:
    """The tier name of a score from the configured contiguous bands."""
    out = pl.lit(None, pl.String)
    for name, lo, hi in cfg.tier_bands():
        out = pl.when(score.is_between(lo, hi)).then(pl.lit(name)).otherwise(out)
    return out


def conflicting_scores(scores_in: pl.DataFrame | None) -> int:
    """Users with several ``scores`` rows of differing scores (two exports, a stale copy): their ``score_before`` is
    the lowest, and the count says that a choice was made."""
    if scores_in is None or scores_in.height == 0:
        return 0
    return scores_in.group_by("user_id").agg(pl.col("score").n_unique()).filter(pl.col("score") > 1).height


def local_days(findings: pl.DataFrame, zones: pl.DataFrame | None, default_zone: str) -> pl.Series:
    """The calendar day of each finding's ``first_ts`` in its user's time zone (``zones``: ``user_id, timezone``;
    the configured zone for other users and when no zones are given), as days since 1970-01-01 (Int64). Converted
    once per distinct zone."""
    tz = pl.lit(default_zone)
    if zones is not None and zones.height:
        tz = pl.col("_tz").fill_null(default_zone)
        findings = findings.join(zones.select("user_id", pl.col("timezone").alias("_tz")), on="user_id", how="left",
                                 maintain_order="left")
    rows = findings.select(pl.col("first_ts"), tz.alias("_tz")).with_row_index("_i")
    parts = [g.select("_i", pl.col("first_ts").dt.convert_time_zone(zone).dt.date().cast(pl.Int64).alias("_day"))
             for (zone,), g in rows.partition_by("_tz", as_dict=True).items()]
    out = pl.concat(parts).sort("_i") if parts else pl.DataFrame(schema={"_i": pl.UInt32, "_day": pl.Int64})
    return out["_day"]


def window_bucket(day: pl.Expr, ts: pl.Expr, window_days: pl.Expr, window_us: pl.Expr,
                  group: str | tuple[str, ...]) -> pl.Expr:
    """The point window a finding falls in (0, 1, ...), counted from its ``group``'s first one: whole
    ``window_days`` of local calendar days (``day``: days since 1970) when that is a whole number (null otherwise),
    else ``window_us`` of elapsed time from the earliest ``ts``. Also where ``geo.impossible_travel`` cuts its runs
    of jumps, so a run never spans two windows."""
    return (pl.when(window_days > 0).then((day - day.min().over(group)) // window_days)
            .otherwise((ts - ts.min().over(group)).dt.total_microseconds() // window_us))


def with_point_windows(findings: pl.DataFrame, cfg: Config, zones: pl.DataFrame | None = None) -> pl.DataFrame:
    """``findings`` with ``_i`` (row number) and, for the findings that score (a user's, points not 0), their point
    window within the user and rule: ``_sub`` (the device for rules counted per device, else "") and ``_bucket``
    (:func:`window_bucket`, anchored at the first scoring finding of its user, rule and ``_sub`` whatever the
    decisions); null for the others."""
    window_us = {rid: int(r.window_days * 86_400e6) for rid, r in cfg.rules.items()}
    whole_days = {rid: int(r.window_days) for rid, r in cfg.rules.items() if r.window_days == int(r.window_days)}
    per_device = [rid for rid, r in cfg.rules.items() if r.params.get("count_per_device")]
    # the monthly rules' windows are the user's local calendar months (the month a finding is about)
    monthly = [rid for rid, r in cfg.rules.items() if r.params.get("calendar_month_windows")]
    f = findings.with_row_index("_i").with_columns(
        pl.col("rule").replace_strict(window_us, default=86_400_000_000, return_dtype=pl.Int64).alias("_win"),
        pl.col("rule").replace_strict(whole_days, default=None, return_dtype=pl.Int64).alias("_win_days"),
        local_days(findings, zones, cfg.timezone).alias("_day"),
        # Rules counted per device window by window (e.g. device.lock_enabled) key their windows by device too.
        pl.when(pl.col("rule").is_in(per_device)).then(pl.col("device_id")).otherwise(pl.lit("")).fill_null("")
        .alias("_sub"),
    )
    group = ("user_id", "rule", "_sub")
    day = pl.col("_day").cast(pl.Int32).cast(pl.Date)
    month = day.dt.year().cast(pl.Int64) * 12 + day.dt.month().cast(pl.Int64)
    scored = f.filter(pl.col("user_id").is_not_null() & (pl.col("points") != 0)).select(
        "_i", pl.when(pl.col("rule").is_in(monthly)).then(month)
        .otherwise(window_bucket(pl.col("_day"), pl.col("first_ts"), pl.col("_win_days"), pl.col("_win"), group))
        .alias("_bucket"))
    return f.drop("_win", "_win_days", "_day").join(scored, on="_i", how="left", maintain_order="left")


def counted_flags(findings: pl.DataFrame, cfg: Config, dismissed: pl.Expr | None = None,
                  zones: pl.DataFrame | None = None, confirmed: pl.Expr | None = None) -> pl.Series:
    """Per finding, whether its points count (first-choice finding of its rule window), as a Boolean Series.

    The windows are anchored at the user's first finding of the rule whatever the decisions, so a decision never
    moves them: ``dismissed`` (a Boolean expression) only takes findings out of their windows (the next one of the
    window counts instead), and among findings of equal points a ``confirmed`` one is chosen. ``zones``
    (``user_id, timezone``) places whole-day windows on the users' local calendar days (see :func:`local_days`).
    """
    return _window_winners(with_point_windows(findings, cfg, zones), dismissed, confirmed)


def _window_winners(f: pl.DataFrame, dismissed: pl.Expr | None = None, confirmed: pl.Expr | None = None) -> pl.Series:
    """:func:`counted_flags` of findings that already carry their point windows (:func:`with_point_windows`)."""
    keep = ~dismissed.fill_null(False) if dismissed is not None else pl.lit(True)
    chosen = confirmed.fill_null(False) if confirmed is not None else pl.lit(False)
    f = f.with_columns(keep.alias("_keep"), chosen.alias("_confirmed"))
    cand = f.filter(pl.col("user_id").is_not_null() & (pl.col("points") != 0)).with_columns(
        pl.col("points").abs().alias("_mag"),
    ).filter("_keep").sort(["user_id", "rule", "_sub", "_bucket", "_mag", "_confirmed", "first_ts", "finding_id"],
                           descending=[False, False, False, False, True, True, False, False])
    winners = cand.group_by("user_id", "rule", "_sub", "_bucket", maintain_order=True).agg(pl.col("_i").first())
    return f.select(pl.col("_i").is_in(winners["_i"].implode()).alias("counted")).to_series()


def score_users(findings: pl.DataFrame, users: pl.DataFrame, scores_in: pl.DataFrame, cfg: Config,
                decisions: pl.DataFrame | None = None,
                zones: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(scores, findings_with_status)``.

    ``users`` has one ``user_id`` per user seen; ``scores_in`` the ``scores`` input (``user_id, score``);
    ``decisions`` the latest decision per finding (``finding_id, decision, decided_at``). The returned
    findings gain ``decision`` (``confirm``/``dismiss``/null), ``counted`` (bool) and the decision's
    ``decided_at``, ``reviewer`` and ``note``. ``observation_until`` is set for a user whose dismissals gave points
    back: 45 days (``observation_days``) after the latest dismissal of a penalty that counted without it.
    """
    trail = {"finding_id": pl.String, "decision": pl.String, "decided_at": TS, "reviewer": pl.String,
             "note": pl.String}
    dec = (decisions.select([pl.col(c) if c in decisions.columns else pl.lit(None, t).alias(c)
                             for c, t in trail.items()])
           if decisions is not None and decisions.height else pl.DataFrame(schema=trail))
    # the point windows once, for both countings (without and with the decisions) and what the dismissals gave back
    f = with_point_windows(findings.join(dec, on="finding_id", how="left"), cfg, zones)
    f = f.with_columns(_window_winners(f).alias("_counted_raw"),
                       _window_winners(f, pl.col("decision") == "dismiss", confirmed=pl.col("decision") == "confirm")
                       .alias("counted")).drop("_i")
    pts = pl.col("points")
    window = ["user_id", "rule", "_sub", "_bucket"]
    f = f.with_columns(
        (pts.filter(pl.col("counted") & (pts < 0)).sum().over(window)
         > pts.filter(pl.col("_counted_raw") & (pts < 0)).sum().over(window)).alias("_gave"))
    per_user = f.filter(pl.col("user_id").is_not_null()).group_by("user_id").agg(
        pts.filter(pl.col("_counted_raw") & (pts < 0)).sum().alias("penalty_raw"),
        pts.filter(pl.col("counted") & (pts < 0)).sum().alias("penalty_dec"),
        pts.filter(pl.col("counted") & (pts > 0)).sum().alias("bonus"),
        pl.len().alias("n_findings"),
        # the latest dismissal that gave points back: of a penalty counted without the decisions, in a window that
        # counts less with them (not of a bonus, nor one whose window's next finding counts the same instead)
        pl.col("decided_at").filter((pl.col("decision") == "dismiss") & pl.col("_counted_raw") & (pts < 0)
                                    & pl.col("_gave")).max().alias("last_dismissal"),
    )
    def top(counted: str, name: str) -> pl.DataFrame:
        return (f.filter(pl.col(counted) & (pts < 0)).group_by("user_id", "rule").agg(pts.sum().alias("p"))
                .sort(["user_id", "p", "rule"]).group_by("user_id", maintain_order=True)
                .agg(pl.col("rule").first().alias(name)))
    # A penalty left only by the dismissal cap is named after the dismissed findings it comes from.
    by_rule = top("counted", "top_rule").join(top("_counted_raw", "_top_raw"), on="user_id", how="full",
                                              coalesce=True).select(
        "user_id", pl.coalesce("top_rule", "_top_raw").alias("top_rule"))
    # several rows of one user: the lowest score (the cautious reading, and independent of row order)
    before = scores_in.group_by("user_id").agg(pl.col("score").cast(pl.Int64).min())
    lo, hi = cfg.min_score, cfg.max_score
    s = (users.select("user_id").join(before, on="user_id", how="left")
         .join(per_user, on="user_id", how="left").join(by_rule, on="user_id", how="left")
         .with_columns(pl.col("score").fill_null(cfg.default_score).alias("score_before"),
                       pl.col("penalty_raw", "penalty_dec", "bonus", "n_findings").fill_null(0).cast(pl.Int64)))
    cap = (pl.col("score_before") * cfg.dismiss_cap_share).floor().cast(pl.Int64)
    # never below 0: with windows that decisions do not move, a dismissal can only take penalty away
    giveback = pl.min_horizontal(pl.col("penalty_dec") - pl.col("penalty_raw"), cap).clip(lower_bound=0)
    s = s.with_columns((pl.col("penalty_raw") + giveback).alias("penalty"))
    s = s.with_columns(
        (pl.col("score_before") + pl.col("penalty") + pl.col("bonus")).clip(lo, hi).alias("score_after"),
        pl.when(giveback > 0).then(pl.col("last_dismissal") + pl.duration(days=cfg.observation_days)).cast(TS)
        .alias("observation_until"),
    ).with_columns(
        tier_expr(pl.col("score_before"), cfg).alias("tier_before"),
        tier_expr(pl.col("score_after"), cfg).alias("tier_after"),
        pl.when(pl.col("penalty") < 0).then(pl.col("top_rule")).otherwise(None).alias("top_rule"),
    )
    scores = s.select([pl.col(c).cast(t) for c, t in SCORES_SCHEMA.items()]).sort("user_id")
    # the review trail of a decided finding (when, who, why) after its decision and whether it counts
    return scores, f.drop("_counted_raw", "_sub", "_bucket", "_gave").select(
        pl.exclude("decided_at", "reviewer", "note"), "decided_at", "reviewer", "note")
