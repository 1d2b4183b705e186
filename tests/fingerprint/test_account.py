from datetime import timedelta

import polars as pl
import pytest

from fraud.fingerprint.account import ip_spray, login_failures, password_churn
from fraud.registry import NotEvaluated
from tests.conftest import at
from tests.fingerprint.conftest import ev, iso, run


def _attempts(user, minutes, ok, ip="9.9.9.9"):
    return pl.DataFrame({"user_id": [user] * len(minutes), "ts": [at(m) for m in minutes], "event": "login",
                         "success": ok, "ip": ip, "device_id": "d1"})


def test_login_failures_burst_then_success():
    lf = pl.concat([_attempts("u1", [0, 2, 4, 6, 8, 9], [False] * 6),
                    _attempts("u1", [18], [True], ip="5.5.5.5"), _attempts("u1", [20], [True])])
    df = run(login_failures, logins=lf)
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["points"], r["first_ts"], r["last_ts"], r["ip"], r["device_id"]) == (-15, at(0), at(18), "5.5.5.5",
                                                                                   "d1")
    assert ev(df) == {"failures": 6, "first_failure": iso(0), "last_failure": iso(9), "success": iso(18),
                      "successes": 1, "last_success": iso(18), "failure_ips": ["9.9.9.9"], "min_failures": 5,
                      "failure_window_minutes": 10, "success_within_minutes": 10}
    assert r["summary"] == ("6 failed logins from 2024-03-04T08:00:00Z to 2024-03-04T08:09:00Z, then a successful "
                            "login 9.0 min after the last failure")


def test_login_failures_quiet_when_slow_or_no_success():
    too_late = pl.concat([_attempts("u1", [0, 1, 2, 3, 4], [False] * 5), _attempts("u1", [14.5], [True])])
    spread = pl.concat([_attempts("u2", [0, 3, 6, 9, 12], [False] * 5), _attempts("u2", [13], [True])])
    no_success = _attempts("u3", [0, 1, 2, 3, 4, 5], [False] * 6)
    assert run(login_failures, logins=pl.concat([too_late, spread, no_success])).height == 0


def test_login_failures_count_every_attempt_also_several_in_one_second():
    """A brute-force tool's attempts in one second, differing only in their agents (or in nothing the check reads):
    each counts. (A log line written twice is the reader's rejected duplicate, tests/test_inputs.py.)"""
    pairs = pl.concat([_attempts("u1", [0, 0, 1, 1, 2, 2], [False] * 6), _attempts("u1", [3], [True])])
    assert ev(run(login_failures, logins=pairs))["failures"] == 6
    rotating = pl.concat([_attempts("u2", [0] * 5, [False] * 5).with_columns(
        pl.Series("user_agent", [f"agent {i}" for i in range(5)])), _attempts("u2", [1], [True]).with_columns(
        pl.lit("agent 0").alias("user_agent"))])
    assert ev(run(login_failures, logins=rotating))["failures"] == 5
    assert run(login_failures, logins=rotating.filter(pl.int_range(pl.len()) != 0)).height == 0  # four: quiet


def _changes(user, days):
    return pl.DataFrame({"user_id": user, "ts": [at(days=d) for d in days], "event": "password_change"})


def test_password_churn_fires_on_third_change_in_90_days():
    df = run(password_churn, logins=_changes("u1", [0, 40, 89.9, 95]))
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["points"], r["first_ts"], r["last_ts"]) == (-10, at(days=0), at(days=89.9))
    assert ev(df) == {"changes": [iso(days=0), iso(days=40), iso(days=89.9)], "n_changes": 3, "max_changes": 2,
                      "window_days": 90.0, "window_start": iso(days=-0.1), "window_end": iso(days=89.9)}


def test_password_churn_goes_on_window_by_window():
    """A change every 20 days for 280 days: the whole-history episode's finding, then one in each later 90-day point
    window (from the first finding's first change) whose own changes exceed the limit, listing only those."""
    df = run(password_churn, logins=_changes("u1", [20 * k for k in range(15)]))
    assert df["last_ts"].to_list() == [at(days=40), at(days=140), at(days=240)]
    assert [ev(df, i)["changes"] for i in range(3)] == [[iso(days=d) for d in (0, 20, 40)],
                                                       [iso(days=d) for d in (100, 120, 140)],
                                                       [iso(days=d) for d in (200, 220, 240)]]


def test_password_churn_an_episode_straddling_a_point_window_start_is_found():
    """Three changes on day 0 (the first finding), then three within 2 days around day 90, the point window's start:
    the whole-history sweep finds them."""
    df = run(password_churn, logins=_changes("u1", [0, 0.1, 0.2, 89.5, 90.5, 91]))
    assert df["last_ts"].to_list() == [at(days=0.2), at(days=91)]


def test_password_churn_quiet_at_limit_and_when_spread():
    failed = _changes("u2", [1, 2]).with_columns(success=pl.lit(False))
    lf = pl.concat([_changes("u1", [0, 45, 90.001]), _changes("u2", [0, 3]), failed], how="diagonal")
    assert run(password_churn, logins=lf).height == 0


