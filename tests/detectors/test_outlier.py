import json
from datetime import timedelta

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.detectors import BehaviorModel, fit_model
from fraud.detectors.outlier import outlier
from fraud.registry import NotEvaluated
from tests.detectors.helpers import T0, ctx_of


def _population(n_users=80, planted="u013", days=6):
    rows = []
    for u in range(n_users):
        user = f"u{u:03d}"
        for d in range(days):
            n = 3 + (u + d) % 3 + u % 2 if user != planted else 60  # (u % 2: users are not all alike)
            rows += [{"ts": T0 + timedelta(days=d, minutes=7 * i), "user_id": user, "event": "login",
                      "success": user != planted or i % 2 == 0, "ip": f"10.0.{u}.{i % 2 if user == planted else 1}",
                      "device_id": f"dev-{u}"} for i in range(n)]
    return rows


def test_planted_user_is_the_outlier_with_explanation():
    ctx = ctx_of(_population())
    out = outlier(ctx).collect()
    assert out["user_id"].to_list() == ["u013"]
    r = out.row(0, named=True)
    assert (r["rule"], r["points"], r["severity"]) == ("behavior.outlier", -10, "low")
    assert r["first_ts"] == T0 and r["last_ts"] == T0 + timedelta(days=5, minutes=7 * 59)
    ev = json.loads(r["evidence"])
    assert ev["model"] == "fitted on this batch" and ev["contamination"] == 0.01
    assert set(ev["detectors"]) == {"ECOD", "IForest", "HBOS"} and ev["score"] > ev["threshold"]
    assert len(ev["top_features"]) == 3
    names = [t["feature"] for t in ev["top_features"]]
    assert r["summary"].startswith("Behaviour outlier among 80 users (score ")
    assert all(n in r["summary"] for n in names)
    notes = ctx.notes["behavior.outlier"]
    assert notes["users_scored"] == 80 and notes["users_flagged"] == 1 and notes["model"] == "fitted on this batch"


def test_missing_values_are_said_in_the_summary():
    """A user flagged on missing fields: the missing-value indicators are named with "missing" / "n/a"."""
    rows = _population(planted="none")
    rows = [dict(r, ip=None, device_id=None) if r["user_id"] == "u013" else r for r in rows]
    r = outlier(ctx_of(rows)).collect().row(0, named=True)
    assert r["user_id"] == "u013"
    assert "_missing 1.0 (median n/a)" in r["summary"] and "top features: " in r["summary"]
    assert not r["summary"].endswith("top features: ")


def test_scan_with_model_uses_its_threshold():
    history = ctx_of(_population(planted="none"))
    model = fit_model(history)
    batch = ctx_of(_population(n_users=5, planted="u002"), model=model)
    out = outlier(batch).collect()
    assert out["user_id"].to_list() == ["u002"]
    ev = json.loads(out["evidence"][0])
    assert ev["model"] == "given model" and ev["threshold"] == round(model.threshold, 4)
    assert batch.notes["behavior.outlier"]["fit_users"] == 80


def test_model_round_trip_through_the_check(tmp_path):
    model = fit_model(ctx_of(_population(planted="none")))
    loaded = BehaviorModel.load(model.save(tmp_path / "m.joblib"))
    a = outlier(ctx_of(_population(n_users=60), model=model)).collect()
    b = outlier(ctx_of(_population(n_users=60), model=loaded)).collect()
    assert a.equals(b)


def test_too_few_users_without_model_is_not_evaluated():
    with pytest.raises(NotEvaluated, match="at least 50"):
        outlier(ctx_of(_population(n_users=10)))
    with pytest.raises(NotEvaluated, match="at least 50"):
        fit_model(ctx_of(_population(n_users=10)))


def test_a_population_of_one_is_never_fitted_and_nothing_to_score_is_not_clean(tmp_path):
    """min_users = 1 is a valid setting, but one user has no spread: the fit raised a ValueError (a traceback, no
    outputs); it needs 2 users whatever the setting. A given model with no user to score said "ok, 0 findings"."""
    c = tmp_path / "c.toml"
    c.write_text('[rules."behavior.outlier"]\nmin_users = 1\n')
    one = _population(n_users=1, planted="none")
    with pytest.raises(NotEvaluated, match="1 users with account events; fitting on the batch needs at least 2"):
        outlier(ctx_of(one, config=load_config(c)))
    with pytest.raises(NotEvaluated, match="needs at least 2"):
        fit_model(ctx_of(one, config=load_config(c)))
    two = ctx_of(_population(n_users=2, planted="none"), config=load_config(c))
    outlier(two).collect()
    assert two.notes["behavior.outlier"]["users_scored"] == 2  # two users: fitted and scored
    model = fit_model(ctx_of(_population(planted="none")))
    nobody = ScanContext.from_frames(load_config(), model=model, logins=pl.DataFrame(
        schema={"ts": pl.Datetime("us", "UTC"), "user_id": pl.String, "event": pl.String}))  # every row rejected
    with pytest.raises(NotEvaluated, match="no user with account events to score against the given model"):
        outlier(nobody)


