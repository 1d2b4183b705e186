import re

import numpy as np
import polars as pl
import pytest

from fraud.errors import ModelError
from fraud.detectors.model import BehaviorModel

DEFAULT = dict(detectors=["ECOD", "IForest", "HBOS"], contamination=0.01, seed=42, n_jobs=1)
FEATS = ["f1", "f2", "f3", "f4"]


def _matrix(n=300, seed=0, missing=False):
    rng = np.random.default_rng(seed)
    X = rng.lognormal(mean=1.0, sigma=0.3, size=(n, 4))
    X[17] = [60.0, 0.5, 40.0, 2.0]  # planted outlier: far out in three of four features
    df = pl.DataFrame({"user_id": [f"u{i:03d}" for i in range(n)], **{f: X[:, j] for j, f in enumerate(FEATS)}})
    if missing:
        df = df.with_columns(pl.when(pl.int_range(pl.len()) % 10 == 3).then(None).otherwise(pl.col("f4"))
                             .alias("f4"))
    return df


def test_planted_outlier_ranks_first_and_is_explained():
    df = _matrix()
    model, scored = BehaviorModel.fit_score(df, FEATS, top_n=3, **DEFAULT)
    top = scored.sort("score", descending=True).row(0, named=True)
    assert top["user_id"] == "u017" and top["flagged"] is True
    # f1 and f3 are the training maxima, f2 the minimum: equal ECOD tail scores log(301 / 2), ordered by how far
    # each lies from the fit population (60 and 40 far above a median near 3, 0.5 below it), not by column order
    assert [t["feature"] for t in top["top_features"]] == ["f1", "f3", "f2"]
    assert [t["contribution"] for t in top["top_features"]] == [round(np.log(301 / 2), 4)] * 3
    assert top["top_features"][0]["value"] == 60.0
    assert top["top_features"][0]["fit_median"] == round(float(df["f1"].median()), 4)
    # threshold is the fit data's 99th percentile of the combined score: 1% of 300 rows above it
    assert int(scored["flagged"].sum()) == 3
    assert scored.filter(~pl.col("flagged"))["top_features"].null_count() == 297


def test_identical_users_flag_nobody_without_crashing():
    """Tied top scores put nobody strictly above the threshold: no flags and no explanation, not a crash."""
    df = pl.DataFrame({"user_id": [f"u{i:02d}" for i in range(60)], **{f: [1.0] * 60 for f in FEATS}})
    model, scored = BehaviorModel.fit_score(df, FEATS, **DEFAULT)
    assert int(scored["flagged"].sum()) == 0 and scored["top_features"].null_count() == 60
    assert model.score(df)["flagged"].sum() == 0


def test_fit_score_equals_score_and_is_deterministic():
    df = _matrix()
    model, scored = BehaviorModel.fit_score(df, FEATS, **DEFAULT)
    again = model.score(df)
    assert np.array_equal(scored["score"].to_numpy(), again["score"].to_numpy())
    assert scored["top_features"].to_list() == again["top_features"].to_list()
    other = BehaviorModel.fit(df, FEATS, **DEFAULT)
    assert np.array_equal(other.score(df)["score"].to_numpy(), again["score"].to_numpy())


def test_save_load_round_trip(tmp_path):
    df = _matrix(missing=True)
    model = BehaviorModel.fit(df, FEATS, **DEFAULT)
    path = model.save(tmp_path / "behaviour.model")
    loaded = BehaviorModel.load(path)
    a, b = model.score(df), loaded.score(df)
    assert a.equals(b)
    assert loaded.threshold == model.threshold and loaded.indicators == ["f4"]


def test_load_rejects_other_objects(tmp_path):
    import joblib
    joblib.dump({"not": "a model"}, tmp_path / "x")
    with pytest.raises(ModelError, match="not a behaviour model"):
        BehaviorModel.load(tmp_path / "x")


def test_threshold_is_kept_from_fit_not_recomputed():
    model = BehaviorModel.fit(_matrix(), FEATS, **DEFAULT)
    normal = _matrix(n=50, seed=5)[20:]  # rows without the planted outlier
    extreme = normal.with_columns(pl.col("f1") * 50, pl.col("f3") * 50)
    assert int(model.score(normal)["flagged"].sum()) == 0
    assert int(model.score(extreme)["flagged"].sum()) == extreme.height


def test_missing_values_imputed_with_median_and_indicator():
    df = _matrix(missing=True)
    model = BehaviorModel.fit(df, FEATS, **DEFAULT)
    assert model.columns == FEATS + ["f4_missing"]
    assert model.medians["f4"] == float(df["f4"].median())
    X = model.matrix(df)
    raw_missing = df["f4"].is_null().to_numpy()
    assert set(np.unique(X[raw_missing, 3]).round(12)) == {round(float(X[raw_missing, 3][0]), 12)}
    assert (X[raw_missing, 4] > 0).all() and (X[~raw_missing, 4] < 0).all()  # standardised indicator


def test_other_pyod_detectors_and_zscore_explanations():
    df = _matrix()
    model, scored = BehaviorModel.fit_score(df, FEATS, detectors=["KNN", "HBOS"], contamination=0.01, seed=1)
    top = scored.sort("score", descending=True).row(0, named=True)
    assert top["user_id"] == "u017"
    assert top["top_features"][0]["feature"] in ("f1", "f3")


