"""PyOD detectors for the behaviour ensemble: name lookup and an ECOD whose distributions are frozen at fit.

PyOD's own ``ECOD.decision_function`` re-estimates its empirical CDFs on the training data *plus* the batch
being scored, so a batch would move its own scores, and the fitted object keeps several n x d matrices. The
:class:`FrozenECOD` here keeps only the sorted training columns and scores any batch against them, which is
what "fit once, score later" needs; it also exposes the per-dimension tail scores that explain a flag.
"""
from __future__ import annotations

import importlib
import inspect
import warnings

import numpy as np
from pyod.models.base import BaseDetector
from pyod.models.ecod import ECOD, skew
from sklearn.utils import check_array

from fraud.errors import ConfigError


def quiet_constant_columns() -> None:
    """Silence scipy's precision-loss warning for a constant column's skewness (an all-zero indicator: PyOD
    reads its skewness as 0, which it is). A filter for that one message, installed before the detectors' threads
    start (the model calls it; so does this module's import): warnings.catch_warnings() around the fit is not
    thread-safe (the detectors fit side by side, and one thread's exit restored the filters while another fitted:
    the warning reached the terminal in 2 scans of 10). Installing it again is a no-op."""
    warnings.filterwarnings("ignore", message="Precision loss occurred in moment calculation", category=RuntimeWarning)


quiet_constant_columns()


def _cache_hbos_jit() -> None:
    """Compile PyOD's HBOS kernel once per machine, not once per process.

    ``pyod.models.hbos._calculate_outlier_scores`` is a numba ``@njit`` function without ``cache=True``: every
    scan paid ~5 s compiling it, more than the whole fit on a 10k-user batch. Re-wrapping its Python source
    with ``cache=True`` stores the machine code in numba's cache (``NUMBA_CACHE_DIR`` or ``__pycache__``).
    Nothing changes if PyOD renames or restructures the kernel."""
    try:
        import numba
        from pyod.models import hbos
    except ImportError:  # pragma: no cover
        return
    kernel = getattr(hbos, "_calculate_outlier_scores", None)
    py_func = getattr(kernel, "py_func", None)
    if py_func is None or getattr(kernel, "_fraud_cached", False):
        return
    try:
        cached = numba.njit(cache=True)(py_func)
    except Exception:  # noqa: BLE001 - keep PyOD's own kernel if numba refuses
        return
    cached._fraud_cached = True
    hbos._calculate_outlier_scores = cached


_cache_hbos_jit()


SCORE_BLOCK_ROWS = 131_072  # rows per block when ECOD sums its tail scores


class FrozenECOD(ECOD):
    """ECOD (Li et al. 2022) with the empirical CDFs of the training data frozen at fit time.

    Per dimension j the left and right tail probabilities of a value x are ``(#train <= x + 1) / (n + 1)`` and
    ``(#train >= x + 1) / (n + 1)`` (the training ECDF with the scored point counted in, so a value beyond the
    training range has a finite score); the tail scores are their negative logs, combined as in ECOD by the
    sign of the dimension's training skewness (left tail if skewed left, right if right, both otherwise) and
    summed over dimensions: higher = more anomalous.
    """

    def fit(self, X, y=None):
        X = check_array(X)
        self._set_n_classes(y)
        self.sorted_ = np.asfortranarray(np.sort(X, axis=0))
        # one n x 1 column at a time (bit for bit the whole matrix's result): the whole matrix's moments took
        # three matrix-sized temporaries (2M users: 2 GB)
        self.skew_sign_ = np.sign(np.concatenate([skew(X[:, j:j + 1], axis=0) for j in range(X.shape[1])]))
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def tail_scores(self, X) -> np.ndarray:
        """Per-dimension outlier scores (n_samples x n_features), the summands of :meth:`decision_function`."""
        return self._tails(check_array(X))

    def _tails(self, X: np.ndarray) -> np.ndarray:
        """:meth:`tail_scores` of an already validated matrix."""
        n = self.sorted_.shape[0]
        out = np.empty(X.shape, dtype=np.float64)
        for j in range(X.shape[1]):  # one pass per feature column, vectorised over rows
            col = np.ascontiguousarray(X[:, j])
            order = np.argsort(col, kind="stable")
            q = col[order]  # sorted queries make the binary searches cache-friendly
            le = np.empty(len(q), dtype=np.int64)
            ge = np.empty(len(q), dtype=np.int64)
            le[order] = np.searchsorted(self.sorted_[:, j], q, side="right")
            ge[order] = n - np.searchsorted(self.sorted_[:, j], q, side="left")
            u_l = -np.log((le + 1) / (n + 1))
            u_r = -np.log((ge + 1) / (n + 1))
            s = self.skew_sign_[j]
            u_skew = u_l if s < 0 else u_r if s > 0 else u_l + u_r
            out[:, j] = np.maximum(np.maximum(u_l, u_r), u_skew)
        return out

    def decision_function(self, X) -> np.ndarray:
        """Sum of :meth:`tail_scores` per row, in blocks of rows (each row's sum is the same, bit for bit; the
        whole n x d tail matrix of 2M users is 640 MB)."""
        X = check_array(X)
        step = SCORE_BLOCK_ROWS
        return np.concatenate([self._tails(X[i:i + step]).sum(axis=1) for i in range(0, len(X), step)])


def detector_class(name: str) -> type[BaseDetector]:
    """The PyOD class named ``name``: ``"ECOD"`` is :class:`FrozenECOD`; ``"IForest"`` is looked up as
    ``pyod.models.iforest.IForest``; ``"module:Class"`` names ``pyod.models.module.Class`` explicitly."""
    if name == "ECOD":
        return FrozenECOD
    module, _, cls = name.partition(":") if ":" in name else (name.lower(), "", name)
    try:
        found = getattr(importlib.import_module(f"pyod.models.{module}"), cls)
    except (ImportError, AttributeError):
        raise ConfigError(f"behavior.outlier detectors: unknown PyOD detector {name!r} (a class name like 'IForest', "
                          "or 'module:Class')") from None
    if not (isinstance(found, type) and issubclass(found, BaseDetector)):
        raise ConfigError(f"behavior.outlier detectors: {name!r} is not a PyOD detector")
    return found


def make_detector(name: str, *, contamination: float, seed: int, n_jobs: int) -> BaseDetector:
    """Instantiate a detector, passing ``contamination``, ``random_state`` and ``n_jobs`` where it takes them."""
    cls = detector_class(name)
    params = inspect.signature(cls.__init__).parameters
    kw = {k: v for k, v in (("contamination", contamination), ("random_state", seed), ("n_jobs", n_jobs))
          if k in params}
    return cls(**kw)
