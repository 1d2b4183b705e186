"""geo.residence_change: monthly homes and moves (contract section 5)."""
import json
from datetime import date

from fraud.geo.residence import residence_change
from tests.geo.helpers import HZ, NJ, SH, ctx_of, local, logins, pings, routine


def _months(*homes, nights=(31, 29, 31, 30, 31, 30)):
    rows = []
    for i, h in enumerate(homes):
        rows += routine("u1", date(2024, 1 + i, 1), nights[i], home=h, work_days=False)
    return pings("u1", rows)


def test_two_moves_within_a_year_fire():
    df = residence_change(ctx_of(logins=logins([]), locations=_months(SH, SH, HZ, HZ, NJ, NJ))).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    assert ev["n_moves"] == 2
    assert [m.split(" (")[0] for m in ev["moves"]] == ["2024-03: Shanghai -> Hangzhou", "2024-05: Hangzhou -> Nanjing"]
    assert df["first_ts"][0] == local(date(2024, 3, 1), 23) and df["last_ts"][0] == local(date(2024, 5, 1), 23)
    assert df["summary"][0].startswith("Home moved 2 times within 365 days: 2024-03: Shanghai -> Hangzhou (1")


def test_one_move_or_unconfirmed_moves_are_quiet():
    one = _months(SH, SH, HZ, HZ, HZ, HZ)
    assert residence_change(ctx_of(logins=logins([]), locations=one)).collect().height == 0
    # a month in Hangzhou and back: the stay is not confirmed by the next month, the return is one move
    trip = _months(SH, SH, HZ, SH, SH, SH)
    assert residence_change(ctx_of(logins=logins([]), locations=trip)).collect().height == 0


def test_months_with_fewer_than_ten_nights_do_not_count():
    thin = _months(SH, SH, HZ, HZ, NJ, NJ, nights=(31, 29, 9, 9, 31, 30))  # Hangzhou months too thin
    assert residence_change(ctx_of(logins=logins([]), locations=thin)).collect().height == 0
