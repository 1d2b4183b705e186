"""Positions of events: source order, accuracy radii, one lookup per distinct IP, coordinate text."""
from datetime import date

import polars as pl
import pytest

import fraud.geo.positions as positions_mod
from fraud.config import load_config
from fraud.context import ScanContext
from fraud.errors import FraudError
from fraud.geo.positions import parse_coordinate_text, positions
from fraud.geo.travel import impossible_travel
from tests.geo.helpers import BJ, SH, ctx_of, local, logins, pings

D = date(2024, 3, 1)


def test_source_order_and_accuracy():
    lg = logins([
        {"ts": local(D, 8), "user_id": "u1", "lat": SH[0], "lon": SH[1], "ip": "8.8.8.8", "city": "Beijing"},
        {"ts": local(D, 9), "user_id": "u1", "ip": "114.114.114.114", "city": "Shanghai"},
        {"ts": local(D, 10), "user_id": "u1", "city": "Hangzhou", "country": "China"},
        {"ts": local(D, 11), "user_id": "u1", "country": "Japan"},
        {"ts": local(D, 12), "user_id": "u1"},
        {"ts": local(D, 12, 30), "user_id": "u1", "ip": "8.8.8.8", "city": "Shanghai"},
    ])
    loc = pl.DataFrame({"ts": [local(D, 13), local(D, 14)], "user_id": ["u1", "u1"], "lat": [1.0, 2.0],
                        "lon": [3.0, 4.0], "accuracy_m": [30.0, None]})
    ctx = ctx_of(logins=lg, locations=loc)
    p = positions(ctx)
    assert p["source"].to_list() == ["latlon", "city", "city", "country", "city", "ping", "ping"]
    assert p["acc_km"].to_list() == [0.1, 25.0, 25.0, None, 25.0, 0.03, 0.1]
    # the IP's country comes before the names (contract order); a city name still gives coordinates, also one of
    # another country than the IP's (a US IP's "Shanghai": the registry's country of an address is coarse), counted
    assert p["country"].to_list()[:5] == [None, "CN", "CN", "JP", "US"]
    assert p["lat"].round(2).to_list()[:5] == [31.23, 31.22, 30.29, None, 31.22]
    assert p["city_key"].to_list()[:5] == ["beijing", "shanghai", "hangzhou", None, "shanghai"]
    assert ctx.notes["geo.positions"]["events_with_names_of_another_country_than_their_ip"] == 1
    lg2 = logins([{"ts": local(D, 8), "user_id": "u1", "ip": "8.8.8.8"}])
    p2 = positions(ctx_of(logins=lg2))
    assert p2.select("source", "lat", "acc_km", "country").row(0) == ("ip_country", None, None, "US")


def test_zero_zero_is_an_unknown_position_not_a_place():
    """0,0 is what clients write for "no fix": the login keeps its IP/name position, the ping has none, and the
    scan counts them; 0,0 never becomes a position (and so never an impossible trip)."""
    lg = logins([{"ts": local(D, 8), "user_id": "u1", "lat": 0.0, "lon": 0.0, "city": "Hangzhou", "country": "CN"},
                 {"ts": local(D, 9), "user_id": "u1", "lat": 0.0, "lon": 5.0}])
    loc = pings("u1", [(local(D, 12), BJ), (local(D, 12, 3), (0.0, 0.0)), (local(D, 12, 6), BJ)])
    ctx = ctx_of(logins=lg, locations=loc)
    p = positions(ctx)
    assert p.select("source", pl.col("lat").round(2), pl.col("lon").round(2)).rows() == [
        ("city", 30.29, 120.16), ("latlon", 0.0, 5.0), ("ping", 39.9, 116.41), ("ping", 39.9, 116.41)]
    assert ctx.notes["geo.positions"] == {"positions_0_0_ignored": 2, "failed_logins_not_placed": 0,
                                        "events_with_a_city_name_not_placed": 0,
                                        "events_with_names_of_another_country_than_their_ip": 0,
                                        "events_with_a_country_not_recognised": 0, "countries_not_recognised": {},
                                        "pings_with_accuracy_0_read_as_unknown": 0}
    assert impossible_travel(ctx_of(locations=loc)).collect().height == 0
    # the same fix at 0,5 is a position: a lone ping spike between the two Beijing fixes (seen, counted)
    ctx = ctx_of(locations=loc.with_columns(pl.col("lon").replace(0.0, 5.0)))
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}


