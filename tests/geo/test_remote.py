"""geo.remote_logins and geo.away_from_home on tiny inline frames."""
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from fraud.geo.places import home_side, local_positions
from fraud.geo.positions import positions as positions_of
from fraud.geo.remote import away_from_home, remote_logins
from fraud.registry import NotEvaluated
from tests.geo.helpers import BJ, SH, ctx_of, local, logins, pings, routine

START = date(2024, 3, 4)


def _bj_logins(days_hours, user="u1", **extra):
    return [{"ts": local(d, h), "user_id": user, "lat": BJ[0], "lon": BJ[1], **extra} for d, h in days_hours]


def test_remote_logins_fire_with_three_logins_outside_home():
    loc = pings("u1", routine("u1", START, 14))
    lg = logins(_bj_logins([(date(2024, 3, 20), 10), (date(2024, 3, 21), 11), (date(2024, 3, 22), 12)]))
    df = remote_logins(ctx_of(logins=lg, locations=loc)).collect()
    assert df.height == 1
    r = df.row(0, named=True)
    assert r["summary"] == "3 logins in March 2024 from outside Shanghai: Beijing"
    ev = json.loads(r["evidence"])
    assert ev["month"] == "2024-03" and ev["logins"] == 3 and ev["places"] == ["Beijing"]
    assert r["first_ts"] == local(date(2024, 3, 20), 10) and r["last_ts"] == local(date(2024, 3, 22), 12)


def test_remote_logins_quiet_with_two_or_a_failed_one():
    loc = pings("u1", routine("u1", START, 14))
    rows = _bj_logins([(date(2024, 3, 20), 10), (date(2024, 3, 21), 11)])
    rows += _bj_logins([(date(2024, 3, 22), 12)], success=False)
    rows += _bj_logins([(date(2024, 3, 23), 12)], event="payment")
    assert remote_logins(ctx_of(logins=logins(rows), locations=loc)).collect().height == 0


def test_remote_logins_not_evaluated_when_no_login_can_be_placed():
    """Logins through a reverse proxy (private IPs: no country) cannot be told from home: "not evaluated", with
    counts, never "no remote logins"."""
    loc = pings("u1", routine("u1", START, 14))
    proxied = [{"ts": local(date(2024, 3, 20 + i), 10), "user_id": "u1", "ip": "10.0.0.7"} for i in range(4)]
    ctx = ctx_of(logins=logins(proxied), locations=loc)
    with pytest.raises(NotEvaluated, match="no successful login event can be placed against a home"):
        remote_logins(ctx)
    assert ctx.notes["geo.remote_logins"] == {"logins_without_position": 4, "logins_side_unknown": 0}
    # three placed in Beijing: evaluated (and fires); the proxied ones still counted
    ctx = ctx_of(logins=logins(proxied + _bj_logins([(date(2024, 3, 25), 10), (date(2024, 3, 26), 10),
                                                     (date(2024, 3, 27), 10)])), locations=loc)
    assert remote_logins(ctx).collect().height == 1
    assert ctx.notes["geo.remote_logins"] == {"logins_without_position": 4, "logins_side_unknown": 0}
    # placed by lat/lon, but daytime only (no night: no home) and no city or country to compare by: side unknown
    fixes = [{"ts": local(date(2024, 3, 20 + i), 10), "user_id": "u9", "lat": BJ[0], "lon": BJ[1]} for i in range(2)]
    ctx = ctx_of(logins=logins(fixes))
    with pytest.raises(NotEvaluated, match="no successful login event can be placed against a home"):
        remote_logins(ctx)
    assert ctx.notes["geo.remote_logins"] == {"logins_without_position": 0, "logins_side_unknown": 2}


def test_remote_logins_months_are_local_calendar_months():
    loc = pings("u1", routine("u1", START, 14))
    # 2024-04-01 01:00 in Shanghai is still March 31 in UTC: two in March, one in April (local)
    lg = logins(_bj_logins([(date(2024, 3, 30), 10), (date(2024, 3, 31), 10), (date(2024, 4, 1), 1)]))
    assert remote_logins(ctx_of(logins=lg, locations=loc)).collect().height == 0


