"""geo.cross_border_spend."""
import json
from datetime import date, timedelta

from fraud.geo.spend import cross_border_spend
from tests.geo.helpers import BKK, ctx_of, local, logins, pings, routine

START = date(2024, 3, 4)
D = date(2024, 3, 20)


def _pays(n, amount=12_000.0, where=BKK, hours=3, user="u1", event="payment"):
    return [{"ts": local(D, 8) + timedelta(hours=i * hours), "user_id": user, "event": event, "amount": amount,
             "lat": where[0], "lon": where[1], "device_id": "d1"} for i in range(n)]


def test_fires_on_five_large_payments_abroad_within_24h():
    loc = pings("u1", routine("u1", START, 14))
    rows = _pays(4) + _pays(1, event="withdraw", amount=50_000.0)
    rows[-1]["ts"] = local(D, 8) + timedelta(hours=13)
    df = cross_border_spend(ctx_of(logins=logins(rows), locations=loc)).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    assert (ev["events"], ev["total_amount"], ev["countries"], ev["home_country"]) == (5, 98_000.0, ["TH"], "CN")
    assert df["summary"][0] == ("5 payments/withdrawals of 10,000+ totalling 98,000 in Thailand within 13.0 h, "
                                "outside home country China")
    assert df["first_ts"][0] == local(D, 8) and df["last_ts"][0] == local(D, 21)


def test_quiet_with_four_small_spread_or_domestic_payments():
    loc = pings("u1", routine("u1", START, 14))
    for rows in (_pays(4), _pays(5, amount=9_999.0), _pays(5, hours=6.001), _pays(5, where=(31.23, 121.47))):
        assert cross_border_spend(ctx_of(logins=logins(rows), locations=loc)).collect().height == 0


def test_window_is_closed():
    """Five payments spanning exactly 24 h are within 24 h."""
    loc = pings("u1", routine("u1", START, 14))
    df = cross_border_spend(ctx_of(logins=logins(_pays(5, hours=6)), locations=loc)).collect()
    assert df.height == 1 and json.loads(df["evidence"][0])["hours"] == 24.0


def test_countries_from_ip_and_names_without_positions():
    home = [{"ts": local(START, 9 + i), "user_id": "u2", "ip": "114.114.114.114"} for i in range(10)]
    abroad = [{"ts": local(D, 9 + i), "user_id": "u2", "ip": "8.8.8.8", "event": "withdraw", "amount": 20_000.0}
              for i in range(5)]
    df = cross_border_spend(ctx_of(logins=logins(home + abroad))).collect()
    assert json.loads(df["evidence"][0])["countries"] == ["US"]
    # one long burst gives one finding
    more = abroad + [{**abroad[0], "ts": local(D, 20)}, {**abroad[0], "ts": local(D, 22)}]
    assert cross_border_spend(ctx_of(logins=logins(home + more))).collect().height == 1
