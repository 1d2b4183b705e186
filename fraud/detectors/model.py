"""The fitted behaviour ensemble: fit once on history, save, load, and score later batches against it.

Preparation of the user-level matrix (all learned at fit time and kept in the model):

* features: only those the history gives a value for (a history without IP addresses, devices or positions
  fits without their features, listed in :attr:`BehaviorModel.unobserved`: a feature fitted as a constant
  "missing" made every user of a later batch that has it an outlier);
* missing values: each feature's missing entries are imputed with that feature's fit-time median, and every
  feature that had a missing value at fit time gets a 0/1 ``<name>_missing`` indicator column, so "unknown" is
  visible to the detectors and never silently turned into zero;
* scale: features are transformed with a signed ``log1p`` (counts and amounts are heavy-tailed), then
  standardised with the fit-time mean and sd (sd 0 -> 1).

Each detector's raw scores are standardised with the mean and sd of its fit-time scores; the combined score is
their mean (higher = more anomalous) and the threshold is its ``1 - contamination`` quantile on the fit data.
Scoring never recomputes the threshold, so the scored batch cannot move its own bar.

:meth:`BehaviorModel.load` unpickles (joblib) the file: only load model files you made or trust.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fraud import warmup
from fraud.errors import ModelError

MODEL_FORMAT = 2  # 2: the fit window, the unobserved features and the feature settings kept


def _libraries():
    """The detectors' module (PyOD, scikit-learn) and joblib, imported when a model is fitted, scored, saved or
    loaded, not with this module: a scan of fewer users than the ensemble needs never pays for them (~2 s). Waits
    for :mod:`fraud.warmup`'s background imports first (two threads importing one package at once can see it
    half-initialised)."""
    warmup.wait()
    import joblib

    from fraud.detectors import ensemble

    return ensemble, joblib


def batch_window(frame: pl.DataFrame) -> tuple[datetime | None, datetime | None, float | None]:
    """A user-level frame's first and last event and its users' median span (calendar days, UTC, from a user's
    first to last event, both counted: a day's batch is 1, a week's 7 for users active all week); Nones without
    ``first_ts``/``last_ts``. The median, not the first to last event of the batch: one account's event from years
    back (a history export's oldest sign-in) would stretch a batch's window, not its users'."""
    if frame.height == 0 or "first_ts" not in frame.columns or "last_ts" not in frame.columns:
        return None, None, None
    span = (pl.col("last_ts").dt.date() - pl.col("first_ts").dt.date()).dt.total_days() + 1
    first, last = frame["first_ts"].min(), frame["last_ts"].max()
    # in datetime.timezone.utc (a ZoneInfo pickles through builtins.getattr, which a model file may not name)
    utc = [t.astimezone(timezone.utc) if t is not None else None for t in (first, last)]
    return utc[0], utc[1], frame.select(span.median()).item()


# What a behaviour model's pickle names, besides the estimators' own classes (:func:`_allowed`): unpickling calls
# what a file names, so a crafted "model" could run any function (os.system) as it loads; these are refused
# before they are called. (Its fit window is kept with datetime.timezone.utc, not a ZoneInfo: that pickles through
# builtins.getattr.)
MODEL_GLOBALS = frozenset({
    ("fraud.detectors.model", "BehaviorModel"), ("fraud.detectors.ensemble", "FrozenECOD"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._generator", "Generator"), ("numpy.random._mt19937", "MT19937"), ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"), ("numpy.random._philox", "Philox"), ("numpy.random._sfc64", "SFC64"),
    ("copyreg", "_reconstructor"),
    ("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"),
    *(("builtins", n) for n in ("object", "set", "frozenset", "slice", "complex", "bytearray", "range")),
})
# The compiled modules whose classes the detectors hold (fitted trees, neighbour indexes and their distance
# metrics): data built by the estimators; their newObj(cls) is cls.__new__(cls), how such a class unpickles
ESTIMATOR_PART_MODULES = frozenset({"sklearn.tree._tree", "sklearn.neighbors._ball_tree", "sklearn.neighbors._kd_tree",
                                    "sklearn.metrics._dist_metrics"})


def _allowed(module: str, name: str) -> bool:
    """Whether a behaviour model's pickle may name ``module.name``: :data:`MODEL_GLOBALS`, a class (or ``newObj``)
    of :data:`ESTIMATOR_PART_MODULES`, or an estimator class (a PyOD detector, a scikit-learn estimator:
    constructing one only keeps its parameters). Decided on the names before anything is imported: importing a
    module named by the file runs that module's code."""
    if (module, name) in MODEL_GLOBALS:
        return True
    if not module.startswith(("pyod.", "sklearn.")) or "." in name:
        return False
    import importlib

    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    if module in ESTIMATOR_PART_MODULES:
        return isinstance(obj, type) or name == "newObj"
    from pyod.models.base import BaseDetector
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, (BaseDetector, BaseEstimator))


