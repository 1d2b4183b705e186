"""``behavior.outlier``: users the PyOD ensemble (default ECOD + IForest + HBOS) ranks among the population's
outliers, on the user-level features of :mod:`fraud.detectors.features`.

With a model (``ctx.model``, from ``fraud scan --model F``) users are scored against it and its fit-time
threshold; without one the ensemble is fitted on the scanned batch itself (then, by construction, about
``contamination`` of the batch is flagged). Each finding names the three features driving the score.
"""
from __future__ import annotations

import polars as pl

from fraud.context import ScanContext
from fraud.detectors.features import USER_FEATURES, user_features
from fraud.detectors.model import BehaviorModel
from fraud.exprs import round_down, round_up
from fraud.findings import emit
from fraud.registry import NotEvaluated, register


def fit_frame(frame: pl.DataFrame, ctx: ScanContext,
              top_n: int | None = None) -> tuple[BehaviorModel, pl.DataFrame | None]:
    """Fit the ensemble configured in ``[rules."behavior.outlier"]`` on a user-level feature frame; with
    ``top_n`` also return the frame's scores (:meth:`BehaviorModel.fit_score`)."""
    rule = ctx.cfg.rule("behavior.outlier")
    return BehaviorModel.fit_score(frame, list(USER_FEATURES), detectors=list(rule["detectors"]),
                                   contamination=float(rule["contamination"]), seed=int(rule["seed"]),
                                   n_jobs=int(rule["n_jobs"]), top_n=top_n)


def fit_model(ctx: ScanContext) -> BehaviorModel:
    """Fit the behaviour ensemble on the history in ``ctx`` (seeded, deterministic) -> :class:`BehaviorModel`.

    Raises :class:`~fraud.registry.NotEvaluated` when the history has fewer than ``min_users`` users."""
    rule = ctx.cfg.rule("behavior.outlier")
    frame = user_features(ctx)
    if frame.height < fit_users(rule):
        raise NotEvaluated(f"{frame.height} users with account events; fitting the behaviour ensemble needs at "
                           f"least {fit_users(rule)}")
    if all(n <= 1 for n in frame.select(pl.col(list(USER_FEATURES)).n_unique()).row(0)):
        # every score ties: the threshold is that score, and any later user who differs at all is an outlier
        raise NotEvaluated(f"the {frame.height} users of the history are alike on every feature: no outlier "
                           "threshold can be learnt from them (fit on a longer or busier period)")
    return fit_frame(frame, ctx)[0]


def fit_users(rule) -> int:
    """The fewest users the ensemble is fitted on: ``min_users``, and never fewer than 2 (a population of one user
    has no spread; ``min_users = 1`` crashed the scan)."""
    return max(int(rule["min_users"]), 2)


def score_users(ctx: ScanContext) -> tuple[pl.DataFrame, BehaviorModel, str]:
    """Scores of every user of the scan (see :meth:`BehaviorModel.score`), the model used and its origin."""
    rule = ctx.cfg.rule("behavior.outlier")
    frame = user_features(ctx)
    model = ctx.model
    if model is not None and not isinstance(model, BehaviorModel):
        raise NotEvaluated(f"the given model is a {type(model).__name__}, not a behaviour model")
    top_n = int(rule["top_features"])
    if model is None:
        if frame.height < fit_users(rule):
            raise NotEvaluated(f"{frame.height} users with account events; fitting on the batch needs at least "
                               f"{fit_users(rule)} (or give a fitted model with --model)")
        model, scored = fit_frame(frame, ctx, top_n)
        return scored, model, "fitted on this batch"
    if frame.height == 0:  # nothing to score is no clean batch
        raise NotEvaluated("no user with account events to score against the given model")
    return model.score(frame, top_n=top_n, n_jobs=int(rule["n_jobs"])), model, "given model"


def gather_features(ctx: ScanContext) -> dict[str, pl.DataFrame]:
    """What one user slice of a partitioned scan contributes to the population fit: its user-level features."""
    return {"behavior.user_features": user_features(ctx)}


@register("behavior.outlier", rules="behavior.outlier", family="behavior", needs=("logins",), key="population",
          gather=gather_features, identity=("user_id",))
def outlier(ctx: ScanContext) -> pl.LazyFrame:
    """Flags users whose combined ensemble score exceeds the model's fit-time threshold; evidence gives the
    score, the threshold, each detector's standardised score and the top features (value vs fit median)."""
    rule = ctx.cfg.rule("behavior.outlier")
    scored, model, origin = score_users(ctx)
    flagged = scored.filter(pl.col("flagged")) if "flagged" in scored.columns else scored.clear()
    ctx.notes["behavior.outlier"] = {"model": origin, "users_scored": scored.height,
                                     "users_flagged": flagged.height, "threshold": round(model.threshold, 4),
                                     "detectors": model.detector_names, "fit_users": model.n_fit,
                                     "features": len(model.features)}
    if flagged.height == 0:
        return emit(pl.LazyFrame(schema={"user_id": pl.String, "first_ts": pl.Datetime("us", "UTC"),
                                         "last_ts": pl.Datetime("us", "UTC")}), rule, summary=pl.lit(""),
                    evidence={})
    top = pl.element().struct
    # a missing value or median (a ``_missing`` indicator's) is said, not dropped: pl.format gives null on null
    text = pl.format("{} {} (median {})", top.field("feature"),
                     top.field("value").round(2).cast(pl.String).fill_null("missing"),
                     top.field("fit_median").round(2).cast(pl.String).fill_null("n/a"))
    lf = flagged.lazy().with_columns(pl.col("top_features").list.eval(text).list.join("; ").alias("_text"))
    return emit(
        lf, rule,
        evidence={"score": pl.col("score").round(4), "threshold": round(model.threshold, 4),
                  "contamination": model.contamination, "model": pl.lit(origin),
                  "detectors": pl.struct([pl.col(f"score_{n}").round(4).alias(n) for n in model.detector_names]),
                  "top_features": "top_features"},
        summary=pl.format("Behaviour outlier among {} users (score {} > {}); top features: {}",
                          pl.lit(model.n_fit), round_up(pl.col("score")), round_down(pl.lit(model.threshold)),
                          pl.col("_text")),
    )
