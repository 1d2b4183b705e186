"""``behavior.sigma``: the 3-sigma rule against each user's own baseline (contract section 5).

Each user-day (features in :mod:`fraud.detectors.features`) is compared, feature by feature, with the user's
baseline: the user's active days in the ``baseline_days`` (30) calendar days before it (the day itself never
counts), excluding days that are themselves flagged. With fewer than ``min_baseline_days`` (7) such days the
user-day is "not evaluated" (counted in ``summary.json``, never clean). A feature fires when
``|x - mean| / max(sd, floor) > z_threshold`` with the population sd of the baseline days that have a value
for it (``robust = true``: median and 1.4826 x MAD instead); the floor is ``min_sd_by_feature`` (else
``min_sd``) and, for the count features of ``sd_sqrt_floor_by_feature``, at least c x sqrt(baseline centre).
A feature whose value is missing on the day, which has fewer than ``min_baseline_days`` known baseline values,
or whose day has fewer events than ``min_day_events_by_feature`` asks, is skipped (counted). One finding per
user-day lists every feature that fired, strongest first.

"Excluding days already flagged" is solved exactly, with whole-column passes instead of a day-by-day loop:
the flags are the fixed point of "flag = test against the baseline that excludes the current flags". A day's
flag depends only on earlier days, so iterating from "nothing excluded" fixes at least one more day per user
each pass and stops when the flags no longer change, which equals the sequential definition. The pass count
is reported; if ``max_exclusion_passes`` is reached first the result is the last pass (``converged: false``).
"""
from __future__ import annotations

import polars as pl

from fraud.config import Rule
from fraud.context import ScanContext
from fraud.detectors.features import DAY_FEATURES, user_days
from fraud.detectors.repeated import repeated_findings
from fraud.findings import emit
from fraud.registry import NotEvaluated, register

MAD_TO_SD = 1.4826  # scales a normal distribution's MAD to its sd
# The test is strict (|z| > 3, contract section 5), on floats: amounts such as 3052.72 and a baseline mean of
# 52.72 have no exact binary value and the window's rolling sums round, so a day exactly 3 sds out computed as
# z = 3.0000000000004 and fired. A |z| must pass the threshold by more than this rounding to fire.
Z_ROUNDING = 1e-9
KEY_STRIDE = 10_000_000  # > any day number, so per-user day windows never reach the next user


PER_FEATURE_TABLES = ("min_sd_by_feature", "sd_sqrt_floor_by_feature", "min_day_events_by_feature")


def _feature_list(rule: Rule) -> list[str]:
    feats = list(rule["features"])
    unknown = [f for f in feats if f not in DAY_FEATURES]
    if unknown:
        raise NotEvaluated(f"unknown behaviour feature(s) {', '.join(unknown)} in behavior.sigma features")
    for key in PER_FEATURE_TABLES:
        unknown = [f for f in rule[key] if f not in DAY_FEATURES]
        if unknown:
            raise NotEvaluated(f"unknown behaviour feature(s) {', '.join(unknown)} in behavior.sigma {key}")
    return feats


def sd_floor(rule: Rule, feature: str, center: pl.Expr) -> pl.Expr:
    """The smallest sd ``feature`` is tested with: ``min_sd_by_feature`` (else ``min_sd``), and for the count
    features of ``sd_sqrt_floor_by_feature`` also c x sqrt(baseline centre). A daily count is at least as noisy as
    a Poisson count, whose sd is sqrt(mean): with the fixed floor of 1 alone, a user averaging 9 events a day
    would be 3 sd out at 13."""
    fixed = pl.lit(float(rule["min_sd_by_feature"].get(feature, rule["min_sd"])))
    c = float(rule["sd_sqrt_floor_by_feature"].get(feature, 0.0))
    return pl.max_horizontal(fixed, c * center.clip(lower_bound=0.0).sqrt()) if c > 0 else fixed


