"""Every geo check and the profile part on sparse inputs: no crash, "not evaluated" instead of clean."""
from datetime import date

import polars as pl
import pytest

from fraud.geo.profile import places_part
from fraud.pipeline import build_profiles
from fraud.registry import NotEvaluated, all_checks
from tests.geo.helpers import ctx_of, local, logins, pings, routine

D = date(2024, 3, 4)
CASES = {
    "bare": logins([{"ts": local(D, 8), "user_id": "u1"}]),
    "ip_only": logins([{"ts": local(D, 8), "user_id": "u1", "ip": "8.8.8.8"},
                       {"ts": local(D, 9), "user_id": "u2", "ip": "not-an-ip"}]),
    "names_only": logins([{"ts": local(D, 8), "user_id": "u1", "city": "Atlantis"},
                          {"ts": local(D, 9), "user_id": "u1", "country": "Narnia"}]),
    "one_point": logins([{"ts": local(D, 8), "user_id": "u1", "lat": 0.0, "lon": 10.0}]),
    "null_island": logins([{"ts": local(D, 8), "user_id": "u1", "lat": 0.0, "lon": 0.0}]),
}


def run_geo(ctx):
    """Status per geo check and the geo findings (only the geo family, so these tests stay fast)."""
    status, found = {}, []
    for c in all_checks():
        if c.family != "geo":
            continue
        try:
            found.append(c.fn(ctx).collect())
            status[c.name] = "ok"
        except NotEvaluated:
            status[c.name] = "not evaluated"
    return pl.concat(found) if found else pl.DataFrame(), status


@pytest.mark.parametrize("name", sorted(CASES))
def test_sparse_inputs(name):
    ctx = ctx_of(logins=CASES[name])
    findings, status = run_geo(ctx)
    assert findings.height == 0 and len(status) == 7
    if name == "bare":
        assert set(status.values()) == {"not evaluated"}
    prof = build_profiles(ctx, ctx.users().collect())
    assert prof["home_lat"].to_list() == [None] * prof.height  # null, never 0,0


def test_home_without_work_leaves_commute_rules_not_evaluated():
    ctx = ctx_of(logins=logins([]), locations=pings("u1", routine("u1", D, 10, work_days=False)))
    _, status = run_geo(ctx)
    assert status["geo.commute_deviation"] == status["geo.stable_commute"] == "not evaluated"
    assert places_part(ctx).collect().select("home_city", "work_city").rows() == [("Shanghai", None)]