def _guarded_load(path: Path) -> Any:
    """``joblib.load(path)``, refusing (:class:`ModelError`) any global the pickle names that no behaviour model holds
    (:func:`_allowed`) before it is called: a pickle is a program, and a file given as a model is not trusted to be
    one's own. (joblib's unpickler is the standard library's; its ``find_class`` is the hook every global passes.)"""
    _, joblib = _libraries()
    from joblib import numpy_pickle

    plain = numpy_pickle.NumpyUnpickler.find_class

    def find_class(self, module: str, name: str) -> Any:
        if not _allowed(module, name):
            raise ModelError(f"{path}: refused: the file calls {module}.{name}, which no behaviour model holds (a "
                             "model file is a pickle, a program run as it loads: load only files you made or trust)")
        return plain(self, module, name)

    numpy_pickle.NumpyUnpickler.find_class = find_class
    try:
        return joblib.load(path)
    finally:
        numpy_pickle.NumpyUnpickler.find_class = plain


def _each(fn: Callable, items: list, n_jobs: int) -> list:
    """``[fn(item) for item in items]``, the items in up to ``n_jobs`` threads (-1: one per CPU). The detectors are
    independent and their kernels (numpy, scikit-learn's trees, numba) release the GIL for most of their work, so
    fitting three at once takes about the time of the slowest (200k users: 3.2-3.6 -> 1.9-2.1 s); each result is
    the same as alone."""
    threads = min(len(items), (os.cpu_count() or 1) if n_jobs < 0 else max(n_jobs, 1))
    if threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="fraud-detector") as pool:
        return list(pool.map(fn, items))