def _baseline_mean_sd(days: pl.DataFrame, feats: list[str], window_days: int) -> pl.DataFrame:
    """Per user-day: ``_n`` baseline days, and per feature ``_c_f`` known values, ``_b_f`` mean, ``_sd_f``
    population sd, over the user's non-excluded (``_excl``) active days in the ``window_days`` before the day.

    The windows run over ``_key`` (user rank x ``KEY_STRIDE`` + day number), so one rolling sum over the whole
    column never crosses users and needs no per-user grouping."""
    def roll(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.Float64).rolling_sum_by("_key", f"{window_days}i", closed="left")

    keep = ~pl.col("_excl")
    exprs = [roll(keep).alias("_n")]
    for f in feats:
        m = keep & pl.col(f).is_not_null()
        x = pl.when(m).then(pl.col(f)).otherwise(0.0)
        exprs += [roll(m).alias(f"_c_{f}"), roll(x).alias(f"_s1_{f}"), roll(x * x).alias(f"_s2_{f}")]
    out = days.with_columns(exprs)
    stats = []
    for f in feats:
        c = pl.col(f"_c_{f}")
        mean = pl.when(c > 0).then(pl.col(f"_s1_{f}") / c)
        stats += [mean.alias(f"_b_{f}"),
                  (pl.col(f"_s2_{f}") / c - mean * mean).clip(lower_bound=0.0).sqrt().alias(f"_sd_{f}")]
    return out.with_columns(stats).select("user_id", "day", "_n", *[f"_{k}_{f}" for f in feats
                                                                   for k in ("c", "b", "sd")])


def _baseline_median_mad(days: pl.DataFrame, feats: list[str], window_days: int) -> pl.DataFrame:
    """As :func:`_baseline_mean_sd` with the median and 1.4826 x MAD (one join of each baseline day to the
    ``window_days`` days it serves; memory grows with that factor)."""
    base = days.filter(~pl.col("_excl")).select("user_id", pl.col("day").alias("_bday"), *feats)
    served = base.with_columns(pl.int_ranges(1, window_days + 1).alias("_off")).explode("_off").with_columns(
        (pl.col("_bday") + pl.duration(days=pl.col("_off"))).alias("day"))
    joined = days.select("user_id", "day").join(served, on=["user_id", "day"], how="inner")
    agg = joined.group_by("user_id", "day").agg(
        pl.len().cast(pl.Float64).alias("_n"),
        *[e for f in feats for e in (
            pl.col(f).count().cast(pl.Float64).alias(f"_c_{f}"), pl.col(f).median().alias(f"_b_{f}"),
            ((pl.col(f) - pl.col(f).median()).abs().median() * MAD_TO_SD).alias(f"_sd_{f}"))])
    out = days.select("user_id", "day").join(agg, on=["user_id", "day"], how="left", maintain_order="left")
    return out.with_columns(pl.col("_n").fill_null(0.0), *[pl.col(f"_c_{f}").fill_null(0.0) for f in feats])


def _feature_test(f: str, rule: Rule) -> dict[str, pl.Expr]:
    """Expressions of one feature's test on a user-day with its baseline stats: the sd ``used``, ``z``, whether
    it was tested (``t``), skipped for too ``few`` events, and whether it fires (``fire``)."""
    thr, min_days = float(rule["z_threshold"]), float(rule["min_baseline_days"])
    used = pl.max_horizontal(pl.col(f"_sd_{f}"), sd_floor(rule, f, pl.col(f"_b_{f}")))
    z = (pl.col(f) - pl.col(f"_b_{f}")) / used
    tested = (pl.col("_n") >= min_days) & pl.col(f).is_not_null() & (pl.col(f"_c_{f}") >= min_days)
    min_events = rule["min_day_events_by_feature"].get(f)
    few = pl.col("events") < float(min_events) if min_events else pl.lit(False)
    return {"used": used, "z": z, "t": tested & ~few, "few": tested & few,
            "fire": tested & ~few & (z.abs() > thr + Z_ROUNDING)}


def _flags(days: pl.DataFrame, stats: pl.DataFrame, feats: list[str], rule: Rule) -> pl.Series:
    """``_flag`` of each user-day: any feature fires (the fixed-point passes need nothing else)."""
    return days.hstack(stats).select(
        pl.any_horizontal([_feature_test(f, rule)["fire"] for f in feats]).alias("_flag")).to_series()


def _test(days: pl.DataFrame, stats: pl.DataFrame, feats: list[str], rule: Rule) -> pl.DataFrame:
    """Join baseline stats (row by row) and compute, per feature, ``_z_f`` and ``_fire_f``; ``_eval`` and
    ``_flag``."""
    d = days.hstack(stats)
    exprs = [(pl.col("_n") >= float(rule["min_baseline_days"])).alias("_eval")]
    for f in feats:
        exprs += [e.alias(f"_{k}_{f}") for k, e in _feature_test(f, rule).items()]
    d = d.with_columns(exprs)
    return d.with_columns(pl.any_horizontal([pl.col(f"_fire_{f}") for f in feats]).alias("_flag"))


