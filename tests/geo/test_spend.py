"""geo.cross_border_spend."""
import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from fraud.geo.spend import cross_border_spend
from fraud.registry import NotEvaluated
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


def test_a_long_spree_shows_its_whole_burst_beside_the_24_h_that_reached_the_limit():
    """18 large payments abroad, one an hour: the finding is the 24 h ending at the fifth (the score's window
    anchor), and its evidence and summary also give the whole burst (18, 216,000, until the last)."""
    loc = pings("u1", routine("u1", START, 14))
    df = cross_border_spend(ctx_of(logins=logins(_pays(18, hours=1)), locations=loc)).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    assert (ev["events"], ev["total_amount"], ev["burst_events"], ev["burst_total_amount"]) == (5, 60_000.0, 18,
                                                                                                216_000.0)
    assert ev["burst_last_ts"] == (local(D, 8) + timedelta(hours=17)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert df["summary"][0].endswith("; 18 in the burst, totalling 216,000, until "
                                     + (local(D, 8) + timedelta(hours=17)).strftime("%Y-%m-%d %H:%M UTC"))
    assert (df["first_ts"][0], df["last_ts"][0]) == (local(D, 8), local(D, 12))
    # a burst of exactly five says nothing more
    five = cross_border_spend(ctx_of(logins=logins(_pays(5)), locations=loc)).collect()
    assert json.loads(five["evidence"][0])["burst_events"] == 5 and "burst" not in five["summary"][0]


def test_a_ledgers_negative_amounts_are_money_moved():
    """Withdrawals written with a ledger's sign (-12,000: money out) are large ones too; negative payments are
    refunds."""
    loc = pings("u1", routine("u1", START, 14))
    df = cross_border_spend(ctx_of(logins=logins(_pays(5, amount=-12_000.0, event="withdraw")), locations=loc)).collect()
    assert df.height == 1 and json.loads(df["evidence"][0])["total_amount"] == 60_000.0
    assert cross_border_spend(ctx_of(logins=logins(_pays(5, amount=-9_999.0)), locations=loc)).collect().height == 0
    # a negative payment is a refund, money coming back: three purchases and two refunds are no five payments
    refunds = _pays(5)
    for r in refunds[3:]:
        r["amount"] = -12_000.0
    assert cross_border_spend(ctx_of(logins=logins(refunds), locations=loc)).collect().height == 0


def test_declined_payments_moved_no_money():
    """A card purchase abroad declined four times and approved on the fifth try is one payment; the declined
    attempts are counted in the notes. Five approved ones still fire."""
    loc = pings("u1", routine("u1", START, 14))
    rows = _pays(5, hours=0.02)
    for r in rows[:4]:
        r["success"] = False
    rows[4]["success"] = True
    ctx = ctx_of(logins=logins(rows), locations=loc)
    assert cross_border_spend(ctx).collect().height == 0
    assert ctx.notes["geo.cross_border_spend"]["large_events_declined"] == 4
    approved = [{**r, "success": True} for r in rows]
    assert cross_border_spend(ctx_of(logins=logins(approved), locations=loc)).collect().height == 1


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


def test_not_evaluated_without_payments_or_when_no_large_one_has_a_country():
    loc = pings("u1", routine("u1", START, 14))
    # logins only: the rule's events are not in the data, so it cannot tell (never "clean")
    only_logins = [{"ts": local(D, 9), "user_id": "u1", "ip": "114.114.114.114"}]
    with pytest.raises(NotEvaluated, match="no payment or withdraw events in the logins"):
        cross_border_spend(ctx_of(logins=logins(only_logins), locations=loc))
    # six large withdrawals carrying no ip, country or lat/lon: none can be told in or out of the home country
    blind = [{k: v for k, v in r.items() if k not in ("lat", "lon")} for r in _pays(6, event="withdraw")]
    ctx = ctx_of(logins=logins(only_logins + blind), locations=loc)
    with pytest.raises(NotEvaluated, match="none of the payment or withdraw events of 10,000\\+ has a country"):
        cross_border_spend(ctx)
    assert ctx.notes["geo.cross_border_spend"] == {"large_events": 6, "large_events_country_unknown": 6,
                                                   "large_events_declined": 0}
    # with five placed abroad beside them: evaluated, fires, and the blind one is counted
    ctx = ctx_of(logins=logins(_pays(5) + blind[:1]), locations=loc)
    assert cross_border_spend(ctx).collect().height == 1
    assert ctx.notes["geo.cross_border_spend"] == {"large_events": 6, "large_events_country_unknown": 1,
                                                   "large_events_declined": 0}
    # small payments only: evaluated and quiet
    ctx = ctx_of(logins=logins(_pays(5, amount=50.0)), locations=loc)
    assert cross_border_spend(ctx).collect().height == 0
    assert ctx.notes["geo.cross_border_spend"] == {"large_events": 0, "large_events_country_unknown": 0,
                                                   "large_events_declined": 0}


@pytest.mark.parametrize("name", ["China", "People's Republic of China", "中国", "CHN", "cn", " china "])
def test_a_home_country_written_as_any_known_name_is_home(name):
    """Pings put home in Shanghai (CN); five large payments whose only place is the country column, spelled as a
    name, an ISO code or in Chinese: the home country, no finding."""
    loc = pings("u1", routine("u1", START, 14))
    rows = [{k: v for k, v in r.items() if k not in ("lat", "lon")} | {"country": name} for r in _pays(5)]
    assert cross_border_spend(ctx_of(logins=logins(rows), locations=loc)).collect().height == 0


def test_an_unrecognised_country_is_no_country_counted_never_abroad():
    """'Narnia' names no country: its payments cannot be told in or out of the home country (not evaluated with
    nothing else placed), and the scan's notes count and list the name; 'Thailand' beside it fires."""
    loc = pings("u1", routine("u1", START, 14))
    narnia = [{k: v for k, v in r.items() if k not in ("lat", "lon")} | {"country": "Narnia"} for r in _pays(5)]
    ctx = ctx_of(logins=logins(narnia), locations=loc)
    with pytest.raises(NotEvaluated, match="has a country"):
        cross_border_spend(ctx)
    assert ctx.notes["geo.positions"]["events_with_a_country_not_recognised"] == 5
    assert ctx.notes["geo.positions"]["countries_not_recognised"] == {"Narnia": 5}
    thai = [r | {"country": "Thailand"} for r in narnia]
    df = cross_border_spend(ctx_of(logins=logins(thai), locations=loc)).collect()
    assert json.loads(df["evidence"][0])["countries"] == ["TH"]


def test_a_burst_longer_than_the_point_window_goes_on_in_the_next():
    """Five large payments abroad every day for 60 days chain into one burst: its finding (the 24 h ending at the
    payment that first reached the limit), then one for the next 30-day point window from that window's payments
    alone; a busier day later in the first window changes neither (the score's windows start where these do)."""
    loc = pings("u1", routine("u1", START, 14))
    rows = [r | {"ts": r["ts"] + timedelta(days=d)} for d in range(60) for r in _pays(5, hours=3)]
    df = cross_border_spend(ctx_of(logins=logins(rows), locations=loc)).collect().sort("first_ts")
    # the payments 08:00-20:00 every day, 12 h apart overnight: one chain; window 1 starts after day 30's 08:00
    assert df["first_ts"].to_list() == [local(D, 8), local(D, 11) + timedelta(days=30)]
    assert [json.loads(e)["events"] for e in df["evidence"]] == [5, 5]
    busy = rows + [r | {"ts": r["ts"] + timedelta(days=25, hours=1)} for r in _pays(3, hours=3)]
    df = cross_border_spend(ctx_of(logins=logins(busy), locations=loc)).collect().sort("first_ts")
    assert df["first_ts"].to_list() == [local(D, 8), local(D, 11) + timedelta(days=30)]


def test_a_burst_straddling_a_point_window_start_is_found():
    """Five payments on day 0 (the first finding), then six within 4 h around the point window's start on day 30:
    the whole-history sweep finds them."""
    loc = pings("u1", routine("u1", START, 14))
    late = [r | {"ts": local(D, 6) + timedelta(days=30, minutes=40 * i)} for i, r in enumerate(_pays(6))]
    df = cross_border_spend(ctx_of(logins=logins(_pays(5) + late), locations=loc)).collect().sort("first_ts")
    assert [json.loads(e)["events"] for e in df["evidence"]] == [5, 5]
    assert df["last_ts"].to_list()[1] == local(D, 6) + timedelta(days=30, minutes=160)


HANOI = (21.0285, 105.8542)


def test_a_hanoi_home_is_in_vietnam_and_bangkok_in_thailand():
    """tzfpy gives northern Vietnam Thailand's zone (Asia/Bangkok): a Hanoi home read as Thailand made everyday
    payments in Vietnam spending abroad (audit A1). A Bangkok home paying in Hanoi is still abroad."""
    tz = ZoneInfo("Asia/Bangkok")
    for home, where, fired in ((HANOI, HANOI, 0), (HANOI, (21.03, 105.85), 0), (BKK, HANOI, 1)):
        loc = pings("u1", routine("u1", START, 14, home=home, work=home, tz=tz, work_days=False))
        rows = [{**r, "lat": None, "lon": None, "country": "VN"} for r in _pays(5, where=where)]
        rows += _pays(5, where=where, user="u1")
        df = cross_border_spend(ctx_of(logins=logins(rows), locations=loc)).collect()
        assert df.height == fired
        if fired:
            assert json.loads(df["evidence"][0])["home_country"] == "TH"


def test_a_spree_abroad_does_not_make_the_home_country():
    """Without a home place, the home country is the home city's (4 days in Berlin, DE) or, with countries only,
    the country of the most days: six payments in France on one day outnumber the four home logins by events, not
    by days. Before, the spree's country became the home country and the spree was not abroad (audit D1)."""
    by_name = [{"ts": local(START + timedelta(days=i), 9), "user_id": "names", "city": "Berlin", "country": "DE"}
               for i in range(4)]
    by_ip = [{"ts": local(START + timedelta(days=i), 9), "user_id": "ips", "ip": "5.9.0.1"} for i in range(4)]
    spree = [{"ts": local(D, 9 + i), "user_id": u, "event": "payment", "amount": 12_000.0, **where}
             for u, where in (("names", {"country": "France"}), ("ips", {"ip": "62.210.0.1"})) for i in range(6)]
    df = cross_border_spend(ctx_of(logins=logins(by_name + by_ip + spree))).collect().sort("user_id")
    assert df["user_id"].to_list() == ["ips", "names"]
    assert [json.loads(e)["home_country"] for e in df["evidence"]] == ["DE", "DE"]
    # a single day at home against the spree's day: a tie on days goes to more events (France, no finding)
    one_day = [r for r in by_ip if r["ts"] == local(START, 9)]
    assert cross_border_spend(ctx_of(logins=logins(one_day + spree[6:]))).collect().height == 0


def test_totals_are_exact_whatever_the_row_order():
    """Totals are fixed-point sums: exact, so independent of the order the engine adds rows in (a float sum's
    last bit followed Polars' partitioning: on the 1M bench set a sliced scan's summary said 210,212 where the
    in-memory one said 210,211, an operations audit; that comparison is the shards equivalence run)."""
    amounts = [12205.7, 14120.9, 40386.8, 17237.9, 10695.2]  # a float sum gives 94646.50000000001 in some orders
    rows = [{"ts": local(D, 8 + i), "user_id": "u1", "event": "payment", "amount": a, "lat": BKK[0],
             "lon": BKK[1]} for i, a in enumerate(amounts)]
    home = pings("u1", routine("u1", START, 14))
    out = [cross_border_spend(ctx_of(logins=logins(r), locations=home)).collect() for r in (rows, rows[::-1])]
    assert [json.loads(o["evidence"][0])["total_amount"] for o in out] == [94646.5, 94646.5]
    assert out[0]["summary"].to_list() == out[1]["summary"].to_list()