@dataclass
class BehaviorModel:
    """A fitted ensemble over named user-level feature columns (see the module docstring)."""

    features: list[str]
    detector_names: list[str]
    contamination: float
    seed: int
    medians: dict[str, float]
    indicators: list[str]
    center: np.ndarray
    scale: np.ndarray
    detectors: list = field(repr=False)
    score_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score_sd: np.ndarray = field(default_factory=lambda: np.ones(0))
    threshold: float = float("inf")
    n_fit: int = 0
    # the fit history's first and last event (UTC; None when the frame had no first_ts/last_ts): scans compare
    # their batch's window with it (users' day counts, daily maxima and new devices grow with the window)
    fit_from: datetime | None = None
    fit_until: datetime | None = None
    fit_span_days: float | None = None  # the history users' median span (:func:`batch_window`)
    unobserved: list[str] = field(default_factory=list)  # requested features without any value in the history
    settings: dict[str, Any] = field(default_factory=dict)  # the settings the features were computed with
    format: int = MODEL_FORMAT

    @property
    def columns(self) -> list[str]:
        """Matrix columns: the features, then one missing-indicator per feature that had missing values."""
        return self.features + [f"{f}_missing" for f in self.indicators]

    @classmethod
    def fit(cls, frame: pl.DataFrame, features: list[str], *, detectors: list[str], contamination: float,
            seed: int, n_jobs: int = 1, settings: dict[str, Any] | None = None) -> "BehaviorModel":
        """Fit the ensemble on ``frame`` (one row per user, rows in a stable order). Deterministic for a seed."""
        return cls.fit_score(frame, features, detectors=detectors, contamination=contamination, seed=seed,
                             n_jobs=n_jobs, top_n=None, settings=settings)[0]

    @classmethod
    def fit_score(cls, frame: pl.DataFrame, features: list[str], *, detectors: list[str], contamination: float,
                  seed: int, n_jobs: int = 1, top_n: int | None = 3, settings: dict[str, Any] | None = None
                  ) -> tuple["BehaviorModel", pl.DataFrame | None]:
        """Fit on ``frame`` and return the model with the fit data's scores (as :meth:`score` gives them, from
        the detectors' fit-time scores, so the batch is not scored twice); ``top_n=None`` skips scoring.
        ``settings``: what the features were computed with, kept in the model for later scans to compare."""
        if frame.height < 2:
            raise ValueError("the behaviour ensemble needs at least 2 rows to fit")
        raw = frame.select([pl.col(f).cast(pl.Float64) for f in features])
        unobserved = [f for f in features if raw[f].null_count() == raw.height]
        features = [f for f in features if f not in unobserved]
        if not features:
            raise ValueError("the behaviour ensemble needs a feature with a value to fit")
        ensemble, _ = _libraries()
        ensemble.quiet_constant_columns()  # before the detectors' threads start
        raw = raw.select(features)
        medians = {f: float(raw[f].median()) for f in features}
        indicators = [f for f in features if raw[f].null_count() > 0]
        span = batch_window(frame)
        model = cls(features=list(features), detector_names=list(detectors), contamination=float(contamination),
                    seed=int(seed), medians=medians, indicators=indicators, center=np.zeros(0),
                    scale=np.ones(0), detectors=[], n_fit=frame.height, fit_from=span[0], fit_until=span[1],
                    fit_span_days=span[2], unobserved=unobserved, settings=dict(settings or {}))
        X = model._transform(raw)
        model.center = X.mean(axis=0)
        sd = X.std(axis=0)
        model.scale = np.where(sd > 0, sd, 1.0)
        X = model._standardise(X)
        model.detectors = _each(
            lambda name: ensemble.make_detector(name, contamination=contamination, seed=seed, n_jobs=n_jobs).fit(X),
            list(detectors), n_jobs)
        S = np.column_stack([np.asarray(det.decision_scores_, dtype=np.float64) for det in model.detectors])
        model.score_mean = S.mean(axis=0)
        sd = S.std(axis=0)
        model.score_sd = np.where(sd > 0, sd, 1.0)
        combined = ((S - model.score_mean) / model.score_sd).mean(axis=1)
        model.threshold = float(np.quantile(combined, 1.0 - contamination))
        if top_n is None:
            return model, None
        return model, model._assemble(frame, X, S, top_n)

    def _transform(self, raw: pl.DataFrame) -> np.ndarray:
        """Impute, add indicators and log-transform (before standardisation) -> float64 matrix, column-major, filled
        one column at a time: whole-matrix temporaries (2M users x 40 columns are 640 MB each) made a 2M-user fit
        peak at 5.3 GB."""
        X = np.empty((raw.height, len(self.columns)), dtype=np.float64, order="F")
        for j, f in enumerate(self.features):
            v = raw.get_column(f).fill_null(self.medians[f]).to_numpy()
            X[:, j] = np.sign(v) * np.log1p(np.abs(v))
        for k, f in enumerate(self.indicators):
            X[:, len(self.features) + k] = raw.get_column(f).is_null().cast(pl.Float64).to_numpy()
        return X

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        """``(X - center) / scale`` in place."""
        X -= self.center
        X /= self.scale
        return X

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """The standardised matrix the detectors see (rows of ``frame``, :attr:`columns` order)."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ModelError(f"the model uses feature(s) this version does not compute: {', '.join(missing)} "
                             "(fit the model again with `fraud fit`)")
        raw = frame.select([pl.col(f).cast(pl.Float64) for f in self.features])
        return self._standardise(self._transform(raw))

    def score(self, frame: pl.DataFrame, top_n: int = 3, n_jobs: int = -1) -> pl.DataFrame:
        """Score every row of ``frame`` against the fitted model.

        Returns ``frame``'s key columns (those not among the features) plus ``score`` (combined standardised
        score), one ``score_<detector>`` column each, ``flagged`` (score > the fit-time threshold) and, for
        flagged rows, ``top_features``: the ``top_n`` columns driving the score (ECOD per-dimension tail scores
        when ECOD is in the ensemble, else the absolute standardised values), strongest first. The detectors score
        side by side in up to ``n_jobs`` threads (-1: one per CPU, 1: in the calling thread); the scores do not
        depend on it.
        """
        X = self.matrix(frame)
        parts = _each(lambda det: np.asarray(det.decision_function(X), dtype=np.float64), self.detectors, n_jobs)
        return self._assemble(frame, X, np.column_stack(parts), top_n)

    def _assemble(self, frame: pl.DataFrame, X: np.ndarray, S: np.ndarray, top_n: int) -> pl.DataFrame:
        """Scored frame from raw detector scores ``S`` (rows x detectors); see :meth:`score`."""
        Z = (S - self.score_mean) / self.score_sd
        combined = Z.mean(axis=1)
        flagged = combined > self.threshold
        keys = frame.select([c for c in frame.columns if c not in self.features])
        out = keys.with_columns(
            pl.Series("score", combined),
            *[pl.Series(f"score_{n}", Z[:, i]) for i, n in enumerate(self.detector_names)],
            pl.Series("flagged", flagged),
        )
        idx = np.flatnonzero(flagged)
        ensemble, _ = _libraries()
        ecod = [d for d in self.detectors if isinstance(d, ensemble.FrozenECOD)]
        if idx.size == 0:  # nobody above the threshold (e.g. tied top scores): nothing to explain
            contrib = np.zeros((0, X.shape[1]))
        elif ecod:
            contrib = ecod[0].tail_scores(X[idx])
        else:
            contrib = np.abs(X[idx])
        return out.with_columns(self._explain(frame, idx, contrib, np.abs(X[idx]), len(flagged), top_n))

    def _explain(self, frame: pl.DataFrame, idx: np.ndarray, contrib: np.ndarray, far: np.ndarray, n_rows: int,
                 top_n: int) -> pl.Series:
        """Per row: list of {feature, value, fit_median, contribution} for the flagged rows ``idx`` (whose
        per-column contributions are ``contrib``), null for the others. ``value`` is the raw feature value
        (null if missing) or, for a ``_missing`` indicator, 1.0. Contributions that tie (ECOD's tail score saturates
        past the fit range: two features at ln(n+1)) are ordered by how far the value lies from the fit population
        (``far``: its standardised distance), not by column order."""
        k = min(top_n, contrib.shape[1])
        top = np.lexsort((-far, -np.round(contrib, 4)), axis=1)[:, :k]
        nf = len(self.features)
        base = np.array([j if j < nf else self.features.index(self.indicators[j - nf])
                         for j in range(len(self.columns))], dtype=np.int64)
        raw = frame.select([pl.col(f).cast(pl.Float64) for f in self.features])[pl.Series(idx)].to_numpy()
        is_ind = top >= nf
        value = np.where(is_ind, 1.0, np.take_along_axis(raw, base[top], axis=1))
        medians = np.array([self.medians[f] for f in self.features])
        long = pl.DataFrame({
            "row": np.repeat(idx, k),
            "feature": np.array(self.columns, dtype=object)[top].ravel().astype(str),
            "value": value.ravel(),
            "fit_median": np.where(is_ind, np.nan, medians[base[top]]).ravel(),
            "contribution": np.round(np.take_along_axis(contrib, top, axis=1), 4).ravel(),
        }).with_columns(pl.col("value", "fit_median").fill_nan(None).round(4))
        per = long.group_by("row", maintain_order=True).agg(
            pl.struct("feature", "value", "fit_median", "contribution").alias("top_features"))
        rows = pl.DataFrame({"row": np.arange(n_rows)})
        return rows.join(per, on="row", how="left").sort("row")["top_features"]

    def save(self, path: str | Path) -> Path:
        """Write the model (joblib pickle, compressed) and read it back as a scan will (:meth:`load`): a detector
        holding what a model file may not name (LMDD's compiled numba functions) is refused now, not at the first
        scan. Returns the path."""
        p = Path(path)
        _libraries()[1].dump(self, p, compress=3)
        try:
            type(self).load(p)
        except ModelError as e:
            p.unlink(missing_ok=True)
            raise ModelError(f"{p}: not saved: a scan could not load it ({str(e).split(': ', 1)[-1]}); use other "
                             f"detectors than {', '.join(self.detector_names)}") from None
        return p

    @classmethod
    def load(cls, path: str | Path) -> "BehaviorModel":
        """Read a model written by :meth:`save`. This unpickles: load only files you trust."""
        p = Path(path)
        if p.is_dir():
            raise ModelError(f"{p}: is a folder, not a model file")
        if not p.is_file():
            raise ModelError(f"{p}: model file not found")
        if p.stat().st_size == 0:
            raise ModelError(f"{p}: empty file, not a model file")
        try:
            obj = _guarded_load(p)
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a model file"
            said = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
            raise ModelError(f"{p}: not a behaviour model file: truncated, corrupt or another kind of file "
                             f"({e.__class__.__name__}{': ' + said if said else ''})") from None
        if not isinstance(obj, cls):
            raise ModelError(f"{p}: not a behaviour model (got {type(obj).__name__})")
        if vars(obj).get("format") != MODEL_FORMAT:
            raise ModelError(f"{p}: behaviour model format {vars(obj).get('format')}, this version reads "
                             f"{MODEL_FORMAT} (fit the model again with `fraud fit`)")
        # a pickle restores the saved fields only: a field missing from the file would read as the class default
        # (an older model without ``format`` as this version's, without ``threshold`` as infinity)
        missing = [f.name for f in fields(cls) if f.name not in vars(obj)]
        if missing:
            raise ModelError(f"{p}: behaviour model without {', '.join(missing)} (written by another version?)")
        problem = obj.inconsistency()
        if problem:
            raise ModelError(f"{p}: inconsistent behaviour model ({problem})")
        return obj

    def inconsistency(self) -> str | None:
        """What makes this model unusable (None when nothing): detectors, names and their score standardisation
        of different lengths, a centre/scale that does not match the columns, a feature without a fit median, a
        threshold that is no finite number."""
        n = len(self.detectors)
        if not (n == len(self.detector_names) == len(self.score_mean) == len(self.score_sd)) or n == 0:
            return (f"{n} detectors, {len(self.detector_names)} names, {len(self.score_mean)}/{len(self.score_sd)} "
                    "score means/sds")
        if not (len(self.center) == len(self.scale) == len(self.columns)):
            return f"{len(self.columns)} columns but {len(self.center)}/{len(self.scale)} centres/scales"
        lost = [f for f in self.features if f not in self.medians] + [f for f in self.indicators
                                                                      if f not in self.features]
        if lost:
            return f"no fit median or feature for {', '.join(lost)}"
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            return f"threshold {self.threshold!r}"
        return None