def evaluate(days: pl.DataFrame, rule: Rule, *, flagged_only: bool = False) -> tuple[pl.DataFrame, dict]:
    """Test every user-day (``days`` sorted by user and day). Returns the tested frame (``_eval``, ``_flag``,
    per feature ``_z_f``/``_fire_f``/``_b_f``/``_sd_f``), in the order of ``days`` (with ``flagged_only``, the
    flagged days' rows only: what the findings read), and the counts for ``summary.json``. Passes after the first
    only recompute the users whose flags changed in the last pass; the passes compute flags only, and a day is
    tested in full once, on its baseline from the last pass."""
    feats = _feature_list(rule)
    robust = bool(rule["robust"])
    n_win = int(rule["baseline_days"])
    # one chunk per column, as the baseline stats have: Polars 2.1's streaming engine panics ("i < self.len()")
    # on a frame whose columns are cut into different chunks (a streamed collect gives 8, a gather 1)
    base = days.rechunk().with_row_index("_row").with_columns(
        (pl.col("user_id").rank("dense").cast(pl.Int64) * KEY_STRIDE + pl.col("day").cast(pl.Int64)).alias("_key"))
    flags = pl.Series("_excl", [False] * days.height, dtype=pl.Boolean)
    excl = flags.clone()  # each day's exclusions in the last pass that tested it
    # where each day's final baseline lies in the concatenation of the passes' stats: the last pass that tested it
    where = pl.Series("_at", range(days.height), dtype=pl.Int64)
    active, frames, passes, converged, offset = base, [], 0, False, 0
    while True:
        passes += 1
        d = active.with_columns(flags.gather(active["_row"]).alias("_excl"))
        stats = (_baseline_median_mad(d, feats, n_win) if robust else _baseline_mean_sd(d, feats, n_win)).drop(
            "user_id", "day")
        flag = _flags(d, stats, feats, rule)
        changed = d.filter(flag != d["_excl"]).select("user_id").unique()
        excl.scatter(d["_row"], d["_excl"])
        flags.scatter(d["_row"], flag)
        where.scatter(d["_row"], pl.int_range(offset, offset + d.height, dtype=pl.Int64, eager=True))
        frames.append(stats)
        offset += d.height
        if changed.height == 0 or passes >= int(rule["max_exclusion_passes"]):
            converged = changed.height == 0
            break
        active = base.join(changed, on="user_id", how="semi", maintain_order="left")
    # one gather of the passes' stats (narrow: the full tests are computed once, below)
    stats = pl.concat(frames, how="vertical_relaxed", rechunk=False)[where] if passes > 1 else frames[0]
    final = base.with_columns(excl).hstack(stats)
    evaluated = pl.col("_n") >= float(rule["min_baseline_days"])
    ev = final.select(evaluated).to_series()
    # the skip counts as sums, without the full test columns of every user-day
    tests = {f: _feature_test(f, rule) for f in feats}
    few, untested = final.lazy().filter(evaluated).select(
        pl.sum_horizontal([tests[f]["few"].cast(pl.Int64) for f in feats]).sum().fill_null(0).alias("few"),
        pl.sum_horizontal([(~tests[f]["t"]).cast(pl.Int64) for f in feats]).sum().fill_null(0).alias("untested"),
    ).collect().row(0)
    # the last pass's flags are the tests' flags (same baseline, same exclusions): the full tests run on the
    # flagged days only when that is all the caller reads
    rows = final.filter(flags) if flagged_only else final
    tested = _test(rows.drop(stats.columns), rows.select(stats.columns), feats, rule)
    skipped = untested - few  # not tested for a missing value (the rest of the untested were too few events)
    notes = {"user_days": days.height, "user_days_evaluated": int(ev.sum()),
             "user_days_not_evaluated": int((~ev).sum()), "user_days_flagged": int(flags.sum()),
             "feature_tests_skipped_missing": int(skipped),
             "feature_tests_skipped_few_events": int(few), "baseline": "median/MAD" if robust else "mean/sd",
             "exclusion_passes": passes, "converged": converged}
    return tested, notes


