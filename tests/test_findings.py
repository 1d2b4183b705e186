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