def test_each_distinct_ip_is_looked_up_once(monkeypatch):
    seen = []
    real = positions_mod.ip_lookup

    def spy(ips, db=""):
        seen.append(list(ips))
        return real(ips, db)

    monkeypatch.setattr(positions_mod, "ip_lookup", spy)
    lg = logins([{"ts": local(D, h), "user_id": f"u{h % 2}", "ip": ip} for h, ip in
                 enumerate(["1.0.16.1", "8.8.8.8", "1.0.16.1", "8.8.8.8 ", "2001:4860:4860::8888"])])
    ctx = ctx_of(logins=lg)
    positions(ctx)
    positions(ctx)  # cached: no second lookup
    assert seen == [["1.0.16.1", "2001:4860:4860::8888", "8.8.8.8"]]


def test_configured_city_db_without_maxminddb_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_maxmind(name, *a, **k):
        if name == "maxminddb":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_maxmind)
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'geoip_db = "{tmp_path / "city.mmdb"}"\n')
    ctx = ScanContext.from_frames(load_config(cfg_file), logins=logins([{"ts": local(D, 8), "user_id": "u",
                                                                         "ip": "8.8.8.8"}]))
    with pytest.raises(FraudError, match="maxminddb"):
        positions(ctx)


def test_maxmind_records_give_city_coordinates_and_radius(monkeypatch):
    recs = {"8.8.8.8": ("Mountain View", 37.4, -122.1, 20.0, "US"), "1.0.16.1": (None, None, None, None, "JP")}
    monkeypatch.setattr(positions_mod, "_maxmind_lookup", lambda ips, db: [recs[i] for i in ips])
    t = positions_mod.ip_lookup(["1.0.16.1", "8.8.8.8"], "x.mmdb")
    assert t.rows() == [("1.0.16.1", "JP", None, None, None, None), ("8.8.8.8", "US", "Mountain View", 37.4, -122.1,
                                                                       20.0)]


def test_parse_coordinate_text():
    s = pl.DataFrame({"t": ["31.23 N, 121.47 E", "31°13'48\"N 121°28'12\"E", "-33.87, 151.21", "nonsense", None]})
    out = s.select(parse_coordinate_text("t").alias("p")).unnest("p")
    assert out["lat"].round(4).to_list() == [31.23, 31.23, -33.87, None, None]
    assert out["lon"].round(4).to_list() == [121.47, 121.47, 151.21, None, None]


def test_coordinate_text_takes_ascii_digits_only():
    """Arabic-Indic or full-width digits are a bad number here as in every other number column (Python's \\d and
    float() would read "١٢" as 12)."""
    s = pl.DataFrame({"a": ["\u0661\u0662", "\uff13\uff11.2", "3\u0661.2 N", "31.2 N"]})
    assert s.select(parse_coordinate_text("a", part="lat"))["a"].to_list() == [None, None, None, 31.2]
    pair = pl.DataFrame({"t": ["\u0663\u0661.2, 121.4", "31.2, 121.4"]}).select(parse_coordinate_text("t"))
    assert pair["t"].struct.field("lat").to_list() == [None, 31.2]


def test_parse_single_coordinates():
    s = pl.DataFrame({"a": ["31°13'48\"N", "33.87 S", "-33.87", "121.47 E", "x", None],
                      "o": ["121°28'12\"E", "121.47 W", "151.21", "31.2 N", "", None]})
    out = s.select(parse_coordinate_text("a", part="lat").round(4), parse_coordinate_text("o", part="lon").round(4))
    assert out["a"].to_list() == [31.23, -33.87, -33.87, None, None, None]
    assert out["o"].to_list() == [121.47, -121.47, 151.21, None, None, None]


def test_an_event_with_lat_lon_takes_nothing_from_its_ip(monkeypatch, tmp_path):
    # The same IP on a GPS event and on an event without lat/lon: only the second takes the database's city,
    # coordinates and country; the GPS event keeps its own (empty) city and country, and its IP is not looked up
    # for it alone.
    looked_up = []

    def lookup(ips, db):
        looked_up.append(list(ips))
        return [("Mountain View", 37.4, -122.1, 20.0, "US") for _ in ips]

    monkeypatch.setattr(positions_mod, "_maxmind_lookup", lookup)
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('geoip_db = "x.mmdb"\n')
    lg = logins([{"ts": local(D, 8), "user_id": "u", "ip": "8.8.8.8", "lat": SH[0], "lon": SH[1]},
                 {"ts": local(D, 9), "user_id": "u", "ip": " 8.8.8.8 "},
                 {"ts": local(D, 10), "user_id": "u", "ip": "9.9.9.9", "lat": BJ[0], "lon": BJ[1]}])
    p = positions(ScanContext.from_frames(load_config(cfg_file), logins=lg))
    assert p.select("source", "lat", "lon", "acc_km", "city", "city_key", "country").rows() == [
        ("latlon", SH[0], SH[1], 0.1, None, None, None),
        ("ip_city", 37.4, -122.1, 20.0, "Mountain View", "mountain view", "US"),
        ("latlon", BJ[0], BJ[1], 0.1, None, None, None)]
    assert looked_up == [["8.8.8.8"]]


