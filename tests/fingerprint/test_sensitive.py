from datetime import timedelta

import polars as pl
import pytest

from fraud.fingerprint.sensitive import new_device_sensitive
from fraud.registry import NotEvaluated
from tests.conftest import at
from tests.fingerprint.conftest import ev, iso, run


def _history(user, n_days, device="d1"):
    return pl.DataFrame({"user_id": user, "ts": [at(days=d) for d in range(n_days)], "event": "login",
                         "device_id": device})


def _events(user, rows):
    return pl.DataFrame({"user_id": user, "ts": [r[0] for r in rows], "event": [r[1] for r in rows],
                         "device_id": [r[2] for r in rows]})


def test_sensitive_change_right_after_new_device():
    lf = pl.concat([_history("u1", 7), _events("u1", [(at(days=10), "login", "d2"),
                                                      (at(days=10, minutes=30), "password_change", "d2"),
                                                      (at(days=11), "withdraw", "d1"),
                                                      (at(days=11, minutes=1), "bind_card", "d2")])])
    df = run(new_device_sensitive, logins=lf)
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["user_id"], r["device_id"], r["points"], r["first_ts"], r["last_ts"]) == (
        "u1", "d2", -20, at(days=10), at(days=11))
    assert ev(df) == {"first_sign_in": iso(days=10), "history_days": 7, "within_hours": 24, "min_history_days": 7,
                      "sensitive_events": [{"event": "password_change", "ts": iso(days=10, minutes=30),
                                            "device_id": "d2"},
                                           {"event": "withdraw", "ts": iso(days=11), "device_id": "d1"}],
                      "n_sensitive_events": 2}


def test_sensitive_quiet_without_history_or_later_than_24h():
    short = pl.concat([_history("u1", 6), _events("u1", [(at(days=10), "login", "d2"),
                                                         (at(days=10, minutes=5), "phone_change", "d2")])])
    late = pl.concat([_history("u2", 8), _events("u2", [(at(days=10), "login", "d2"),
                                                        (at(days=11, minutes=1), "phone_change", "d2")])])
    known = pl.concat([_history("u3", 8), _events("u3", [(at(days=10, minutes=5), "password_change", "d1")])])
    assert run(new_device_sensitive, logins=pl.concat([short, late, known])).height == 0


def test_not_evaluated_when_no_users_events_span_the_history_it_needs():
    """A 3-day export holds a textbook takeover (a new device, then a password change and a withdrawal 5 min later)
    that can never fire: no device can have 7 earlier days of history. It said "ok, 0 findings"."""
    takeover = _events("u1", [(at(days=0), "login", "d1"), (at(days=1), "login", "d1"), (at(days=2), "login", "d2"),
                              (at(days=2, minutes=5), "password_change", "d2"), (at(days=2, minutes=6), "withdraw",
                                                                               "d2")])
    with pytest.raises(NotEvaluated, match="no user's events span 7 days: a device is new only after 7 earlier days"):
        run(new_device_sensitive, logins=takeover)
    # one user whose events span 7 days: the rule can look (and finds nothing new here)
    assert run(new_device_sensitive, logins=pl.concat([takeover, _history("u2", 8)])).height == 0


def test_a_device_used_before_its_first_sign_in_is_not_new():
    """Payments from d2 on the history days make d2 known (section 3: "history without it"); failed logins from d2
    before its first successful one (an attacker guessing) do not."""
    def case(user, kind, success):
        before = pl.DataFrame({"user_id": user, "ts": [at(days=d, minutes=5) for d in range(7)], "event": kind,
                               "device_id": "d2", "success": success})
        return pl.concat([_history(user, 7), before,
                          _events(user, [(at(days=10), "login", "d2"),
                                         (at(days=10, minutes=30), "password_change", "d2")])], how="diagonal")
    df = run(new_device_sensitive, logins=pl.concat([case("known", "payment", True),
                                                      case("guessed", "login", False)], how="diagonal"))
    assert df["user_id"].to_list() == ["guessed"]
    assert ev(df)["history_days"] == 7


