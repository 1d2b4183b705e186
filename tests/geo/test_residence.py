"""geo.residence_change: monthly homes and moves (contract section 5)."""
import json
from datetime import date, timedelta

import pytest
from geopy.distance import great_circle

from fraud.geo.clusters import M_PER_DEG
from fraud.geo.residence import monthly_homes, residence_change
from fraud.registry import NotEvaluated
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
    # the inferred homes each move joins, with their distance
    homes = ev["homes"]
    assert [h["month"] for h in homes] == ["2024-03", "2024-05"]
    got = [v for h in homes for v in (h["from_lat"], h["from_lon"], h["to_lat"], h["to_lon"])]
    assert got == pytest.approx([*SH, *HZ, *HZ, *NJ])
    assert homes[0]["km"] == round(great_circle(SH, HZ).km, 2)
    assert df["first_ts"][0] == local(date(2024, 3, 1), 23) and df["last_ts"][0] == local(date(2024, 5, 1), 23)
    assert df["summary"][0].startswith("Home moved 2 times within 365 days: 2024-03: Shanghai -> Hangzhou (1")


def test_one_move_or_unconfirmed_moves_are_quiet():
    one = _months(SH, SH, HZ, HZ, HZ, HZ)
    assert residence_change(ctx_of(logins=logins([]), locations=one)).collect().height == 0
    # a month in Hangzhou and back: the stay is not confirmed by the next month, and coming home is no move
    trip = _months(SH, SH, HZ, SH, SH, SH)
    assert residence_change(ctx_of(logins=logins([]), locations=trip)).collect().height == 0


def test_month_long_holidays_are_not_moves():
    # two month-long trips (Hangzhou, Nanjing) from one Shanghai home: no move at all
    holidays = _months(SH, HZ, SH, SH, NJ, SH)
    assert residence_change(ctx_of(logins=logins([]), locations=holidays)).collect().height == 0
    # one real move (Shanghai -> Hangzhou) with a month in Nanjing between two Hangzhou months: one move
    moved = _months(SH, SH, HZ, NJ, HZ, HZ)
    assert residence_change(ctx_of(logins=logins([]), locations=moved)).collect().height == 0
    # a second real move still fires, with the holiday month left out of the moves
    twice = _months(SH, HZ, HZ, SH, HZ, NJ, NJ, nights=(31, 29, 31, 30, 31, 30, 31))
    df = residence_change(ctx_of(logins=logins([]), locations=twice)).collect()
    assert [m.split(" (")[0] for m in json.loads(df["evidence"][0])["moves"]] == [
        "2024-02: Shanghai -> Hangzhou", "2024-06: Hangzhou -> Nanjing"]


def test_months_with_fewer_than_ten_nights_do_not_count():
    thin = _months(SH, SH, HZ, HZ, NJ, NJ, nights=(31, 29, 9, 9, 31, 30))  # Hangzhou months too thin
    ctx = ctx_of(logins=logins([]), locations=thin)
    assert residence_change(ctx).collect().height == 0
    assert ctx.notes["geo.residence_change"] == {"user_months_with_min_nights": 4, "user_months_below_min_nights": 2}


def test_no_month_with_ten_nights_is_not_evaluated_never_no_move():
    """Eight nights a month and two real moves: no monthly home can be inferred, so the rule cannot tell."""
    sparse = _months(SH, SH, HZ, HZ, NJ, NJ, nights=(8,) * 6)
    ctx = ctx_of(logins=logins([]), locations=sparse)
    with pytest.raises(NotEvaluated, match="no user has a month with 10 nights of positions"):
        residence_change(ctx)
    assert ctx.notes["geo.residence_change"] == {"user_months_with_min_nights": 0, "user_months_below_min_nights": 6}


def test_moves_whose_months_start_365_days_apart_are_within_365_days():
    """Moves dated January 2023 and January 2024 (month starts exactly 365 days apart) are within 365 days; a
    second move dated February 2024 is not."""
    def months(*spec):
        rows = []
        for (y, m), home in spec:
            rows += routine("u1", date(y, m, 1), 20, home=home, work_days=False)
        return pings("u1", rows)

    jan = months(((2022, 12), SH), ((2023, 1), HZ), ((2023, 2), HZ), ((2024, 1), NJ), ((2024, 2), NJ))
    df = residence_change(ctx_of(logins=logins([]), locations=jan)).collect()
    assert df.height == 1 and json.loads(df["evidence"][0])["n_moves"] == 2
    feb = months(((2022, 12), SH), ((2023, 1), HZ), ((2023, 2), HZ), ((2024, 2), NJ), ((2024, 3), NJ))
    assert residence_change(ctx_of(logins=logins([]), locations=feb)).collect().height == 0


def test_a_month_whose_flats_tie_on_nights_takes_the_one_with_more_time():
    """March: 6 nights at flat A with two fixes an hour apart and 6 at B (3 km off) with a burst of four fixes
    within a minute (more fixes, less time). The month's home is A, where the nights were spent."""
    a, b = SH, (SH[0] + 3000 / M_PER_DEG, SH[1])
    rows = []
    for i in range(12):
        d = date(2024, 3, 1) + timedelta(days=i)
        if i % 2 == 0:
            rows += [(local(d, 23), a), (local(d + timedelta(days=1), 0), a)]
        else:
            rows += [(local(d, 23) + timedelta(seconds=15 * k), b) for k in range(4)]
    month = monthly_homes(ctx_of(logins=logins([]), locations=pings("u1", rows)), 10).collect().row(0, named=True)
    assert month["month_nights"] == 12 and month["nights"] == 6
    assert (month["lat"], month["lon"]) == pytest.approx(a)