def test_remote_logins_by_city_names_and_by_countries():
    by_name = [{"ts": local(START + timedelta(days=i), 9), "user_id": "n1", "city": c}
               for i, c in enumerate(["Shanghai"] * 4 + ["Chengdu", "Beijing", "Beijing"])]
    by_cc = [{"ts": local(START + timedelta(days=i), 9), "user_id": "c1", "ip": ip}
             for i, ip in enumerate(["114.114.114.114"] * 4 + ["8.8.8.8"] * 3)]
    df = remote_logins(ctx_of(logins=logins(by_name + by_cc))).collect().sort("user_id")
    assert df["summary"].to_list() == ["3 logins in March 2024 from outside home country China: United States",
                                       "3 logins in March 2024 from outside Shanghai: Chengdu, Beijing"]


def test_spellings_of_the_home_city_are_the_home_city():
    """Beijing / Beijing Shi / 北京 name one gazetteer city: no logins from outside the home city."""
    rows = [{"ts": local(START + timedelta(days=i), 9), "user_id": "n1", "city": c, "country": "CN"}
            for i, c in enumerate(["Beijing"] * 4 + ["北京", "Beijing Shi", " beijing "])]
    assert remote_logins(ctx_of(logins=logins(rows))).collect().height == 0


def test_away_from_home_fires_below_80_percent():
    loc = pings("u1", routine("u1", START, 14, work_days=False)  # 28 home pings in March
                + [(local(date(2024, 3, 25), h), BJ) for h in range(8, 18)])  # 10 in Beijing
    df = away_from_home(ctx_of(logins=logins([]), locations=loc)).collect()
    assert df.height == 1
    ev = json.loads(df["evidence"][0])
    assert (ev["month"], ev["events"], ev["in_home_city"], ev["home_share"]) == ("2024-03", 38, 28, 0.737)
    assert ev["away_places"] == ["Beijing"]
    assert df["summary"][0] == "Only 74% of 38 positioned events in March 2024 were in Shanghai (mostly Beijing)"