def test_password_churn_window_is_closed():
    """Changes exactly 90 days apart are within 90 days; a second later they are not."""
    df = run(password_churn, logins=_changes("u1", [0, 45, 90]))
    assert (df.height, ev(df)["window_start"], ev(df)["n_changes"]) == (1, iso(days=0), 3)
    late = _changes("u1", [0, 45]).vstack(pl.DataFrame({"user_id": ["u1"], "ts": [at(days=90) + timedelta(seconds=1)],
                                                        "event": ["password_change"]}))
    assert run(password_churn, logins=late).height == 0


def test_password_churn_counts_a_change_logged_twice_once():
    # two changes, each written twice: two changes, not four
    assert run(password_churn, logins=_changes("u1", [0, 0, 80, 80])).height == 0
    df = run(password_churn, logins=_changes("u1", [0, 0, 40, 80, 80]))
    assert ev(df)["changes"] == [iso(days=0), iso(days=40), iso(days=80)] and ev(df)["n_changes"] == 3


def _spray(n_accounts, minutes_apart, ip="6.6.6.6"):
    return pl.DataFrame({"user_id": [f"v{i}" for i in range(n_accounts)],
                         "ts": [at(i * minutes_apart) for i in range(n_accounts)], "event": "login",
                         "success": False, "ip": ip})


def test_ip_spray_ip_only_finding():
    df = run(ip_spray, logins=pl.concat([_spray(10, 6), _spray(3, 1, ip="7.7.7.7")]))
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["user_id"], r["ip"], r["points"], r["first_ts"], r["last_ts"]) == (None, "6.6.6.6", 0, at(0), at(54))
    assert ev(df) == {"accounts": [f"v{i}" for i in range(10)], "n_accounts": 10, "failures": 10, "peak_accounts": 10,
                      "min_accounts": 10, "window_minutes": 60, "window_start": iso(-6), "window_end": iso(54)}


def test_ip_spray_summary_names_the_episode_peak():
    """12 accounts one minute apart: the limit (10) is reached at minute 9, the window later holds all 12."""
    df = run(ip_spray, logins=_spray(12, 1))
    assert df["summary"][0] == ("IP 6.6.6.6 failed logins on 10 accounts within 60 min (up to 12 in a later window "
                                "of the episode)")
    assert ev(df)["peak_accounts"] == 12
    assert run(ip_spray, logins=_spray(10, 1))["summary"][0] == "IP 6.6.6.6 failed logins on 10 accounts within 60 min"


def test_ip_spray_quiet_when_slower_than_an_hour():
    assert run(ip_spray, logins=_spray(10, 7)).height == 0


def test_login_failures_counts_the_whole_burst_across_an_earlier_success():
    lf = pl.concat([_attempts("u1", [0, 1, 2, 3], [False] * 4), _attempts("u1", [3.5], [True]),
                    _attempts("u1", [4, 5], [False] * 2), _attempts("u1", [7], [True])])
    df = run(login_failures, logins=lf)
    assert df.height == 1
    assert (df["first_ts"][0], df["last_ts"][0]) == (at(0), at(7))
    assert ev(df)["failures"] == 6 and ev(df)["last_failure"] == iso(5)


def test_login_failures_one_finding_per_attack_episode():
    """A tool cycling 5 failures + 1 success every 6 minutes for an hour is one episode (10 successes); a new
    burst more than the failure window (10 min) after the last success is a second finding."""
    rows = []
    for k in range(10):
        t0 = 6 * k
        rows += [_attempts("u1", [t0 + 0.5 * i for i in range(5)], [False] * 5), _attempts("u1", [t0 + 3], [True])]
    rows += [_attempts("u1", [80, 81, 82, 83, 84], [False] * 5), _attempts("u1", [85], [True], ip="5.5.5.5")]
    df = run(login_failures, logins=pl.concat(rows)).sort("first_ts")
    assert df.height == 2
    first, second = ev(df[0]), ev(df[1])
    assert (first["successes"], first["failures"], first["success"], first["last_success"]) == (
        10, 50, iso(3), iso(57))
    assert (df["first_ts"][0], df["last_ts"][0], df["ip"][0]) == (at(0), at(57), "9.9.9.9")
    assert df["summary"][0] == ("50 failed logins from 2024-03-04T08:00:00Z to 2024-03-04T08:56:00Z in bursts, "
                                "10 of them followed by a successful login (first 2024-03-04T08:03:00Z, last "
                                "2024-03-04T08:57:00Z)")
    assert (second["successes"], second["failures"], df["ip"][1]) == (1, 5, "5.5.5.5")


