from datetime import timedelta

import polars as pl
import pytest

from fraud.fingerprint.counts import many_devices, shared
from fraud.registry import NotEvaluated
from tests.conftest import at
from tests.fingerprint.conftest import ev, iso, logins, run


def test_many_devices_fires_on_the_window_that_exceeded():
    # d1..d4 within 30 days (d1 at day 0, d4 at day 29.9); failed login and payment with d5 do not count.
    lf = logins(("u1", at(days=0), "d1"), ("u1", at(days=10), "d2"), ("u1", at(days=20), "d3"),
                ("u1", at(days=29.9), "d4"), ("u1", at(days=29.95), "d1"))
    extra = pl.DataFrame({"user_id": ["u1", "u1"], "ts": [at(days=5), at(days=6)], "device_id": ["d5", "d6"],
                          "event": ["login", "payment"], "success": [False, True]})
    lf = lf.with_columns(event=pl.lit("login"), success=pl.lit(True))
    df = run(many_devices, logins=pl.concat([lf, extra], how="diagonal"))
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["user_id"], r["points"], r["first_ts"], r["last_ts"]) == ("u1", -15, at(days=0), at(days=29.9))
    assert ev(df) == {"window_start": iso(days=-0.1), "window_end": iso(days=29.9),
                      "devices": ["d1", "d2", "d3", "d4"], "n_devices": 4, "sign_ins": 4, "max_devices": 3,
                      "window_days": 30.0}


def test_many_devices_quiet_when_spread_over_more_than_30_days():
    # Four devices, but d1's only sign-in is 30 days and a second before d4's: never 4 in one [t-30d, t] window.
    lf = logins(("u1", at(days=0), "d1"), ("u1", at(days=10), "d2"), ("u1", at(days=20), "d3"),
                ("u1", at(days=30) + timedelta(seconds=1), "d4"), ("u2", at(days=1), "d1"))
    assert run(many_devices, logins=lf).height == 0
    assert run(many_devices, logins=lf.reverse()).height == 0


def test_many_devices_window_is_closed():
    # exactly 30 days from d1's sign-in to d4's: within 30 days
    lf = logins(("u1", at(days=0), "d1"), ("u1", at(days=10), "d2"), ("u1", at(days=20), "d3"),
                ("u1", at(days=30), "d4"))
    df = run(many_devices, logins=lf)
    assert (df.height, ev(df)["window_start"], ev(df)["n_devices"]) == (1, iso(days=0), 4)


def test_many_devices_not_evaluated_without_device_ids():
    with pytest.raises(NotEvaluated):
        run(many_devices, logins=logins(("u1", at(), None)))


def test_shared_flags_every_account_on_the_farm_device():
    # u1..u6 on d1 within 30 days; u7 joins later while the device is still over the limit; u8 is on d2.
    rows = [(f"u{i}", at(days=i), "d1") for i in range(1, 7)] + [("u7", at(days=20), "d1"), ("u8", at(days=2), "d2")]
    df = run(shared, logins=logins(*rows))
    assert df["user_id"].to_list() == [f"u{i}" for i in range(1, 8)]
    assert set(df["device_id"]) == {"d1"} and set(df["points"]) == {-40}
    first = ev(df, 0)
    assert first == {"window_start": iso(days=-24), "window_end": iso(days=6),
                     "accounts": [f"u{i}" for i in range(1, 7)], "n_accounts": 6, "max_accounts": 5,
                     "window_days": 30.0}
    assert (df["first_ts"][0], df["last_ts"][0]) == (at(days=1), at(days=6))
    late = ev(df, 6)
    assert late["window_end"] == iso(days=20) and late["n_accounts"] == 7


def test_shared_quiet_at_the_limit_and_for_failed_logins():
    rows = [(f"u{i}", at(days=i), "d1") for i in range(1, 6)]
    victims = pl.DataFrame({"user_id": ["v1", "v2"], "ts": [at(days=2), at(days=3)], "device_id": ["d1", "d1"],
                            "success": [False, False]})
    ok = logins(*rows).with_columns(success=pl.lit(True))
    assert run(shared, logins=pl.concat([ok, victims], how="diagonal")).height == 0