def test_maxmind_reader_fields_are_mapped(monkeypatch, tmp_path):
    import sys
    import types

    class Reader:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def get(self, ip):
            if ip == "bad":
                raise ValueError(ip)
            return {"8.8.8.8": {"city": {"names": {"en": "Mountain View"}}, "country": {"iso_code": "US"},
                                "location": {"latitude": 37.4, "longitude": -122.1, "accuracy_radius": 20}}}.get(ip)

    fake = types.SimpleNamespace(open_database=lambda path: Reader())
    monkeypatch.setitem(sys.modules, "maxminddb", fake)
    assert positions_mod._maxmind_lookup(["8.8.8.8", "10.0.0.1", "bad"], "x.mmdb") == [
        ("Mountain View", 37.4, -122.1, 20.0, "US"), (None, None, None, None, None), (None, None, None, None, None)]
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('geoip_db = "x.mmdb"\n')
    lg = logins([{"ts": local(D, 8), "user_id": "u", "ip": "8.8.8.8"}])
    p = positions(ScanContext.from_frames(load_config(cfg_file), logins=lg))
    assert p.select("source", "lat", "lon", "acc_km", "city", "country").row(0) == (
        "ip_city", 37.4, -122.1, 20.0, "Mountain View", "US")


def test_sort_positions_matches_a_stable_polars_sort_with_nulls_and_ties():
    import datetime as dt
    import random

    from fraud.geo.positions import _sort_positions

    rnd = random.Random(7)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    n = 2000
    df = pl.DataFrame({
        "user_id": [rnd.choice(["u2", "u10", "u1", "a", None]) for _ in range(n)],
        "ts": [None if rnd.random() < 0.02 else t0 + dt.timedelta(minutes=rnd.randrange(30)) for _ in range(n)],
        "kind": [rnd.choice(["event", "ping"]) for _ in range(n)],
        "lat": [rnd.choice([None, -33.5, 0.0, 31.2, 31.25]) for _ in range(n)],
        "lon": [rnd.choice([None, -70.0, 121.5]) for _ in range(n)],
        "acc_km": [rnd.choice([0.01, 90.0, 25.0]) for _ in range(n)],
        "device_id": [rnd.choice([None, "d2", "d1"]) for _ in range(n)],
        "row": list(range(n)),  # ties on every key must keep this input order
    }, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    parts = [df.slice(0, 700), df.slice(700)]  # a chunked frame, as the concat of events and pings is
    got = _sort_positions(pl.concat(parts, rechunk=False))
    want = df.sort(["user_id", "ts", "kind", "lat", "lon", "acc_km", "device_id"], nulls_last=True,
                   maintain_order=True)
    assert got.equals(want)
    assert _sort_positions(df.clear()).height == 0


def test_sort_positions_is_the_full_stable_sort():
    """The one-key sort with its tie fix-up gives exactly the order of a stable sort by (user_id, ts, kind, lat,
    lon, then the tie keys), nulls last: with many rows sharing a user and an instant, and over a span too long for one key (the
    multi-key path)."""
    import random
    from datetime import datetime, timedelta, timezone

    from fraud.geo.positions import _sort_positions

    rnd = random.Random(5)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for n_users, span_s in ((50, 600), (3000, 3_400_000_000)):
        n = 20_000
        df = pl.DataFrame({
            "user_id": [f"u{rnd.randrange(n_users)}" for _ in range(n)],
            "ts": [base + timedelta(seconds=rnd.randrange(span_s)) - timedelta(days=10_000) for _ in range(n)],
            "kind": [rnd.choice(["event", "ping"]) for _ in range(n)],
            "lat": [rnd.choice([None, 1.0, 2.5]) for _ in range(n)],
            "lon": [rnd.choice([None, 1.0, 2.0]) for _ in range(n)],
            "event": [rnd.choice([None, "login", "payment"]) for _ in range(n)],
            "row": list(range(n)),
        })
        want = df.sort(["user_id", "ts", "kind", "lat", "lon", "event"], nulls_last=True, maintain_order=True)
        assert _sort_positions(df).equals(want)


def test_a_city_written_with_region_and_country_is_placed_and_unknown_names_are_counted():
    """Entra / Azure AD sign-in logs write "San Francisco, California, US": no gazetteer city as a whole, so the
    events had no coordinates and impossible travel never saw the trip, without a word. The first part is the city
    of the country the last part names; a two-part name is left as written ("Los Angeles, CA": CA is Canada's code),
    and so is a name whose country disagrees with the row's. Names placed nowhere are counted."""
    lg = logins([
        {"ts": local(D, 8), "user_id": "u1", "city": "San Francisco, California, US"},
        {"ts": local(D, 9), "user_id": "u1", "city": "London, England, United Kingdom"},
        {"ts": local(D, 10), "user_id": "u1", "city": "Paris, Ile-de-France, FR", "country": "Germany"},
        {"ts": local(D, 11), "user_id": "u1", "city": "Los Angeles, CA"},
        {"ts": local(D, 12), "user_id": "u1", "city": "Xyzzyville"},
    ])
    ctx = ctx_of(logins=lg)
    p = positions(ctx)
    assert p.select("city", "country", "source").rows() == [
        ("San Francisco", "US", "city"), ("London", "GB", "city"), ("Paris, Ile-de-France, FR", "DE", "country"),
        ("Los Angeles, CA", None, "city_name"), ("Xyzzyville", None, "city_name")]
    assert p["lat"][0] == pytest.approx(37.77, abs=0.05) and p["lat"][1] == pytest.approx(51.51, abs=0.05)
    assert ctx.notes["geo.positions"]["events_with_a_city_name_not_placed"] == 3
    assert impossible_travel(ctx).collect().height == 1  # San Francisco -> London in an hour


def test_an_accuracy_of_zero_is_unknown_not_exact():
    """Android's getAccuracy() is 0.0 for a fix without accuracy (a cell fix): the default 100 m radius, counted."""
    loc = pl.DataFrame({"user_id": ["u1"] * 3, "ts": [local(D, 8), local(D, 9), local(D, 10)],
                        "lat": [31.2, 31.3, 31.4], "lon": [121.4] * 3, "accuracy_m": [0.0, 20.0, None]})
    ctx = ctx_of(locations=loc)
    assert positions(ctx)["acc_km"].to_list() == [0.1, 0.02, 0.1]
    assert ctx.notes["geo.positions"]["pings_with_accuracy_0_read_as_unknown"] == 1


def test_the_region_of_city_region_country_picks_the_namesake_and_an_unread_one_places_no_far_namesake():
    """"Portland, Maine, US" is Portland, Maine (67k), not Portland, Oregon (652k, 4,093 km away), which the bare
    name is; the region is read by name or code for the countries whose GeoNames divisions are ISO codes (US, GB,
    CH, BE). A region with no city of the name in the gazetteer places nothing (Springfield, Vermont: 9k); one
    that cannot be read (a misspelling, Germany's Hesse) places nothing when the name has a namesake over 100 km
    away (Frankfurt (Oder)), and the city otherwise (Munich)."""
    texts = ["Portland, Maine, US", "Portland, ME, United States", "Portland, Oregon, US", "Portland, Mayne, US",
             "Springfield, Vermont, US", "Springfield, Illinois, US", "Frankfurt, Hesse, DE",
             "Frankfurt am Main, Hesse, DE", "Munich, Bavaria, DE", "London, England, GB", "Portland"]
    lg = logins([{"ts": local(D, 8 + i), "user_id": "u1", "city": t} for i, t in enumerate(texts)])
    lg = lg.with_columns(pl.when(pl.col("city") == "Portland").then(pl.lit("US")).alias("country"))
    ctx = ctx_of(logins=lg)
    p = positions(ctx).with_columns(pl.col("lat").round(2), pl.col("lon").round(2))
    assert p.select("city", "country", "source", "lat", "lon").rows() == [
        ("Portland", "US", "city", 43.66, -70.26), ("Portland", "US", "city", 43.66, -70.26),
        ("Portland", "US", "city", 45.52, -122.68), ("Portland", "US", "country", None, None),
        ("Springfield", "US", "country", None, None), ("Springfield", "US", "city", 39.8, -89.64),
        ("Frankfurt", "DE", "country", None, None), ("Frankfurt am Main", "DE", "city", 50.12, 8.68),
        ("Munich", "DE", "city", 48.14, 11.58), ("London", "GB", "city", 51.51, -0.13),
        ("Portland", "US", "country", None, None)]  # the bare name: Portland, Maine is a city of 50,000+ too
    assert ctx.notes["geo.positions"]["events_with_a_city_name_not_placed"] == 4


def test_a_portland_maine_login_beside_the_users_own_fixes_is_no_trip():
    """GPS fixes in Portland, Maine, then an Entra sign-in at "Portland, Maine, US" 5 min later: was a trip from
    Oregon, 4,093 km in 5 min (49,112 km/h)."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": 43.6615, "lon": -70.2553},
                 {"ts": local(D, 8, 5), "user_id": "u1", "city": "Portland, Maine, US"}])
    assert impossible_travel(ctx_of(logins=lg)).collect().height == 0