def test_the_new_devices_own_episode_before_the_sign_in_does_not_make_it_known():
    """A takeover resets the password from the new device, then signs in and withdraws: the device's events in the
    24 h (within_hours) before its first sign-in are that episode, not history with it, also across midnight (a
    reset at 23:55, the sign-in at 00:05); a use more than 24 h before makes it known."""
    def case(user, minutes_before, kind, sign_in=at(days=10)):
        return pl.concat([_history(user, 8), _events(user, [
            (sign_in - timedelta(minutes=minutes_before), kind, "d2"), (sign_in, "login", "d2"),
            (sign_in + timedelta(minutes=30), "withdraw", "d2")])])
    midnight = at(days=10, minutes=-8 * 60 + 5)  # 00:05 UTC (at() is 08:00): the reset at 23:55 the day before
    df = run(new_device_sensitive, logins=pl.concat([
        case("reset", 2, "password_change"), case("app", 1, "app_open"),
        case("midnight", 10, "password_change", midnight), case("day", 24 * 60, "payment"),
        case("known", 24 * 60 + 1, "payment")]))
    assert df["user_id"].to_list() == ["app", "day", "midnight", "reset"]
    assert [e["event"] for e in ev(df, 1)["sensitive_events"]] == ["withdraw"]
    assert df["first_ts"].to_list() == [at(days=10), at(days=10), midnight, at(days=10)]


def test_sensitive_not_evaluated_when_the_logins_hold_none_of_its_events():
    lf = pl.concat([_history("u1", 7), _events("u1", [(at(days=10), "login", "d2"),
                                                      (at(days=10, minutes=30), "UPDATE_PASSWORD", "d2")])])
    with pytest.raises(NotEvaluated, match="no password_change, phone_change, bind_card, withdraw events in the"):
        run(new_device_sensitive, logins=lf)
    # one of them anywhere in the data: evaluated (quiet here: the withdrawal is by a user without a new device)
    other = _events("u9", [(at(days=1), "withdraw", "d9")])
    assert run(new_device_sensitive, logins=pl.concat([lf, other])).height == 0


def test_a_window_lists_its_first_events_and_counts_them_all(monkeypatch):
    """A bot account's thousands of new devices and changes in one day: each finding lists the first LISTED_EVENTS
    of its window (the output was quadratic), counts all of them, and names every kind among them."""
    from fraud.fingerprint import sensitive

    monkeypatch.setattr(sensitive, "LISTED_EVENTS", 2)
    rows = [(at(days=10), "login", "d2"), (at(days=10, minutes=60), "login", "d3"),
            (at(days=10, minutes=30), "password_change", "d2"), (at(days=10, minutes=120), "withdraw", "d2"),
            (at(days=10, minutes=180), "bind_card", "d3"), (at(days=11, minutes=120), "phone_change", "d3")]
    lf = pl.concat([_history("u1", 7), _events("u1", rows)])
    df = run(new_device_sensitive, logins=lf)
    assert df["device_id"].to_list() == ["d2", "d3"]
    d2, d3 = ev(df, 0), ev(df, 1)
    assert (d2["n_sensitive_events"], [e["event"] for e in d2["sensitive_events"]]) == (
        3, ["password_change", "withdraw"])
    assert df["summary"][0] == ("bind_card, password_change, withdraw within 24 h of the first sign-in from new "
                                "device d2")
    # d3's window starts at its own first sign-in (day 10, 01:00): the change at 00:30 is before it
    assert (d3["n_sensitive_events"], [e["event"] for e in d3["sensitive_events"]]) == (2, ["withdraw", "bind_card"])
    assert df["last_ts"].to_list() == [at(days=10, minutes=180), at(days=10, minutes=180)]