def test_a_history_of_users_all_alike_fits_no_model():
    """Fifty users with the same 3 logins a day: every fit score tied, threshold 0.0, and every later user who
    differed at all was flagged (-10 each)."""
    alike = [{"ts": T0 + timedelta(days=d, hours=h), "user_id": f"u{u:02d}", "event": "login", "success": True,
              "ip": "10.0.0.1", "device_id": "d"} for u in range(50) for d in range(10) for h in (8, 12, 18)]
    with pytest.raises(NotEvaluated, match="the 50 users of the history are alike on every feature"):
        fit_model(ctx_of(alike))
    assert fit_model(ctx_of(_population(planted="none"))).threshold > 0


def test_wrong_model_type_is_not_evaluated():
    with pytest.raises(NotEvaluated, match="not a behaviour model"):
        outlier(ctx_of(_population(n_users=60), model={"a": 1}))


def test_configured_detectors():
    cfg = load_config()
    cfg.rule("behavior.outlier").params["detectors"] = ["KNN", "HBOS"]
    ctx = ctx_of(_population(), config=cfg)
    out = outlier(ctx).collect()
    assert out["user_id"].to_list() == ["u013"]
    assert set(json.loads(out["evidence"][0])["detectors"]) == {"KNN", "HBOS"}
    assert ctx.notes["behavior.outlier"]["detectors"] == ["KNN", "HBOS"]


def test_registered_in_pipeline():
    from fraud.pipeline import run_checks
    findings, status = run_checks(ctx_of(_population()))
    # a week of history: no user-day has 7 baseline days, so sigma cannot evaluate (and says so)
    assert status["behavior.outlier"]["status"] == "ok" and status["behavior.sigma"]["status"] == "not evaluated"
    assert status["behavior.sigma"]["user_days_not_evaluated"] == status["behavior.sigma"]["user_days"]
    assert findings.filter(pl.col("rule") == "behavior.outlier")["family"].to_list() == ["behavior"]


def test_row_order_does_not_change_behaviour_findings():
    from fraud.detectors.sigma import sigma
    rows = _population()
    rows += [{"ts": T0 + timedelta(days=6, minutes=i), "user_id": "u001", "event": "payment", "amount": 0.1 * i}
             for i in range(30)]
    a, b = ctx_of(rows), ctx_of(list(reversed(rows)))
    assert outlier(a).collect().equals(outlier(b).collect())
    for ctx in (a, b):  # a week of history: no user-day has 7 baseline days
        with pytest.raises(NotEvaluated, match="no user-day has 7 baseline days"):
            sigma(ctx)
    assert a.notes["behavior.sigma"] == b.notes["behavior.sigma"]


def test_a_given_model_scores_with_the_rules_threads(monkeypatch):
    from fraud.detectors import model as m

    model = fit_model(ctx_of(_population(planted="none")))
    batch = ctx_of(_population(n_users=5, planted="u002"), model=model)
    batch.cfg.rule("behavior.outlier").params["n_jobs"] = 1
    asked, real = [], m._each
    monkeypatch.setattr(m, "_each", lambda fn, items, n_jobs: asked.append(n_jobs) or real(fn, items, n_jobs))
    assert outlier(batch).collect()["user_id"].to_list() == ["u002"]
    assert asked == [1]


