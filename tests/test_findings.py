import json

import polars as pl

from fraud.findings import emit, finalize
from fraud.schema import FINDINGS_SCHEMA
from tests.conftest import at


def _raw(cfg, users=("u1", "u2"), shift=0):
    lf = pl.LazyFrame({"user_id": list(users), "first_ts": [at(shift), at(shift + 5)], "last_ts": [at(10), at(20)],
                       "km": [1234.56, 10.0]})
    return emit(lf, cfg.rule("geo.impossible_travel"), evidence={"distance_km": "km", "limit": 900},
                summary=pl.format("moved {} km", pl.col("km"))).collect()


def test_emit_fills_contract_columns(cfg):
    df = _raw(cfg)
    assert df.columns == [c for c in FINDINGS_SCHEMA if c not in ("finding_id", "family")]
    r = df.row(0, named=True)
    assert (r["rule"], r["points"], r["severity"], r["device_id"]) == ("geo.impossible_travel", -30, "high", None)
    assert json.loads(r["evidence"]) == {"distance_km": 1234.56, "limit": 900}
    assert r["summary"] == "moved 1234.56 km"


def test_finding_ids_are_stable_and_order_independent(cfg):
    a = finalize(_raw(cfg), cfg)
    b = finalize(_raw(cfg).reverse(), cfg)
    assert a.equals(b)
    assert a["family"].to_list() == ["geo", "geo"]
    assert a["finding_id"].n_unique() == 2 and all(len(x) == 20 for x in a["finding_id"])
    c = finalize(_raw(cfg, shift=1), cfg)  # other evidence window -> other id
    assert set(a["finding_id"]).isdisjoint(c["finding_id"])
    assert list(a.schema.items()) == list(FINDINGS_SCHEMA.items())


def _bots(cfg, rows):
    """device.bot_agent findings: (user, agent, first minute, last minute) per row."""
    lf = pl.LazyFrame({"user_id": [r[0] for r in rows], "agent": [r[1] for r in rows],
                       "first_ts": [at(r[2]) for r in rows], "last_ts": [at(r[3]) for r in rows]})
    return emit(lf, cfg.rule("device.bot_agent"), evidence={"user_agent": "agent"}, ip=pl.lit("10.0.0.1"),
                summary=pl.format("agent {}", pl.col("agent"))).collect()


def _ids(df):
    return dict(zip(df["summary"], df["finding_id"]))


def test_a_rule_with_an_identity_keeps_its_id_as_the_window_grows(cfg):
    """A bot agent seen again tomorrow is the same finding (the reviewer's decision holds); without the identity the
    grown window is another finding. The agent is part of the identity: two agents are two findings."""
    ident = {"device.bot_agent": ("user_id", "user_agent")}
    night1 = finalize(_bots(cfg, [("u1", "curl/8.0", 0, 10), ("u1", "Go-http-client/1.1", 0, 10)]), cfg, ident)
    night2 = finalize(_bots(cfg, [("u1", "curl/8.0", 0, 30), ("u1", "Go-http-client/1.1", 5, 10)]), cfg, ident)
    assert _ids(night1) == _ids(night2)
    assert len(set(_ids(night1).values())) == 2 and all(len(i) == 20 for i in _ids(night1).values())
    plain1 = finalize(_bots(cfg, [("u1", "curl/8.0", 0, 10)]), cfg)
    plain2 = finalize(_bots(cfg, [("u1", "curl/8.0", 0, 30)]), cfg)
    assert plain1["finding_id"][0] != plain2["finding_id"][0]
    assert plain1["finding_id"][0] == finalize(_bots(cfg, [("u1", "curl/8.0", 0, 10)]), cfg, {})["finding_id"][0]


def test_findings_sharing_a_key_keep_their_own_ids_whatever_the_others_do(cfg):
    """Two findings of one rule, subject and window (no identity told them apart) took "<id>" and "<id>-1" by their
    evidence's order: when one of them changed, the other took its id and the decision recorded on it. Each now
    adds a digest of its content; rows equal in every column are numbered."""
    night1 = finalize(_bots(cfg, [("u1", "python-requests/2.31", 0, 10), ("u1", "Go-http-client/1.1", 0, 10)]), cfg)
    ids1 = _ids(night1)
    assert len(set(ids1.values())) == 2
    base = {i.split("-")[0] for i in ids1.values()}
    assert len(base) == 1 and all(len(i) == 20 + 1 + 8 for i in ids1.values())
    # the Go agent seen once more: its finding changes; python-requests' keeps the id it had, never the Go one's
    night2 = finalize(_bots(cfg, [("u1", "python-requests/2.31", 0, 10), ("u1", "Go-http-client/1.1", 0, 30)]), cfg)
    ids2 = _ids(night2)
    assert ids2["agent Go-http-client/1.1"] not in ids1.values()
    assert ids2["agent python-requests/2.31"] != ids1["agent Go-http-client/1.1"]
    # three findings, two of them identical in every column
    same = finalize(_bots(cfg, [("u1", "curl/8.0", 0, 10), ("u1", "curl/8.0", 0, 10), ("u1", "wget", 0, 10)]), cfg)
    curl = sorted(same.filter(pl.col("summary") == "agent curl/8.0")["finding_id"])
    assert curl[1] == curl[0] + "-1" and same["finding_id"].n_unique() == 3