def test_a_share_just_under_80_percent_is_not_said_as_80():
    """39 of 49 positioned events at home: 79.59%, under the 80% limit, read "Only 80%" (rounded to whole %)."""
    loc = pings("u1", routine("u1", START, 14, work_days=False)  # 28 home pings in March
                + [(local(date(2024, 3, 20 + i // 4), 12 + i % 4), SH) for i in range(11)]
                + [(local(date(2024, 3, 25), h), BJ) for h in range(8, 18)])  # 10 in Beijing
    df = away_from_home(ctx_of(logins=logins([]), locations=loc)).collect()
    ev = json.loads(df["evidence"][0])
    assert (ev["events"], ev["in_home_city"], ev["home_share"]) == (49, 39, 0.796)
    assert df["summary"][0] == "Only 79.6% of 49 positioned events in March 2024 were in Shanghai (mostly Beijing)"


def test_away_from_home_quiet_at_80_percent_or_too_few_events():
    base = routine("u1", START, 14, work_days=False)
    loc = pings("u1", base + [(local(date(2024, 3, 25), h), BJ) for h in range(8, 15)])  # 28 of 35 = 80%
    assert away_from_home(ctx_of(logins=logins([]), locations=loc)).collect().height == 0
    # 10 home pings + 9 away = 19 positioned events < 20: not judged
    few = pings("u2", routine("u2", START, 5, work_days=False) + [(local(date(2024, 3, 25), h), BJ) for h in range(9)])
    assert few.height == 19
    ctx = ctx_of(logins=logins([]), locations=few)
    with pytest.raises(NotEvaluated, match="no user has a month with 20 positioned events"):  # not "clean"
        away_from_home(ctx)
    assert ctx.notes["geo.away_from_home"] == {"positions_side_unknown": 0, "user_months_tested": 0,
                                               "user_months_below_min_events": 1}
    both = ctx_of(logins=logins([]), locations=pl.concat([loc, few]))  # u1's month is tested, u2's counted
    assert away_from_home(both).collect().height == 0
    assert both.notes["geo.away_from_home"] == {"positions_side_unknown": 0, "user_months_tested": 1,
                                                "user_months_below_min_events": 1}


def _names(user, cities, country="US"):
    return [{"ts": local(START + timedelta(days=i), 9), "user_id": user, "city": c, "country": country}
            for i, c in enumerate(cities)]


def test_a_district_of_the_home_city_is_home_and_an_unplaced_name_cannot_be_told():
    """Without a home place, names are compared by the city they mean: Brooklyn and NYC (GeoNames' Manhattan) are
    parts of New York City, so inside a "New York" home, and so is "Manhattan, US" (Manhattan, Kansas, has 3% of
    its people); "Frankfurt a.M." is placed nowhere: cannot be told, not outside (they were 3 remote logins each,
    audit A7).
    Another city still is outside: Boston and Chicago, and "Xyzzyville, DE" for a US home (another country)."""
    rows = (_names("ny", ["New York"] * 4 + ["Brooklyn", "Manhattan", "NYC"])
            + _names("ffm", ["Frankfurt am Main"] * 4 + ["Frankfurt a.M."] * 3, "DE")
            + _names("far", ["New York"] * 4 + ["Boston", "Chicago", "Brooklyn"])
            + _names("cc", ["New York"] * 4) + _names("cc", [None] * 4 + ["Xyzzyville"] * 3, "DE")[4:]
            + _names("same", ["Xyzzyville"] * 4 + ["xyzzyville "] * 3))
    ctx = ctx_of(logins=logins(rows))
    df = remote_logins(ctx).collect().sort("user_id")
    assert df.select("user_id", "summary").rows() == [
        ("cc", "3 logins in March 2024 from outside New York City: Xyzzyville")]
    from fraud.geo.places import home_side, local_positions
    side = local_positions(ctx).select("user_id", "city").with_columns(home_side(ctx, 50.0).alias("out"))
    got = {u: side.filter(pl.col("user_id") == u)["out"].to_list()[4:] for u in ("ny", "ffm", "far", "cc", "same")}
    assert got == {"ny": [False, False, False], "ffm": [None, None, None], "far": [True, True, False],
                   "cc": [True, True, True], "same": [False, False, False]}



def test_a_name_that_cannot_mean_an_ambiguous_home_city_is_outside_it():
    """A home known only as "Changsha" (ambiguous: Changsha, Hunan, and a Changsha of 688k in Guangdong): logins
    from Kunming cannot be in any Changsha, so they are outside; "Changsha" itself is home."""
    rows = _names("cs", ["Changsha"] * 4 + ["Kunming"] * 3 + ["Changsha"], "CN")
    df = remote_logins(ctx_of(logins=logins(rows))).collect()
    assert df["summary"].to_list() == ["3 logins in March 2024 from outside Changsha: Kunming"]


PARIS, PARIS_WORK = (48.8566, 2.3522), (48.8925, 2.2369)  # Paris centre, La Défense (~9 km)
ANNEMASSE, GENEVA = (46.1934, 6.2342), (46.21, 6.143)  # home in France, office in Switzerland, 7 km apart
TZ_PARIS = ZoneInfo("Europe/Paris")


def _country_only(user, countries, day0=20):
    """Successful logins placed only in a country (no lat/lon, no city), one a day at 10:00 Paris time."""
    return [{"ts": local(date(2024, 3, day0 + i), 10, tz=TZ_PARIS), "user_id": user, "country": c}
            for i, c in enumerate(countries)]


def test_a_country_only_login_against_a_home_place_is_outside_only_when_the_country_cannot_reach_home():
    """Audit M1: a home place is known (GPS nights), a login is placed only in a country. It is outside the home
    city only when no city of that country lies within reach of home (home_radius_km + city_name_accuracy_km): a
    Japanese login for a Paris home is; a Swiss one for an Annemasse home (the Geneva office network, 7 km away)
    cannot be told, nor can one in the home country (a country says nothing about 50 km)."""
    loc = pl.concat([pings("paris", routine("paris", START, 14, PARIS, PARIS_WORK, TZ_PARIS)),
                     pings("frontalier", routine("frontalier", START, 14, ANNEMASSE, GENEVA, TZ_PARIS))])
    rows = (_country_only("paris", ["JP", "Japan", "JP", "CH", "FR"])
            + _country_only("frontalier", ["CH", "Switzerland", "CH", "FR", "JP"]))
    ctx = ctx_of(logins=logins(rows), locations=loc)
    df = remote_logins(ctx).collect()
    assert df.select("user_id", "summary").rows() == [
        ("paris", "4 logins in March 2024 from outside Paris: Japan, Switzerland")]
    assert json.loads(df["evidence"][0])["logins"] == 4
    assert ctx.notes["geo.remote_logins"] == {"logins_without_position": 0, "logins_side_unknown": 5}
    side = local_positions(ctx).with_columns(home_side(ctx, 50.0).alias("out")).filter(pl.col("kind") == "event")
    assert side.select("user_id", "country", "out").rows() == [
        ("frontalier", "CH", None), ("frontalier", "CH", None), ("frontalier", "CH", None),
        ("frontalier", "FR", None), ("frontalier", "JP", True),
        ("paris", "JP", True), ("paris", "JP", True), ("paris", "JP", True), ("paris", "CH", True),
        ("paris", "FR", None)]


def test_a_frontaliers_office_logins_known_only_by_the_office_ip_are_no_remote_logins():
    """The audit's reproduction (min/M6_border_office_ip): three web logins from the Geneva office's Swiss IP and
    one GPS login at home: no finding (it was "3 logins in March 2024 from outside Annemasse: Switzerland")."""
    loc = pings("frontalier", routine("frontalier", START, 14, ANNEMASSE, GENEVA, TZ_PARIS))
    rows = [{"ts": local(date(2024, 3, 20 + i), 10, tz=TZ_PARIS), "user_id": "frontalier", "ip": "195.176.1.1"}
            for i in range(3)]
    rows.append({"ts": local(date(2024, 3, 23), 20, tz=TZ_PARIS), "user_id": "frontalier", "lat": ANNEMASSE[0],
                 "lon": ANNEMASSE[1]})
    ctx = ctx_of(logins=logins(rows), locations=loc)
    assert positions_of(ctx).filter(pl.col("kind") == "event")["source"].to_list() == ["ip_country"] * 3 + ["latlon"]
    assert remote_logins(ctx).collect().height == 0
    assert ctx.notes["geo.remote_logins"] == {"logins_without_position": 0, "logins_side_unknown": 3}
    # away_from_home leaves them out of its shares too, and says how many
    away_from_home(ctx).collect()
    assert ctx.notes["geo.away_from_home"]["positions_side_unknown"] == 3


def test_the_home_radius_is_measured_on_the_ellipsoid_near_its_edge():
    # Audit s22 F2: 50.05 km north of an Accra home on WGS84 (49.95 km net of the 100 m GPS accuracy: inside) is
    # 50.33 km on the sphere, which called three logins there remote; 50.25 km (50.15 net) is outside either way
    home = (5.6037, -0.1870)
    nights = [{"ts": datetime(2026, 2, d, 23, tzinfo=timezone.utc), "user_id": "u1", "lat": home[0], "lon": home[1]}
              for d in (10, 11, 12, 13)]

    def away(lat: float) -> list[dict]:
        return [{"ts": datetime(2026, 2, 20, h, tzinfo=timezone.utc), "user_id": "u1", "lat": lat, "lon": home[1]}
                for h in (10, 12, 14)]

    ctx = ctx_of(logins=logins(nights + away(6.056290)))
    assert remote_logins(ctx).collect().height == 0
    assert home_side(ctx, 50.0).to_list() == [False] * 7
    ctx = ctx_of(logins=logins(nights + away(6.058099)))
    assert remote_logins(ctx).collect()["summary"].to_list() == [
        "3 logins in February 2026 from outside Accra: Koforidua"]


def test_the_home_country_is_the_home_citys_not_the_most_frequent_event_country():
    """A Paris home by name (4 days) with 3 France-only and 8 Germany-only logins: the home country is France, so
    the German logins are outside and the French ones are not (before: home country DE from the most events, and
    "3 logins from outside Paris: France"). A registered Paris, FR with only German IP logins: outside France
    (before: the home country came from the German logins, and nothing fired). Audit D2."""
    rows = (_names("paris", ["Paris"] * 4, "FR") + [
        {"ts": local(START + timedelta(days=5 + i), 9), "user_id": "paris", "country": "France"} for i in range(3)]
        + [{"ts": local(START + timedelta(days=9 + i), 9), "user_id": "paris", "country": "Germany"}
           for i in range(8)]
        + [{"ts": local(START + timedelta(days=i), 9), "user_id": "reg", "ip": "5.9.0.1"} for i in range(4)])
    scores = pl.DataFrame({"user_id": ["reg"], "score": [650], "registered_city": ["Paris"],
                           "registered_country": ["FR"]})
    df = remote_logins(ctx_of(logins=logins(rows), scores=scores)).collect().sort("user_id")
    assert df.select("user_id", "summary").rows() == [
        ("paris", "8 logins in March 2024 from outside Paris: Germany"),
        ("reg", "4 logins in March 2024 from outside Paris: Germany")]
    assert [json.loads(e)["home_country"] for e in df["evidence"]] == ["FR", "FR"]


def test_a_name_of_another_country_than_the_ip_still_places_the_event():
    """A Shanghai GPS home; logins whose IP the registry gives to Japan but whose export says "Shanghai, CN" are
    placed by the name (an address block registered in one country is used in another, and generated logs pair
    random addresses with their user's city: as a country-only Japanese position they were remote logins,
    1,312 on the 1M bench set against 257); the disagreement is counted. Without the name the IP places them:
    outside."""
    loc = pings("u1", routine("u1", START, 14))
    jp = [{"ts": local(START + timedelta(days=i), 12), "user_id": "u1", "ip": "133.242.0.1", "city": "Shanghai",
           "country": "CN"} for i in range(3)]
    ctx = ctx_of(logins=logins(jp), locations=loc)
    assert remote_logins(ctx).collect().height == 0
    assert ctx.notes["geo.positions"]["events_with_names_of_another_country_than_their_ip"] == 3
    bare = [{k: v for k, v in r.items() if k not in ("city", "country")} for r in jp]
    assert remote_logins(ctx_of(logins=logins(bare), locations=loc)).collect()["summary"].to_list() == [
        "3 logins in March 2024 from outside Shanghai: Japan"]


def test_gps_fixes_against_a_home_city_known_by_name():
    """Home Paris by name (10 days), no home place: three GPS logins in Tokyo are outside (over 50 km from the
    city's point after allowing 25 km for the city's extent and the fix's accuracy); three in central Paris are
    home; 60 km out cannot be told (before: all were "side unknown", audit D5). The profile shows the gazetteer's
    name of the city the names mean (NYC and New York are New York City)."""
    paris = _names("u1", ["Paris"] * 10, "FR")
    gps = [{"ts": local(START + timedelta(days=12 + i), 19), "user_id": "u1", "lat": lat, "lon": lon}  # no night
           for i, (lat, lon) in enumerate([(35.68, 139.69)] * 3 + [(48.86, 2.35)] * 3 + [(49.40, 2.35)] * 3)]
    ctx = ctx_of(logins=logins(paris + gps))
    assert remote_logins(ctx).collect()["summary"].to_list() == [
        "3 logins in March 2024 from outside Paris: Tokyo"]
    sides = home_side(ctx, 50.0).to_list()
    assert sides[-9:] == [True] * 3 + [False] * 3 + [None] * 3
    nyc = logins(_names("u2", ["NYC"] * 3 + ["New York"] * 3))
    from fraud.geo.places import home_ref
    assert home_ref(ctx_of(logins=nyc))["home_city"].to_list() == ["New York City"]