def test_shared_window_is_closed():
    """Six accounts whose first and last use are exactly 30 days apart share the device within 30 days."""
    rows = [(f"u{i}", at(days=6 * i), "d1") for i in range(6)]
    df = run(shared, logins=logins(*rows))
    assert df.height == 6 and ev(df)["window_start"] == iso(days=0)
    late = [(u, t + timedelta(seconds=1) if u == "u5" else t, d) for u, t, d in rows]
    assert run(shared, logins=logins(*late)).height == 0


def test_shared_counts_snapshot_accounts():
    rows = [(f"u{i}", at(days=i), "d1") for i in range(1, 6)]
    snap = pl.DataFrame({"ts": [at(days=7)], "device_id": ["d1"], "user_id": ["u9"]})
    df = run(shared, logins=logins(*rows), devices=snap)
    assert df.height == 6 and ev(df, 5)["accounts"][-1] == "u9"


def test_many_devices_one_finding_per_episode():
    first = [("u1", at(days=i), f"a{i}") for i in range(4)]
    again = [("u1", at(days=100 + i), f"b{i}") for i in range(4)]
    df = run(many_devices, logins=logins(*first, *again))
    assert df["last_ts"].to_list() == [at(days=3), at(days=103)]
    assert [ev(df, i)["devices"] for i in range(2)] == [[f"a{i}" for i in range(4)], [f"b{i}" for i in range(4)]]


def test_many_devices_goes_on_window_by_window_from_the_evidence_inside_each():
    """Four devices signed in from every 3 days for 70 days: the whole-history episode's finding, then one per later
    30-day point window (from the first finding's first sign-in, day 0; each closed at its end, as the rule's
    windows are) from that window's sign-ins alone, so its first sign-in scores it there; for 25 days, one."""
    rows = [("u1", at(days=3 * k + i * 0.01), f"d{i}") for k in range(24) for i in range(4)]
    df = run(many_devices, logins=logins(*rows))
    # day 30.00's sign-in (d0) closes window 0: window 1 has its fourth device on day 33
    assert df["last_ts"].to_list() == [at(days=0.03), at(days=33), at(days=63)]
    assert df["first_ts"].to_list() == [at(days=0), at(days=30.01), at(days=60.01)]
    assert [ev(df, i)["sign_ins"] for i in range(3)] == [4, 4, 4]
    short = [r for r in rows if r[1] < at(days=25)]
    assert run(many_devices, logins=logins(*short)).height == 1


def test_many_devices_an_episode_straddling_a_point_window_start_is_found():
    """Devices a0-a3 on day 0 (the first finding), then four new ones on day 30 around the point window's start:
    the whole-history sweep finds them (a window of 4 devices within 3.5 h), as before the point windows."""
    rows = [("u1", at(days=0, minutes=i), f"a{i}") for i in range(4)]
    rows += [("u1", at(days=30, minutes=-120 + 60 * i), f"b{i}") for i in range(4)]  # 2 before day 30, 2 after
    df = run(many_devices, logins=logins(*rows))
    assert df.height == 2 and ev(df, 1)["devices"][-4:] == ["b0", "b1", "b2", "b3"]


def test_shared_goes_on_window_by_window():
    """Six accounts on one device every 3 days for 70 days: each account has a finding per 30-day window."""
    rows = [(f"u{i}", at(days=3 * k + i * 0.01), "farm") for k in range(24) for i in range(6)]
    df = run(shared, logins=logins(*rows))
    assert df.group_by("user_id").len().sort("user_id")["len"].to_list() == [3] * 6
    assert df.filter(pl.col("user_id") == "u5")["last_ts"].to_list() == [at(days=0.05), at(days=33), at(days=63)]


def test_shared_an_episode_straddling_a_point_window_start_flags_every_account():
    """u0-u5 on day 0 (the first finding); a0-a2 on day 29.5 and a3-a5 on day 30.1, six accounts within 14 h
    across the point window's start: every one is flagged."""
    rows = [(f"u{i}", at(days=0), "farm") for i in range(6)]
    rows += [(f"a{i}", at(days=29.5), "farm") for i in range(3)] + [(f"a{i}", at(days=30.1), "farm") for i in range(3, 6)]
    df = run(shared, logins=logins(*rows))
    assert sorted(set(df["user_id"])) == [f"a{i}" for i in range(6)] + [f"u{i}" for i in range(6)]
    assert df.filter(pl.col("user_id") == "a5")["last_ts"].to_list() == [at(days=30.1)]
