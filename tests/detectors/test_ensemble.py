import warnings

import numpy as np
import pytest
from pyod.models.hbos import HBOS
from pyod.models.iforest import IForest

from fraud.detectors.ensemble import FrozenECOD, detector_class, make_detector
from fraud.errors import ConfigError


def test_frozen_ecod_tail_scores_exact():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [100.0]])
    det = FrozenECOD().fit(X)
    assert det.skew_sign_.tolist() == [1.0]  # right-skewed -> right tail
    # left: #train <= x = 1..5, right: #train >= x = 5..1, score = max(-log((le+1)/6), -log((ge+1)/6))
    # (as in PyOD's ECOD the max also takes the tail against the skew, so the low end scores too)
    want = np.log(np.array([3.0, 2.0, 1.5, 2.0, 3.0]))
    assert det.tail_scores(X)[:, 0] == pytest.approx(want, abs=1e-12)
    assert det.decision_scores_ == pytest.approx(want, abs=1e-12)
    # a value beyond the training range: #train >= 1000 is 0 -> -log(1/6), finite
    assert det.decision_function(np.array([[1000.0]]))[0] == pytest.approx(np.log(6), abs=1e-12)


def test_frozen_ecod_scores_do_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 4))
    det = FrozenECOD().fit(train)
    batch = rng.normal(size=(50, 4))
    alone = det.decision_function(batch[:5])
    together = det.decision_function(np.vstack([batch[:5], batch[5:] * 10]))[:5]
    assert np.array_equal(alone, together)


def test_frozen_ecod_ranks_like_pyod_ecod_on_training_data():
    from pyod.models.ecod import ECOD
    rng = np.random.default_rng(2)
    X = rng.lognormal(size=(400, 3))
    ours = FrozenECOD().fit(X).decision_scores_
    theirs = ECOD().fit(X).decision_scores_
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99  # differ only by the +1 smoothing
    assert np.argmax(ours) == np.argmax(theirs)


def test_detector_lookup():
    assert detector_class("ECOD") is FrozenECOD
    assert detector_class("IForest") is IForest
    assert detector_class("hbos:HBOS") is HBOS
    with pytest.raises(ConfigError, match="unknown PyOD detector 'NoSuch'"):
        detector_class("NoSuch")
    with pytest.raises(ConfigError, match="'ecod:skew' is not a PyOD detector"):  # a function of that module
        detector_class("ecod:skew")
    det = make_detector("IForest", contamination=0.05, seed=7, n_jobs=1)
    assert (det.contamination, det.random_state, det.n_jobs) == (0.05, 7, 1)
    assert make_detector("HBOS", contamination=0.05, seed=7, n_jobs=1).contamination == 0.05


def test_frozen_ecod_sums_in_row_blocks_bit_for_bit(monkeypatch):
    """decision_function sums the tail scores block by block (memory); each row's sum is the whole matrix's."""
    from fraud.detectors import ensemble

    rng = np.random.default_rng(2)
    train = np.asfortranarray(rng.lognormal(size=(500, 6)))
    det = FrozenECOD().fit(train)
    whole = det.tail_scores(train).sum(axis=1)
    monkeypatch.setattr(ensemble, "SCORE_BLOCK_ROWS", 7)
    assert np.array_equal(det.decision_function(train), whole)
    assert np.array_equal(FrozenECOD().fit(train).decision_scores_, whole)


def test_skew_sign_column_by_column_equals_the_whole_matrix():
    from pyod.models.ecod import skew  # scipy's, with a constant column's nan as 0

    rng = np.random.default_rng(3)
    X = np.asfortranarray(np.hstack([rng.lognormal(size=(400, 3)), -rng.lognormal(size=(400, 2)),
                                     np.zeros((400, 1))]))
    det = FrozenECOD().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the constant column
        want = np.sign(skew(X, axis=0))
    assert np.array_equal(det.skew_sign_, want)
    assert det.skew_sign_.tolist() == [1.0, 1.0, 1.0, -1.0, -1.0, 0.0]


def test_ecod_fits_side_by_side_without_a_warning_on_the_terminal():
    """A constant column's skewness (scipy's precision-loss warning) was silenced with warnings.catch_warnings(),
    which is not thread-safe: with the detectors fitting in threads it reached stderr in 2 scans of 10. Six threads
    fitting ECOD on constant and near-constant columns, in a fresh interpreter: nothing on stderr."""
    import subprocess
    import sys

    code = ("import threading, numpy as np\n"
            "from fraud.detectors.ensemble import FrozenECOD\n"
            "rng = np.random.default_rng(0)\n"
            "X = np.hstack([np.zeros((300, 3)), np.full((300, 2), 1e9) + rng.random((300, 2)) * 1e-7,"
            " rng.random((300, 3))])\n"
            "def work():\n"
            "    for _ in range(30):\n"
            "        FrozenECOD().fit(X)\n"
            "ts = [threading.Thread(target=work) for _ in range(6)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stderr == "", out.stderr[-2000:]
