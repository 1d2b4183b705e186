"""Composite mode (beyond the contract): the modelled system's score as a weighted sum of six dimension
sub-scores (0-100) -- payment, social, consumption, location, device security, complaints.

* ``total = min_score + (max_score - min_score) * sum(weight_d * sub_d / 100)``, rounded to an integer.
* Geo findings move the ``location`` sub-score and fingerprint findings the ``device`` sub-score: a finding
  worth ``p`` credit-score points moves its sub-score by ``p / (span * weight / 100)`` (so an unclamped
  sub-score moves the total by exactly ``p``); sub-scores clamp to 0..100, so a dimension cannot lose more
  than it has. Behaviour findings move the total directly.
* ``score_before`` is the total from the given sub-scores; ``penalty`` and ``bonus`` are the points that
  actually moved it (after the sub-score clamps), so ``score_after = clamp(score_before + penalty + bonus)``
  holds as in plain mode, and so does the cap on what dismissals give back. Users without all six sub-scores
  are scored in plain mode.
"""
from __future__ import annotations

import polars as pl

from fraud.config import Config
from fraud.scoring import counted_flags, tier_expr

DIMENSIONS = ("payment", "social", "consumption", "location", "device", "complaints")
FAMILY_DIMENSION = {"geo": "location", "fingerprint": "device"}


def composite_scores(scores: pl.DataFrame, findings: pl.DataFrame, scores_in: pl.DataFrame, cfg: Config,
                     zones: pl.DataFrame | None = None) -> pl.DataFrame:
    """Recompute ``scores`` (from :func:`fraud.scoring.score_users`) for users whose scores row carries all
    six sub-scores; adds ``<dim>_before``/``<dim>_after`` for location and device, and ``composite`` (bool).

    As in plain mode (contract section 4), what dismissals give back is capped at ``dismiss_cap_share`` of
    ``score_before``: the penalty is the one of the findings counted before any decision, plus what the decisions
    give back up to the cap. ``zones`` (``user_id, timezone``) places whole-day point windows as
    :func:`fraud.scoring.score_users` did. The sub-scores after are those the decisions leave (the cap keeps its
    points in the total)."""
    w = cfg.composite_weights
    span = cfg.max_score - cfg.min_score
    before = sum(pl.lit(w[d]) * pl.col(d) for d in DIMENSIONS) * span / 100 + cfg.min_score
    # several complete rows of one user: the one with the lowest total (as plain mode takes the lowest score),
    # ties by the sub-scores, so the input's row order never decides
    dims = (scores_in.select("user_id", *DIMENSIONS)
            .filter(pl.all_horizontal(pl.col(d).is_not_null() for d in DIMENSIONS))
            .sort("user_id", before, *DIMENSIONS).unique("user_id", keep="first", maintain_order=True))
    dims = dims.with_columns(before.round(0).cast(pl.Int64).alias("score_before"))
    undecided = findings.with_columns(counted_flags(findings, cfg, zones=zones).alias("counted"))
    raw = _moves(dims, undecided, cfg).select("user_id", pl.col("penalty_c").alias("_penalty_raw"))
    j = _moves(dims, findings, cfg).join(raw, on="user_id")
    cap = (pl.col("score_before") * cfg.dismiss_cap_share).floor().cast(pl.Int64)
    giveback = pl.min_horizontal(pl.col("penalty_c") - pl.col("_penalty_raw"), cap).clip(lower_bound=0)
    j = j.with_columns((pl.col("_penalty_raw") + giveback).alias("penalty_c"))
    out = scores.join(j.select("user_id", "score_before", "penalty_c", "bonus_c", "location_before",
                               "location_after", "device_before", "device_after"),
                      on="user_id", how="left", suffix="_c")
    is_c = pl.col("penalty_c").is_not_null()
    out = out.with_columns(
        pl.when(is_c).then(pl.col("score_before_c")).otherwise(pl.col("score_before")).alias("score_before"),
        pl.when(is_c).then(pl.col("penalty_c")).otherwise(pl.col("penalty")).alias("penalty"),
        pl.when(is_c).then(pl.col("bonus_c")).otherwise(pl.col("bonus")).alias("bonus"),
        is_c.alias("composite"),
    ).with_columns(
        (pl.col("score_before") + pl.col("penalty") + pl.col("bonus")).clip(cfg.min_score, cfg.max_score)
        .alias("score_after"),
        pl.when(pl.col("penalty") < 0).then(pl.col("top_rule")).alias("top_rule"),  # no penalty, no top rule
    ).with_columns(
        tier_expr(pl.col("score_before"), cfg).alias("tier_before"),
        tier_expr(pl.col("score_after"), cfg).alias("tier_after"),
    )
    return out.drop("score_before_c", "penalty_c", "bonus_c")


def _moves(dims: pl.DataFrame, findings: pl.DataFrame, cfg: Config) -> pl.DataFrame:
    """Per user of ``dims``: the points the ``counted`` findings move the total by (``penalty_c``, ``bonus_c``,
    after the sub-score clamps) and the location and device sub-scores before and after."""
    w = cfg.composite_weights
    span = cfg.max_score - cfg.min_score
    pts = pl.col("points")
    counted = findings.filter(pl.col("counted") & pl.col("user_id").is_not_null())
    fam = counted.group_by("user_id", "family").agg(pts.filter(pts < 0).sum().alias("neg"),
                                                    pts.filter(pts > 0).sum().alias("pos"))

    def family_sums(family: str, prefix: str) -> pl.DataFrame:
        return fam.filter(pl.col("family") == family).select(
            "user_id", pl.col("neg").alias(f"{prefix}_neg"), pl.col("pos").alias(f"{prefix}_pos"))

    j = dims
    for family, prefix in (*FAMILY_DIMENSION.items(), ("behavior", "behavior")):
        j = j.join(family_sums(family, prefix), on="user_id", how="left")
    j = j.with_columns(pl.col("^.*_(neg|pos)$").fill_null(0))
    cols = []
    neg_eff, pos_eff = [pl.col("behavior_neg")], [pl.col("behavior_pos")]
    for d in FAMILY_DIMENSION.values():
        per_point = span * w[d] / 100  # total points per sub-score point
        neg, pos = pl.col(f"{d}_neg"), pl.col(f"{d}_pos")
        after = (pl.col(d) + (neg + pos) / per_point).clip(0, 100)
        moved = (after - pl.col(d)) * per_point  # what actually reached the total
        # Clamping costs the side that pushed past the bound.
        neg_d = pl.when(after <= 0).then(moved - pos).otherwise(neg)
        pos_d = pl.when(after >= 100).then(moved - neg).otherwise(pos)
        cols += [pl.col(d).alias(f"{d}_before"), after.round(2).alias(f"{d}_after")]
        neg_eff.append(neg_d)
        pos_eff.append(pos_d)
    return j.with_columns(*cols, pl.sum_horizontal(neg_eff).round(0).cast(pl.Int64).alias("penalty_c"),
                          pl.sum_horizontal(pos_eff).round(0).cast(pl.Int64).alias("bonus_c"))