def fired_list(feats: list[str], thr_label: str) -> pl.Expr:
    """List of {feature, value, baseline_mean|median, baseline_sd, sd_used (floored), z} for the row's fired
    features, strongest |z| first."""
    items = [pl.when(pl.col(f"_fire_{f}")).then(pl.struct(
        pl.lit(f).alias("feature"), pl.col(f).round(4).alias("value"),
        pl.col(f"_b_{f}").round(4).alias(thr_label), pl.col(f"_sd_{f}").round(4).alias("baseline_sd"),
        pl.col(f"_used_{f}").round(4).alias("sd_used"), _away(pl.col(f"_z_{f}")).alias("z"))) for f in feats]
    return pl.concat_list(items).list.drop_nulls().list.eval(
        pl.element().sort_by(pl.element().struct.field("z").abs(), descending=True, maintain_order=True))


def _num(e: pl.Expr) -> pl.Expr:
    """Compact number text: integers without decimals, others with up to 2."""
    r = e.round(2)
    return pl.when(r == r.round(0)).then(r.cast(pl.Int64).cast(pl.String)).otherwise(r.cast(pl.String))


def _away(z: pl.Expr) -> pl.Expr:
    """z to 2 decimals, rounded away from zero: a z of 3.0005 that fired shows as 3.01, never as 3.0 (which
    reads as not beyond a threshold of 3)."""
    # rounded again: the engine divides by multiplying with 0.01, which gives 12.030000000000001 for 1203 / 100
    return ((z.abs() * 100 - 1e-9).ceil().clip(lower_bound=0) / 100 * z.sign()).round(2)


@register("behavior.sigma", rules=("behavior.sigma", "behavior.repeated"), family="behavior", needs=("logins",))
def sigma(ctx: ScanContext) -> pl.LazyFrame:
    """Flags user-days with a feature more than ``z_threshold`` baseline sds from the user's own recent
    baseline (``behavior.sigma``), and runs of ``consecutive_days`` such days (``behavior.repeated``)."""
    rule = ctx.cfg.rule("behavior.sigma")
    days = user_days(ctx)
    if days.height == 0:
        ctx.notes["behavior.sigma"] = {"user_days": 0, "user_days_not_evaluated": 0}
        raise NotEvaluated("no user-day with an account event")
    tested, notes = evaluate(days, rule, flagged_only=True)
    ctx.notes["behavior.sigma"] = notes
    if notes["user_days_evaluated"] == 0:  # counted above; never called clean
        # no count in the text: a slice's would differ from the batch's (the counts are in the notes beside it)
        raise NotEvaluated(f"no user-day has {int(rule['min_baseline_days'])} baseline days", stage=2)
    feats = _feature_list(rule)
    center = "baseline_median" if rule["robust"] else "baseline_mean"
    flagged = tested.lazy().filter(pl.col("_flag")).with_columns(fired_list(feats, center).alias("fired"))
    text = pl.format("{} {} vs {} ± {} (z={})", pl.element().struct.field("feature"),
                     _num(pl.element().struct.field("value")), _num(pl.element().struct.field(center)),
                     _num(pl.element().struct.field("sd_used")), pl.element().struct.field("z"))
    flagged = flagged.with_columns(pl.col("fired").list.eval(text).list.join("; ").alias("_text"),
                                   pl.col("fired").list.eval(pl.element().struct.field("feature")).alias("_names"))
    findings = emit(
        flagged, rule,
        evidence={"day": pl.col("day").dt.to_string("%Y-%m-%d"), "baseline_days": pl.col("_n").cast(pl.Int64),
                  "baseline": pl.lit(notes["baseline"]), "z_threshold": float(rule["z_threshold"]),
                  "features": "fired"},
        summary=pl.format("{} behaviour feature(s) outside this user's {}-day baseline on {}: {}",
                          pl.col("fired").list.len(), pl.lit(int(rule["baseline_days"])),
                          pl.col("day").dt.to_string("%Y-%m-%d"), pl.col("_text")),
    )
    runs = repeated_findings(flagged.select("user_id", "day", "first_ts", "last_ts", "_names"),
                             ctx.cfg.rule("behavior.repeated"))
    return pl.concat([findings, runs], how="vertical_relaxed")
