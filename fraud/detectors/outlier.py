"""``behavior.outlier``: users the PyOD ensemble (default ECOD + IForest + HBOS) ranks among the population's
outliers, on the user-level features of :mod:`fraud.detectors.features`.

With a model (``ctx.model``, from ``fraud scan --model F``) users are scored against it and its fit-time
threshold; without one the ensemble is fitted on the scanned batch itself (then, by construction, about
``contamination`` of the batch is flagged). Each finding names the three features driving the score.
"""
from __future__ import annotations

import math

import polars as pl

from fraud.context import ScanContext
from fraud.detectors.features import USER_FEATURES, feature_settings, user_features
from fraud.detectors.model import BehaviorModel, batch_window
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
                                   n_jobs=int(rule["n_jobs"]), top_n=top_n, settings=feature_settings(ctx))


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


def score_users(ctx: ScanContext) -> tuple[pl.DataFrame, BehaviorModel, str, dict]:
    """Scores of every user of the scan (see :meth:`BehaviorModel.score`), the model used, its origin and what the
    notes say of a given model (:func:`comparable`)."""
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
        return scored, model, "fitted on this batch", {}
    if frame.height == 0:  # nothing to score is no clean batch
        raise NotEvaluated("no user with account events to score against the given model")
    notes = comparable(model, frame, ctx)
    return model.score(frame, top_n=top_n, n_jobs=int(rule["n_jobs"])), model, "given model", notes


def fit_window(model: BehaviorModel) -> str | None:
    """``2024-03-04..2024-05-11 (users over 69 days)``: the model's fit history (its users' median span), as notes
    and evidence say it."""
    if model.fit_span_days is None:
        return None
    return f"{model.fit_from:%Y-%m-%d}..{model.fit_until:%Y-%m-%d} (users over {model.fit_span_days:g} days)"


def span_range(fit_span_days: float, ratio: float) -> tuple[int, int]:
    """The users' median spans (whole days) a model of ``fit_span_days`` scores batches of, ``ratio`` either way."""
    return math.ceil(fit_span_days / ratio), math.floor(fit_span_days * ratio)


def comparable(model: BehaviorModel, frame: pl.DataFrame, ctx: ScanContext) -> dict:
    """What a scan against a fitted ``model`` must say about its batch (``frame``, user-level features): raises
    :class:`NotEvaluated` when the batch's users' median span (first to last event, calendar days:
    :func:`fraud.detectors.model.batch_window`) is more than ``max_span_ratio`` times shorter or longer than the
    history's: users' day counts, daily maxima and new devices grow with the window, and a day's batch against a
    69-day model made 91% of its users outliers.
    Returns the notes: the model's fit window and users, the model's features without any value in the batch
    (every user given the fit median: a batch without amounts cannot show a spender), the batch's features the
    model was fitted without, the feature settings that differ from the model's, and this scan's ensemble settings
    the model overrides (its threshold was learnt at fit)."""
    rule = ctx.cfg.rule("behavior.outlier")
    days, ratio, fit = batch_window(frame)[2], float(rule["max_span_ratio"]), model.fit_span_days
    if fit is not None and days is not None and not fit / ratio <= days <= fit * ratio:
        low, high = span_range(fit, ratio)
        raise NotEvaluated(
            f"the batch's users span {days:g} day(s) (median), the model was fitted on {fit_window(model)}: users' "
            f"day counts, daily maxima and new devices are not comparable over windows more than {ratio:g} times "
            f"apart (scan batches whose users span {low}-{high} days, or fit a model on {days:g}-day windows: "
            "max_span_ratio)", stage=2)
    valued = frame.select(pl.col(model.features).is_not_null().any()).row(0, named=True)
    batch = frame.select(pl.col(model.unobserved).is_not_null().any()).row(0, named=True) if model.unobserved else {}
    here = feature_settings(ctx)
    differ = {k: {"model": v, "scan": here.get(k)} for k, v in model.settings.items() if here.get(k) != v}
    overridden = {k: {"model": m, "scan": s} for k, m, s in (
        ("contamination", model.contamination, float(rule["contamination"])),
        ("detectors", model.detector_names, list(rule["detectors"]))) if m != s}
    notes: dict = {"model_fitted_on": fit_window(model), "model_fit_users": model.n_fit}
    for key, value in (("model_features_without_values_in_batch", [f for f, v in valued.items() if not v]),
                       ("batch_features_not_in_model", [f for f, v in batch.items() if v]),
                       ("feature_settings_differ_from_model", differ), ("settings_taken_from_model", overridden)):
        if value:
            notes[key] = value
    return notes


def gather_features(ctx: ScanContext) -> dict[str, pl.DataFrame]:
    """What one user slice of a partitioned scan contributes to the population fit: its user-level features."""
    return {"behavior.user_features": user_features(ctx)}


@register("behavior.outlier", rules="behavior.outlier", family="behavior", needs=("logins",), key="population",
          gather=gather_features, identity=("user_id",))
def outlier(ctx: ScanContext) -> pl.LazyFrame:
    """Flags users whose combined ensemble score exceeds the model's fit-time threshold; evidence gives the
    score, the threshold, each detector's standardised score and the top features (value vs fit median)."""
    rule = ctx.cfg.rule("behavior.outlier")
    scored, model, origin, given = score_users(ctx)
    flagged = scored.filter(pl.col("flagged")) if "flagged" in scored.columns else scored.clear()
    ctx.notes["behavior.outlier"] = {"model": origin, "users_scored": scored.height,
                                     "users_flagged": flagged.height, "threshold": round(model.threshold, 4),
                                     "detectors": model.detector_names, "fit_users": model.n_fit,
                                     "features": len(model.features), **given}
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
                  **({"model_fitted_on": pl.lit(fit_window(model), pl.String), "model_fit_users": model.n_fit}
                     if given else {}),
                  "detectors": pl.struct([pl.col(f"score_{n}").round(4).alias(n) for n in model.detector_names]),
                  "top_features": "top_features"},
        summary=pl.format("Behaviour outlier {} {} users (score {} > {}); top features: {}",
                          pl.lit("against a model of" if given else "among"), pl.lit(model.n_fit),
                          round_up(pl.col("score")), round_down(pl.lit(model.threshold)), pl.col("_text")),
    )