def test_login_failures_episode_ends_with_the_utc_day():
    """The same tool cycling from 23:40 to 00:20 UTC: one finding per day, so a finding stays the same when the
    next day's logs are added."""
    base = 23 * 60 + 40 - 8 * 60  # at() counts minutes from 08:00 UTC
    rows = []
    for k in range(6):
        t0 = base + 7 * k
        rows += [_attempts("u1", [t0 + 0.5 * i for i in range(5)], [False] * 5), _attempts("u1", [t0 + 3], [True])]
    df = run(login_failures, logins=pl.concat(rows)).sort("first_ts")
    assert [ev(df[i])["successes"] for i in range(df.height)] == [3, 3]
    assert [t.date().day for t in df["last_ts"]] == [4, 5]  # the successes of each day


def test_login_failures_window_is_closed():
    """Five failures spanning exactly 10 minutes are within 10 minutes (as the success's 10 minutes are); a second
    more and they are not."""
    exact = pl.concat([_attempts("u1", [0, 2.5, 5, 7.5, 10], [False] * 5), _attempts("u1", [11], [True])])
    df = run(login_failures, logins=exact)
    assert (df.height, df["first_ts"][0], ev(df)["failures"]) == (1, at(0), 5)
    late = pl.concat([_attempts("u1", [0, 2.5, 5, 7.5, 10 + 1 / 60], [False] * 5), _attempts("u1", [11], [True])])
    assert run(login_failures, logins=late).height == 0


def test_ip_spray_window_is_closed():
    """Ten accounts failing from one IP over exactly 60 minutes are within the hour; a second more is not."""
    df = run(ip_spray, logins=_spray(10, 60 / 9))
    assert (df.height, ev(df)["window_start"], ev(df)["n_accounts"]) == (1, iso(0), 10)
    slow = _spray(10, 60 / 9).with_columns(
        pl.when(pl.col("user_id") == "v9").then(pl.col("ts") + timedelta(seconds=1)).otherwise(pl.col("ts")).alias("ts"))
    assert run(ip_spray, logins=slow).height == 0


def _spray6(n, step, net="2001:db8:1:2"):
    """n accounts failing ``step`` minutes apart, each try from a fresh address of one IPv6 /64."""
    return pl.concat([_attempts(f"v{i}", [i * step], [False], ip=f"{net}::{i + 1:x}") for i in range(n)])


def test_ip_spray_counts_an_ipv6_64_network_together():
    """An IPv6 attacker takes a new address of its /64 for every account: the network fires, its finding's ip
    is the network; ten /64s of one /48 do not."""
    df = run(ip_spray, logins=_spray6(10, 5))
    assert df.select("user_id", "ip", "points", "first_ts", "last_ts").rows() == [
        (None, "2001:db8:1:2::/64", 0, at(0), at(45))]
    assert df["summary"][0] == "IPv6 network 2001:db8:1:2::/64 failed logins on 10 accounts within 60 min"
    assert ev(df)["n_accounts"] == 10
    apart = pl.concat([_attempts(f"v{i}", [i * 5], [False], ip=f"2001:db8:1:{i:x}::1") for i in range(10)])
    assert run(ip_spray, logins=apart).height == 0


def test_ip_spray_an_address_that_fired_covers_its_network():
    """One IPv6 address failing on ten accounts is the finding (its address), not also its /64 network; a second
    episode of the network alone, hours later, is its own finding."""
    one = pl.concat([_attempts(f"v{i}", [i], [False], ip="2001:db8:1:2::9") for i in range(10)])
    later = _spray6(10, 1).with_columns(pl.col("ts") + timedelta(hours=5))
    df = run(ip_spray, logins=pl.concat([one, later]))
    assert df.select("ip", "last_ts").sort("last_ts").rows() == [
        ("2001:db8:1:2::9", at(9)), ("2001:db8:1:2::/64", at(5 * 60 + 9))]


def test_password_churn_not_evaluated_when_the_logins_hold_no_password_change():
    """Keycloak writes UPDATE_PASSWORD: without an [events] mapping the data hold no password change at all, so
    the rule cannot tell (it said "ok, 0 findings")."""
    renamed = _changes("u1", [0, 1, 2, 3]).with_columns(event=pl.lit("update_password"))
    with pytest.raises(NotEvaluated, match="no password_change events in the logins"):
        run(password_churn, logins=renamed)
    assert run(password_churn, logins=pl.concat([renamed, _changes("u2", [0])], how="diagonal")).height == 0


@pytest.mark.parametrize("check", [login_failures, ip_spray])
def test_failure_rules_not_evaluated_when_the_logins_hold_no_login_event(check):
    """An Okta export scanned without [events] holds user.session.start, no `login`: five failures then a success,
    and one IP failing on ten accounts, are no evidence of "no attack" (both said "ok, 0 findings")."""
    okta = pl.concat([_attempts("carol", [0, 1, 2, 3, 4, 5], [False] * 5 + [True]),
                      *[_attempts(f"v{i}", [i], [False], ip="45.155.205.233") for i in range(10)]]
                     ).with_columns(event=pl.lit("user.session.start"))
    with pytest.raises(NotEvaluated, match="no login events in the logins"):
        run(check, logins=okta)
    # the same rows as logins fire
    assert run(check, logins=okta.with_columns(event=pl.lit("login"))).height == 1