def test_a_batch_over_a_window_far_from_the_models_is_not_evaluated():
    """Users' day counts, daily maxima and new devices grow with the window: a day's batch against a 69-day model
    made 91% of its users outliers. A batch whose window is more than ``max_span_ratio`` (2) times shorter or longer
    than the model's fit window is not evaluated, naming both; one within it is scored and the notes say against
    what."""
    model = fit_model(ctx_of(_population(planted="none", days=6)))
    assert model.fit_span_days == 6
    with pytest.raises(NotEvaluated, match=r"the batch's users span 1 day\(s\) \(median\), the model was fitted on "
                                           r"2024-03-01\.\.2024-03-06 \(users over 6 days\): .* \(scan batches whose "
                                           r"users span 3-12 days, or fit a model on 1-day windows: max_span_ratio\)"):
        outlier(ctx_of(_population(n_users=5, days=1), model=model))
    with pytest.raises(NotEvaluated, match=r"the batch's users span 13 day\(s\)"):
        outlier(ctx_of(_population(n_users=5, days=13), model=model))
    # one account's event from years back stretches the batch's first to last event, not its users' median span
    old = [dict(r, ts=r["ts"] - timedelta(days=900)) if r["user_id"] == "u000" and r["ts"] == T0 else r
           for r in _population(n_users=5, planted="u002", days=6)]
    assert "u002" in outlier(ctx_of(old, model=model)).collect()["user_id"].to_list()  # scored, not refused
    batch = ctx_of(_population(n_users=5, planted="u002", days=6), model=model)
    out = outlier(batch).collect()
    assert out["user_id"].to_list() == ["u002"]
    notes = batch.notes["behavior.outlier"]
    assert (notes["model_fitted_on"], notes["model_fit_users"]) == ("2024-03-01..2024-03-06 (users over 6 days)", 80)
    ev = json.loads(out["evidence"][0])
    assert (ev["model_fitted_on"], ev["model_fit_users"]) == ("2024-03-01..2024-03-06 (users over 6 days)", 80)
    assert out["summary"][0].startswith("Behaviour outlier against a model of 80 users (score ")
    wide = load_config_text('[rules."behavior.outlier"]\nmax_span_ratio = 10\n')
    day = ctx_of(_population(n_users=5, days=1), model=model, config=wide)
    outlier(day).collect()  # scored, however far off its users' day counts are
    assert day.notes["behavior.outlier"]["users_scored"] == 5


def load_config_text(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c.toml").write_text(text)
        return load_config(Path(d) / "c.toml")


def test_features_without_any_value_in_the_history_are_left_out_of_the_model():
    """A history without IP addresses fitted ``mean_distinct_ips`` as a constant "missing": every user of a later
    batch with addresses was an outlier (79 of 79). The feature is left out of the model, and the scan says the batch
    has it; the reverse (the model's feature without a value in the batch) is said too."""
    history = [dict(r, ip=None) for r in _population(planted="none")]
    model = fit_model(ctx_of(history))
    assert "mean_distinct_ips" in model.unobserved and "mean_distinct_ips" not in model.features
    batch = ctx_of(_population(n_users=20, planted="none"), model=model)
    assert outlier(batch).collect().height == 0
    assert "mean_distinct_ips" in batch.notes["behavior.outlier"]["batch_features_not_in_model"]
    full = fit_model(ctx_of(_population(planted="none")))
    assert "mean_distinct_ips" in full.features
    bare = ctx_of([dict(r, ip=None) for r in _population(n_users=20, planted="none")], model=full)
    outlier(bare).collect()
    assert bare.notes["behavior.outlier"]["model_features_without_values_in_batch"] == ["mean_distinct_ips"]
    assert "batch_features_not_in_model" not in bare.notes["behavior.outlier"]


def test_settings_that_differ_from_the_models_are_said():
    """The features a model learnt were computed with its night hours, payment events ...; a scan with others
    scores other features, and its contamination and detectors are the model's: both said."""
    model = fit_model(ctx_of(_population(planted="none")))
    assert model.settings["behavior.sigma.night_start_hour"] == 22
    same = ctx_of(_population(n_users=20, planted="none"), model=model)
    outlier(same).collect()
    assert not {"feature_settings_differ_from_model", "settings_taken_from_model"} & set(same.notes["behavior.outlier"])
    other = load_config_text('[rules."behavior.sigma"]\nnight_start_hour = 23\n'
                             '[rules."behavior.outlier"]\ncontamination = 0.2\n')
    batch = ctx_of(_population(n_users=20, planted="none"), model=model, config=other)
    outlier(batch).collect()
    notes = batch.notes["behavior.outlier"]
    assert notes["feature_settings_differ_from_model"] == {
        "behavior.sigma.night_start_hour": {"model": 22, "scan": 23}}
    assert notes["settings_taken_from_model"] == {"contamination": {"model": 0.01, "scan": 0.2}}