def test_detectors_fitted_side_by_side_give_the_same_model():
    """n_jobs fits the detectors in threads; the scores, threshold and later scoring do not depend on it."""
    df = _matrix(missing=True)
    one, s1 = BehaviorModel.fit_score(df, FEATS, **DEFAULT)
    many, s2 = BehaviorModel.fit_score(df, FEATS, **{**DEFAULT, "n_jobs": -1})
    assert s1.equals(s2) and one.threshold == many.threshold
    assert one.score(df).equals(many.score(df))
    assert one.score(df, n_jobs=1).equals(many.score(df, n_jobs=-1))


def test_score_uses_the_threads_it_is_given(monkeypatch):
    from fraud.detectors import model as m

    asked = []
    real = m._each
    monkeypatch.setattr(m, "_each", lambda fn, items, n_jobs: asked.append(n_jobs) or real(fn, items, n_jobs))
    fitted, _ = BehaviorModel.fit_score(_matrix(missing=True), FEATS, **DEFAULT)
    asked.clear()
    fitted.score(_matrix(missing=True), n_jobs=1)
    fitted.score(_matrix(missing=True))
    assert asked == [1, -1]


def test_each_keeps_item_order_and_uses_threads_only_when_asked():
    import threading

    from fraud.detectors.model import _each

    def where(i):
        return i, threading.current_thread().name

    alone = _each(where, [1, 2, 3], 1)
    assert [i for i, _ in alone] == [1, 2, 3] and {n for _, n in alone} == {threading.current_thread().name}
    side = _each(where, [1, 2, 3], 2)
    assert [i for i, _ in side] == [1, 2, 3] and all(n.startswith("fraud-detector") for _, n in side)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("format"), "behaviour model format None, this version reads 2 (fit the model again"),
    (lambda d: d.update(format=1), "behaviour model format 1, this version reads 2 (fit the model again"),
    (lambda d: d.pop("unobserved"), "behaviour model without unobserved"),
    (lambda d: d.pop("threshold"), "behaviour model without threshold"),
    (lambda d: d.update(threshold=float("inf")), "inconsistent behaviour model (threshold inf)"),
    (lambda d: d.update(detector_names=["ECOD", "IForest"]), "3 detectors, 2 names"),
    (lambda d: d.update(scale=np.ones(2)), "columns but 5/2 centres/scales"),
    (lambda d: d.update(medians={}), "no fit median or feature for f1, f2, f3, f4"),
])
def test_load_refuses_a_model_that_cannot_score_right(tmp_path, edit, message):
    """A field missing from the file would read as the class default (no ``format``: this version's; no
    ``threshold``: infinity, flagging nobody), and mismatched parts fail mid-scan: both are refused at load."""
    import joblib

    model = BehaviorModel.fit(_matrix(missing=True), FEATS, **DEFAULT)
    edit(vars(model))
    joblib.dump(model, tmp_path / "m")
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BehaviorModel.load(tmp_path / "m")


def test_a_model_of_features_this_version_does_not_compute_is_refused_before_the_scan(tmp_path):
    from fraud.detectors.features import USER_FEATURES
    from fraud.runner import load_model

    feats = list(USER_FEATURES)[:4]
    frame = _matrix().rename(dict(zip(FEATS, feats)))
    BehaviorModel.fit(frame, feats, **DEFAULT).save(tmp_path / "ok")
    assert load_model(tmp_path / "ok").features == feats
    BehaviorModel.fit(frame.rename({feats[0]: "mean_events_v0"}), ["mean_events_v0", *feats[1:]],
                      **DEFAULT).save(tmp_path / "other")
    with pytest.raises(ModelError, match="does not compute: mean_events_v0"):
        load_model(tmp_path / "other")


class _Runs:
    """A pickle that calls ``fn(*args)`` as it loads (what a crafted "model" file does)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_a_model_file_naming_anything_a_model_does_not_hold_is_refused_before_it_runs(tmp_path):
    """A model file is a pickle: a crafted one ran its payload (os.system) and only then said "not a behaviour
    model", even with the rule disabled. Every global the file names is checked first: a model's own classes, the
    detectors' estimators and numpy's arrays load; os.system, eval or getattr are refused and never called."""
    import builtins
    import os

    import joblib

    marker = tmp_path / "ran"
    for fn, args, named in ((os.system, (f"touch {marker}",), os.system.__module__ + ".system"),
                            (builtins.eval, (f"open({str(marker)!r}, 'w')",), "builtins.eval"),
                            (builtins.getattr, (BehaviorModel, "save"), "builtins.getattr")):
        joblib.dump(_Runs(fn, *args), tmp_path / "evil.joblib", compress=3)
        with pytest.raises(ModelError, match=re.escape(f"refused: the file calls {named}, which no behaviour model")):
            BehaviorModel.load(tmp_path / "evil.joblib")
        assert not marker.exists()
    # other PyOD detectors (neighbour indexes, copulas) load, as the default ensemble does
    model = BehaviorModel.fit(_matrix(), FEATS, **{**DEFAULT, "detectors": ["KNN", "LOF", "COPOD", "ECOD"]})
    loaded = BehaviorModel.load(model.save(tmp_path / "knn.joblib"))
    assert loaded.score(_matrix())["score"].equals(model.score(_matrix())["score"])


def test_a_module_a_model_file_names_is_not_imported_unless_a_model_may_hold_it(tmp_path, monkeypatch):
    """Importing a module runs its code: the names are checked before anything is imported."""
    marker = tmp_path / "imported"
    (tmp_path / "sideeffect_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "m.joblib").write_bytes(b"csideeffect_mod\nX\n)\x81.")
    with pytest.raises(ModelError, match=re.escape("refused: the file calls sideeffect_mod.X")):
        BehaviorModel.load(tmp_path / "m.joblib")
    assert not marker.exists()
