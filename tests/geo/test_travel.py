"""geo.impossible_travel: fires on a too-fast pair with exact figures, quiet on plausible travel."""
import json
from datetime import date, timedelta

import polars as pl
import pytest
from geopy.distance import geodesic

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.geo.positions import positions
from fraud.geo.travel import impossible_travel
from fraud.registry import NotEvaluated
from tests.geo.helpers import BJ, BKK, HZ, SH, ctx_of, local, logins, pings

D = date(2024, 3, 1)


def test_fires_shanghai_to_beijing_in_38_minutes():
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1], "ip": "1.1.1.1"},
                 {"ts": local(D, 8, 38), "user_id": "u1", "lat": BJ[0], "lon": BJ[1], "device_id": "d9",
                  "ip": "2.2.2.2"}])
    df = impossible_travel(ctx_of(logins=lg)).collect()
    assert df.height == 1
    row = df.row(0, named=True)
    assert row["summary"] == "Login in Beijing 1,066 km from Shanghai 38 min after the previous one (1,683 km/h)"
    assert row["device_id"] == "d9" and row["ip"] == "2.2.2.2" and row["points"] == -30
    ev = pl.Series([row["evidence"]]).str.json_decode().struct.unnest().row(0, named=True)
    assert ev["from"] == "Shanghai" and ev["to"] == "Beijing"
    assert ev["distance_km"] == round(geodesic(SH, BJ).km, 1) == 1065.8
    assert ev["minutes"] == 38.0 and ev["speed_kmh"] == 1683.0
    assert ev["accuracy_km"] == 0.2 and ev["net_distance_km"] == 1065.6 and ev["net_speed_kmh"] == 1683.0


def test_a_speed_just_over_the_limit_is_shown_above_it():
    """500.0 km in 1,999 s: 900.45 km/h, 900.09 net of the two 100 m radii; both fire and read above the 900 km/h
    limit ("900 km/h" beside "more than 900" read as a speed at the limit firing)."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": 31.2304, "lon": 121.4737},
                 {"ts": local(D, 8, 0) + timedelta(seconds=1999), "user_id": "u1", "lat": 35.7384241,
                  "lon": 121.4737}])
    row = impossible_travel(ctx_of(logins=lg)).collect().row(0, named=True)
    assert row["summary"] == "Login in Qingdao 500 km from Shanghai 33 min after the previous one (900.5 km/h)"
    ev = json.loads(row["evidence"])
    assert (ev["speed_kmh"], ev["net_speed_kmh"], ev["top_speed_kmh"], ev["max_speed_kmh"]) == (900.5, 900.1, 900.5,
                                                                                              900.0)


def test_a_gap_under_a_minute_is_said_in_seconds():
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]},
                 {"ts": local(D, 8, 0) + timedelta(seconds=3), "user_id": "u1", "lat": BJ[0], "lon": BJ[1]}])
    assert impossible_travel(ctx_of(logins=lg)).collect()["summary"].to_list() == [
        "Login in Beijing 1,066 km from Shanghai 3 s after the previous one (1,279,016 km/h)"]


def test_quiet_when_the_trip_takes_three_hours():
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]},
                 {"ts": local(D, 11, 0), "user_id": "u1", "lat": BJ[0], "lon": BJ[1]}])
    assert impossible_travel(ctx_of(logins=lg)).collect().height == 0


def test_city_name_positions_take_part_and_summary_uses_the_names():
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "city": "Shanghai", "country": "China"},
                 {"ts": local(D, 8, 30), "user_id": "u1", "city": "Beijing", "country": "CN", "event": "payment"}])
    df = impossible_travel(ctx_of(logins=lg)).collect()
    assert df["summary"].to_list()[0].startswith("Payment in Beijing ")
    ev = pl.Series(df["evidence"]).str.json_decode().struct.unnest().row(0, named=True)
    assert ev["accuracy_km"] == 50.0 and ev["from_source"] == "city"


def test_alternate_city_names_take_part_ambiguous_names_do_not():
    # "Frankfurt" is Frankfurt am Main (an alternate name): 30 min after Beijing is impossible
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "city": "Beijing", "country": "CN"},
                 {"ts": local(D, 8, 30), "user_id": "u1", "city": "Frankfurt", "country": "DE"}])
    df = impossible_travel(ctx_of(logins=lg)).collect()
    assert df["summary"].to_list() == ["Login in Frankfurt 7,800 km from Beijing 30 min after the previous one (15,601 km/h)"]
    # Taizhou is a city in Zhejiang and one in Jiangsu, 280 km apart: the name places nobody without GPS
    # positions (the login counts in the country rules only); a Zhejiang Taizhou user's GPS fix makes the name
    # that user's own Taizhou: no trip
    tz = logins([{"ts": local(D, 12, 0), "user_id": "u2", "lat": 28.656, "lon": 121.4208},
                 {"ts": local(D, 12, 5), "user_id": "u2", "city": "Taizhou", "country": "CN"},
                 {"ts": local(D, 12, 5), "user_id": "u3", "city": "Taizhou", "country": "CN"}])
    assert impossible_travel(ctx_of(logins=tz)).collect().height == 0
    src = positions(ctx_of(logins=tz)).select("user_id", "source", "lat", "city_key").rows()
    assert src == [("u2", "latlon", 28.656, None), ("u2", "city", 28.66266, "taizhou"),
                   ("u3", "country", None, "taizhou")]


def test_accuracy_radii_are_subtracted():
    # 120 km apart in 5 minutes: flagged with lat/lon (100 m radii), quiet with two 15 km ping radii (90 km)
    a, b = (31.0, 121.0), (32.08, 121.0)
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": a[0], "lon": a[1]},
                 {"ts": local(D, 8, 5), "user_id": "u1", "lat": b[0], "lon": b[1]}])
    assert impossible_travel(ctx_of(logins=lg)).collect().height == 1
    loc = pl.DataFrame({"ts": [local(D, 8, 0), local(D, 8, 5)], "user_id": ["u1", "u1"], "lat": [a[0], b[0]],
                        "lon": [a[1], b[1]], "accuracy_m": [15_000.0, 15_000.0]})
    assert impossible_travel(ctx_of(logins=logins([]), locations=loc)).collect().height == 0


def test_country_only_positions_never_take_part():
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "ip": "8.8.8.8"},
                 {"ts": local(D, 8, 1), "user_id": "u1", "lat": SH[0], "lon": SH[1]},
                 # a user with a pair of positions: the check has something to judge
                 *[{"ts": local(D, h, 0), "user_id": "u2", "lat": SH[0], "lon": SH[1]} for h in (9, 10)]])
    ctx = ctx_of(logins=lg)
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 1, "lone_ping_spikes_ignored": 0}


PARIS = (48.861, 2.443)


def test_events_known_only_to_the_country_are_counted_not_called_clean():
    """A GPS login in Paris, then 40 min later a login and a password change from a Nigerian IP without lat/lon
    (no GeoIP city database): the check cannot judge the two (contract section 5: a country-only position takes no
    part in distance rules) and says so in its notes instead of a silent "ok, 0 findings"."""
    lg = logins([{"ts": local(D, 19, 0), "user_id": "u1", "lat": PARIS[0], "lon": PARIS[1], "ip": "81.56.1.1"},
                 {"ts": local(D, 19, 40), "user_id": "u1", "ip": "105.112.1.1", "device_id": "evil"},
                 {"ts": local(D, 19, 45), "user_id": "u1", "ip": "105.112.1.1", "device_id": "evil",
                  "event": "password_change"},
                 # a country name alone is no distance either; a failed attempt is no position at all
                 {"ts": local(D, 20, 0), "user_id": "u2", "country": "Japan"},
                 {"ts": local(D, 20, 5), "user_id": "u2", "lat": PARIS[0], "lon": PARIS[1]},
                 {"ts": local(D, 20, 6), "user_id": "u2", "ip": "105.112.1.1", "success": False},
                 # a user with a pair of positions: the check has something to judge
                 *[{"ts": local(D, h, 0), "user_id": "u3", "lat": PARIS[0], "lon": PARIS[1]} for h in (9, 10)]])
    ctx = ctx_of(logins=lg)
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 3, "lone_ping_spikes_ignored": 0}
    # every event with coordinates: nothing left unjudged
    ctx = ctx_of(logins=lg.filter(pl.col("lat").is_not_null()))
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 0}
    # only country-only positions: not evaluated, and still counted
    ctx = ctx_of(logins=lg.filter(pl.col("lat").is_null()))
    with pytest.raises(NotEvaluated, match="no event or ping has a position with coordinates"):
        impossible_travel(ctx)
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 3}


def test_not_evaluated_when_no_user_has_two_positions():
    """Thirty users with one positioned login each hold no pair to judge: "ok, 0 findings" read as "no impossible
    trip" (a batch cut to each account's last login, say). One user with two positions is a judgement."""
    one_each = logins([{"ts": local(D, 8, 0), "user_id": f"u{i}", "lat": SH[0], "lon": SH[1]} for i in range(30)])
    with pytest.raises(NotEvaluated, match="no user has two positions with coordinates"):
        impossible_travel(ctx_of(logins=one_each))
    two = pl.concat([one_each, logins([{"ts": local(D, 11, 0), "user_id": "u0", "lat": BJ[0], "lon": BJ[1]}])])
    assert impossible_travel(ctx_of(logins=two)).collect().height == 0  # Shanghai -> Beijing in 3 h: a flight


HZ_FAR = (30.2741, 120.1551)  # Hangzhou, ~165 km from Shanghai


def _runs(found: pl.DataFrame) -> list[tuple]:
    """(first_ts, last_ts, legs, until) of each finding: the run's span (its first jump's start, its last jump's
    end: the span of the evidence), length and end."""
    ev = [json.loads(e) for e in found["evidence"]]
    return [(a, b, e["legs"], e["until"]) for a, b, e in zip(found["first_ts"], found["last_ts"], ev)]


def _z(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _trace(user: str, points: list[tuple[int, tuple[float, float]]]) -> pl.DataFrame:
    """Pings at minutes past 08:00 on D."""
    return pings(user, [(local(D, 8) + timedelta(minutes=m), pt) for m, pt in points])


def test_a_lone_ping_spike_is_one_bad_fix_not_two_trips():
    # at home, one fix 1,066 km off 5 min later, at home again 5 min after it: left out and counted
    ctx = ctx_of(logins=logins([]), locations=_trace("u1", [(0, SH), (5, BJ), (10, SH), (15, SH)]))
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}
    # impossible both ways, its neighbour a login at home: the same bad fix (only a one-leg candidate needs pings
    # on both sides)
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]}])
    ctx = ctx_of(logins=lg, locations=_trace("u1", [(5, BJ), (20, SH)]))
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}


def test_a_login_spike_two_far_fixes_and_a_trip_that_goes_on_still_fire():
    # a login from afar between two pings at home: the account-takeover shape, both pairs stay (one run of two
    # jumps in a row: one finding from the first fix to the last)
    lg = logins([{"ts": local(D, 8, 5), "user_id": "u1", "lat": BJ[0], "lon": BJ[1]}])
    ctx = ctx_of(logins=lg, locations=_trace("u1", [(0, SH), (10, SH)]))
    assert _runs(impossible_travel(ctx).collect()) == [(local(D, 8, 0), local(D, 8, 10), 2, _z(local(D, 8, 10)))]
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 0}
    # two fixes in a row afar: not a lone spike (out and back: 2 findings)
    ctx = ctx_of(logins=logins([]), locations=_trace("u1", [(0, SH), (5, BJ), (7, BJ), (10, SH)]))
    assert impossible_travel(ctx).collect()["first_ts"].to_list() == [local(D, 8, 0), local(D, 8, 7)]
    # the fix after the spike does not agree with the one before it (Hangzhou 165 km from Shanghai in 10 min)
    ctx = ctx_of(logins=logins([]), locations=_trace("u1", [(0, SH), (5, BJ), (10, HZ_FAR)]))
    assert [json.loads(e)["legs"] for e in impossible_travel(ctx).collect()["evidence"]] == [2]


OFFICE, OFFICE_2, LYON = (48.892, 2.237), (48.8921, 2.2371), (45.764, 4.8357)  # La Défense; Lyon, 399 km off
MARSEILLE = (43.2965, 5.3698)


def _sparse(user, points, acc=20.0):
    """Pings at (hour, minute) on D, Shanghai clock (the times only matter relative to each other)."""
    return pl.concat([pings(user, [(local(D, h, m), pt)], a) for (h, m), pt, a in
                      [(t, pt, acc if a is None else a) for t, pt, a in points]])


def test_a_lone_bad_fix_between_sparse_fixes_is_left_out_with_one_impossible_leg():
    """Audit H2 (min/M4_sparse_lone_bad_fix): a phone at rest samples every 15-60 min, so the leg into a Wi-Fi
    database error 399 km off is "possible" (50 min, 479 km/h) and only the way back (18 min) is impossible. The
    fix before and the one after agree (the same spot): the lone far one is the bad fix, left out and counted
    (it was "Location ping in Paris 399 km from Lyon 18 min after the previous one (1,331 km/h)", -30)."""
    still = _sparse("u_still", [((10, 10), OFFICE, None), ((11, 0), LYON, 40.0), ((11, 18), OFFICE_2, None)])
    ctx = ctx_of(logins=logins([]), locations=still)
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}
    # and the other way round: an impossible leg in, a possible one back
    back = _sparse("u_back", [((10, 10), OFFICE, None), ((10, 28), LYON, 40.0), ((11, 18), OFFICE_2, None)])
    ctx = ctx_of(logins=logins([]), locations=back)
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}


def test_one_impossible_leg_still_fires_for_a_trip_a_login_or_a_fix_beside_an_account_event():
    # a trip that goes on: at the office, in Lyon 50 min later (possible), in Marseille 18 min after that: the fix
    # after the far one does not come back, so nothing says which one is wrong (one finding, Lyon -> Marseille)
    trip = _sparse("u1", [((10, 10), OFFICE, None), ((11, 0), LYON, 40.0), ((11, 18), MARSEILLE, None)])
    found = impossible_travel(ctx_of(logins=logins([]), locations=trip)).collect()
    assert found["summary"].to_list() == [
        "Location ping in Marseille 277 km from Lyon 18 min after the previous one (925 km/h)"]
    # ... or stays there: a jump in, then fixes where it landed
    stay = _sparse("u1", [((10, 10), OFFICE, None), ((10, 28), LYON, 40.0), ((10, 40), LYON, None)])
    found = impossible_travel(ctx_of(logins=logins([]), locations=stay)).collect()
    assert found["summary"].to_list() == [
        "Location ping in Lyon 399 km from Paris 18 min after the previous one (1,331 km/h)"]
    # a login from Lyon between two office pings: the takeover shape, never a glitch (its impossible way back)
    lg = logins([{"ts": local(D, 11, 0), "user_id": "u1", "lat": LYON[0], "lon": LYON[1], "device_id": "evil"}])
    home = _sparse("u1", [((10, 10), OFFICE, None), ((11, 18), OFFICE_2, None)])
    ctx = ctx_of(logins=lg, locations=home)
    assert _runs(impossible_travel(ctx).collect()) == [(local(D, 11, 0), local(D, 11, 18), 1, _z(local(D, 11, 18)))]
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 0}
    # a far ping whose neighbour is an account event (a login at the office): only a ping between two pings
    # agreeing with each other is read as the one bad fix of a location feed
    lg = logins([{"ts": local(D, 10, 10), "user_id": "u1", "lat": OFFICE[0], "lon": OFFICE[1]}])
    ctx = ctx_of(logins=lg, locations=_sparse("u1", [((11, 0), LYON, 40.0), ((11, 18), OFFICE_2, None)]))
    assert impossible_travel(ctx).collect().height == 1
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 0}


def test_a_spike_impossible_both_ways_wins_over_its_neighbour_with_one_impossible_leg():
    """Arrived in Lyon (a possible leg from the office), then a stale office fix replayed 5 min later, then Lyon
    again: the replay is impossible both ways between two agreeing Lyon fixes, and is the one left out; the real
    Lyon fix before it (one impossible leg, between the office and the replay) stays. No finding, one spike."""
    trace = _sparse("u1", [((9, 0), OFFICE, None), ((11, 0), LYON, None), ((11, 5), OFFICE, None),
                           ((11, 10), LYON, None)])
    ctx = ctx_of(logins=logins([]), locations=trace)
    assert impossible_travel(ctx).collect().height == 0
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 1}


def test_neighbouring_spike_candidates_are_both_kept():
    # SH, BJ, SH, BJ one fix each 5 min: every middle fix looks like a spike between agreeing neighbours, so
    # none is a lone one: all three pairs fire, one run of three jumps
    ctx = ctx_of(logins=logins([]), locations=_trace("u1", [(0, SH), (5, BJ), (10, SH), (15, BJ)]))
    assert _runs(impossible_travel(ctx).collect()) == [(local(D, 8, 0), local(D, 8, 15), 3, _z(local(D, 8, 15)))]
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0, "lone_ping_spikes_ignored": 0}


def test_a_client_flipping_between_two_cities_is_one_run_of_jumps():
    """A spoofing or broken client alternating Shanghai / Beijing every minute makes 299 impossible pairs in a
    row: one finding (its first jump, 299 legs, until the last fix), not 299; a possible leg ends a run, so two
    logins from afar an hour apart between pings at home are two findings."""
    flips = [(m, SH if m % 2 == 0 else BJ) for m in range(300)]
    found = impossible_travel(ctx_of(logins=logins([]), locations=_trace("u1", flips))).collect()
    assert _runs(found) == [(local(D, 8, 0), local(D, 12, 59), 299, _z(local(D, 12, 59)))]
    assert found["summary"][0].endswith("; the first of 299 impossible jumps in a row, until 2024-03-01 04:59 UTC")
    far = logins([{"ts": local(D, h, m), "user_id": "u1", "lat": BJ[0], "lon": BJ[1]} for h, m in ((8, 1), (9, 3))])
    found = impossible_travel(ctx_of(logins=far, locations=_trace("u1", [(0, SH), (2, SH), (62, SH), (64, SH)]))
                              ).collect()
    assert _runs(found) == [(local(D, 8, 0), local(D, 8, 2), 2, _z(local(D, 8, 2))),
                            (local(D, 9, 2), local(D, 9, 4), 2, _z(local(D, 9, 4)))]


def test_a_runs_evidence_names_every_place_device_and_ip_and_it_spans_the_run(tmp_path):
    """Shanghai (device home) -> Beijing (device b) -> Guangzhou (device g), 20 minutes apart: one run whose evidence
    names every place, device and IP it went through and its top speed (Guangzhou, g and 2.2.2.2 were in no
    finding); the finding spans the run (contract section 2: first_ts, last_ts are the span of the evidence), so a
    run that grows in the next scan is other evidence with another id (a decision on it is said not applied)."""
    from fraud.config import load_config
    from fraud.pipeline import ScanInputs, scan

    gz = (23.1291, 113.2644)
    stops = [(0, SH, "home", "3.3.3.3"), (20, BJ, "b", "1.1.1.1"), (40, gz, "g", "2.2.2.2")]
    rows = [{"ts": local(D, 8, m), "user_id": "u1", "lat": p[0], "lon": p[1], "device_id": d, "ip": ip}
            for m, p, d, ip in stops]
    found = impossible_travel(ctx_of(logins=logins(rows))).collect()
    assert found.select("device_id", "ip").rows() == [("b", "1.1.1.1")]
    ev = json.loads(found["evidence"][0])
    top = max(geodesic(SH, BJ).km, geodesic(BJ, gz).km) * 3
    assert {k: ev[k] for k in ("legs", "last_place", "places", "n_places", "devices", "n_devices", "ips", "n_ips",
                               "top_speed_kmh")} == {
        "legs": 2, "last_place": "Guangzhou", "places": ["Shanghai", "Beijing", "Guangzhou"], "n_places": 3,
        "devices": ["home", "b", "g"], "n_devices": 3, "ips": ["3.3.3.3", "1.1.1.1", "2.2.2.2"], "n_ips": 3,
        "top_speed_kmh": round(top)}
    ids = []
    for n in (2, 3):
        d = tmp_path / str(n)
        d.mkdir()
        logins(rows[:n]).write_csv(d / "logins.csv")
        f = scan(ScanInputs.from_folder(d), load_config(None)).findings
        ids.append(f.filter(pl.col("rule") == "geo.impossible_travel")["finding_id"].to_list())
    assert ids[0] != ids[1] and len(ids[0]) == len(ids[1]) == 1
    assert found["last_ts"].to_list() == [local(D, 8, 40)]


def test_a_run_of_jumps_is_cut_where_the_rules_point_windows_are():
    """Points count once per rule and 30-day window from the user's first finding, on local days: a client flipping
    Shanghai / Beijing every 40 minutes for 31 days made per-pair findings in two windows (-60); the run is cut at
    local midnight 30 days after its first jump, so it is two findings and costs the same -60."""
    flips = [(40 * k, SH if k % 2 == 0 else BJ) for k in range(31 * 36)]
    found = impossible_travel(ctx_of(logins=logins([]), locations=_trace("u1", flips))).collect()
    day30 = local(D + timedelta(days=30), 0, 0)
    assert _runs(found) == [(local(D, 8, 0), day30, 1068, _z(day30)),
                            (day30, local(D, 8) + timedelta(minutes=40 * (31 * 36 - 1)), 47,
                             _z(local(D, 8) + timedelta(minutes=40 * (31 * 36 - 1))))]


def test_spikes_count_when_the_setting_is_off(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[rules."geo.impossible_travel"]\nignore_lone_ping_spikes = false\n')
    ctx = ScanContext.from_frames(load_config(cfg_file), logins=logins([]),
                                  locations=_trace("u1", [(0, SH), (5, BJ), (10, SH), (15, SH)]))
    assert [json.loads(e)["legs"] for e in impossible_travel(ctx).collect()["evidence"]] == [2]
    assert ctx.notes["geo.impossible_travel"] == {"events_country_only_not_placed": 0}


def test_decides_on_the_wgs84_distance_the_evidence_shows():
    """Near 100 km the sphere and the ellipsoid disagree (0.3-0.6%): the decision follows the WGS84 distance, so a
    flagged pair never shows a net distance under the limit. At 75N a meridian degree is longer on the ellipsoid
    (100.3 km WGS84 is 99.9 km on the sphere): flagged; on the equator shorter (100.5 km on the sphere is 99.9 km
    WGS84): quiet. Both pairs are 6 minutes apart; each event's lat/lon takes 0.1 km of accuracy."""
    def pair(user, lat, dlat):
        return [{"ts": local(D, 8, 0), "user_id": user, "lat": lat, "lon": 10.0},
                {"ts": local(D, 8, 6), "user_id": user, "lat": lat + dlat, "lon": 10.0}]

    north, equator = 0.8986, 0.9038
    assert 100.29 < geodesic((75, 10), (75 + north, 10)).km < 100.31
    assert 99.9 < geodesic((0, 10), (equator, 10)).km < 99.95
    df = impossible_travel(ctx_of(logins=logins(pair("north", 75.0, north) + pair("equator", 0.0, equator)))).collect()
    assert df["user_id"].to_list() == ["north"]
    ev = pl.Series([df["evidence"][0]]).str.json_decode().struct.unnest().row(0, named=True)
    assert ev["distance_km"] == 100.3 and ev["net_distance_km"] == 100.1


def test_the_cheap_distance_bound_never_drops_a_far_pair():
    """may_be_far (no trigonometry) is a necessary condition of the haversine distance test: over random pairs,
    near the poles and across the antimeridian, every pair farther than the limit passes it, and most near pairs
    do not."""
    import random

    from fraud.geo.distance import haversine_km
    from fraud.geo.travel import may_be_far

    rnd = random.Random(4)
    rows = []
    for _ in range(20_000):
        lat, lon = rnd.uniform(-89.9, 89.9), rnd.uniform(-180, 180)
        step = rnd.choice([0.01, 0.5, 1.0, 3.0, 90.0])
        lat2 = max(-90.0, min(90.0, lat + rnd.uniform(-step, step)))
        lon2 = (lon + rnd.uniform(-step, step) + 180) % 360 - 180
        rows.append((lat, lon, lat2, lon2, rnd.choice([0.0, 0.1, 25.0])))
    df = pl.DataFrame(rows, schema=["a", "b", "c", "d", "acc"], orient="row")
    a = {"lat": pl.col("a"), "lon": pl.col("b"), "acc_km": pl.col("acc")}
    b = {"lat": pl.col("c"), "lon": pl.col("d"), "acc_km": pl.col("acc")}
    out = df.select((haversine_km("a", "b", "c", "d") - 2 * pl.col("acc") > 100).alias("far"),
                    may_be_far(a, b, 100.0).alias("may"))
    assert out.filter(pl.col("far") & ~pl.col("may")).height == 0
    assert out["far"].sum() > 1000 and out.filter(~pl.col("far"))["may"].mean() < 0.5


def test_positions_tied_on_user_instant_and_point_pair_the_same_whatever_the_input_order():
    """Two fixes of one instant and point that differ in accuracy (or two events that differ in kind and
    device) are ordered by their content, so which one ends the trip, and so the finding, does not follow the
    input's row order."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1"}])
    t1 = local(D, 10, 10)
    precise = pings("u1", [(t1, HZ)], acc=10.0)
    vague = pings("u1", [(t1, HZ)], acc=90_000.0)
    start = pings("u1", [(local(D, 10, 0), SH)], acc=10.0)
    found = [impossible_travel(ctx_of(logins=lg, locations=pl.concat([start, *tie]))).collect()
             for tie in ((precise, vague), (vague, precise))]
    assert found[0].equals(found[1])
    assert found[0]["summary"].to_list() == [
        "Location ping in Hangzhou 165 km from Shanghai 10 min after the previous one (989 km/h)"]
    ev = [{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]}]
    tied = [{"ts": local(D, 8, 30), "user_id": "u1", "lat": BJ[0], "lon": BJ[1], "event": e, "device_id": d,
             "ip": ip} for e, d, ip in (("payment", "d2", "2.2.2.2"), ("login", "d1", "1.1.1.1"))]
    found = [impossible_travel(ctx_of(logins=logins(ev + rows))).collect() for rows in (tied, tied[::-1])]
    assert found[0].equals(found[1])
    assert found[0].select("device_id", "ip").row(0) == ("d1", "1.1.1.1")


def test_a_failed_attempt_from_afar_is_not_the_users_trip():
    """Credential stuffing: a failed login from Bangkok between two Shanghai sign-ins is the attacker's attempt,
    not the account holder's position; a successful login there is (the takeover shape) and fires."""
    rows = [{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]},
            {"ts": local(D, 8, 30), "user_id": "u1", "lat": BKK[0], "lon": BKK[1], "success": False},
            {"ts": local(D, 9, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1]}]
    ctx = ctx_of(logins=logins(rows))
    assert impossible_travel(ctx).collect().height == 0
    assert positions(ctx).height == 2 and ctx.notes["geo.positions"]["failed_logins_not_placed"] == 1
    rows[1]["success"] = True
    assert impossible_travel(ctx_of(logins=logins(rows))).collect()["summary"].to_list() == [
        "Login in Bangkok 2,888 km from Shanghai 30 min after the previous one (5,776 km/h); the first of 2 "
        "impossible jumps in a row, until 2024-03-01 01:00 UTC"]


def test_the_city_name_radius_is_a_setting(tmp_path):
    """Positions from city names carry 25 km by default (contract section 5): Shanghai then Beijing by name 30
    min apart fires; names from a GeoIP lookup of mobile IPs can be given a wider radius, which here covers it."""
    rows = [{"ts": local(D, 8, 0), "user_id": "u1", "city": "Shanghai", "country": "CN"},
            {"ts": local(D, 8, 30), "user_id": "u1", "city": "Beijing", "country": "CN"}]
    assert impossible_travel(ctx_of(logins=logins(rows))).collect().height == 1
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("city_name_accuracy_km = 600\n")
    ctx = ScanContext.from_frames(load_config(cfg_file), logins=logins(rows))
    assert positions(ctx)["acc_km"].to_list() == [600.0, 600.0]
    assert impossible_travel(ctx).collect().height == 0


def test_a_fix_is_named_by_its_coordinates_not_a_stale_city_text():
    """A lat/lon event's city text can come from an upstream GeoIP lookup and lie elsewhere: the summary names
    the coordinates' place ("Beijing ... from Shanghai", not "Shanghai ... from Shanghai")."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": SH[0], "lon": SH[1], "city": "Shanghai"},
                 {"ts": local(D, 8, 30), "user_id": "u1", "lat": BJ[0], "lon": BJ[1], "city": "Shanghai"}])
    assert impossible_travel(ctx_of(logins=lg)).collect()["summary"].to_list() == [
        "Login in Beijing 1,066 km from Shanghai 30 min after the previous one (2,132 km/h)"]


def test_a_city_name_is_the_big_city_that_goes_by_it_not_a_small_namesake():
    """GPS fixes in Halle (Saale) and Heroica Matamoros, then a login named "Halle, DE" / "Matamoros, MX" 5 min
    later: the names are those cities, no trip (they were Halle (Westf.), 257 km, and Matamoros, Coahuila, 576 km:
    3,084 and 6,911 km/h). A login named after a city 183 km away still is one."""
    for (lat, lon), city, cc in (((51.4825, 11.9697), "Halle", "DE"), ((25.869, -97.503), "Matamoros", "MX")):
        lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": lat, "lon": lon},
                     {"ts": local(D, 8, 5), "user_id": "u1", "city": city, "country": cc}])
        assert impossible_travel(ctx_of(logins=lg)).collect().height == 0
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": 51.4825, "lon": 11.9697},
                 {"ts": local(D, 8, 5), "user_id": "u1", "city": "Hannover", "country": "DE"}])
    assert impossible_travel(ctx_of(logins=lg)).collect()["summary"].to_list() == [
        "Login in Hannover 183 km from Halle (Saale) 5.0 min after the previous one (2,194 km/h)"]


def test_a_namesake_of_50000_people_is_not_replaced_by_the_bigger_one():
    """GPS fixes at home in Columbus GA and Jacksonville NC, then a login named "Columbus, US" / "Jacksonville,
    United States" 3 min later: the names were Columbus OH (850 km) and Jacksonville FL (632 km), an impossible
    trip per login. The names are ambiguous now: a user without GPS positions is placed nowhere by them (country
    rules only), one with GPS positions at the namesake of that user's own positions (OWN_PLACE_KM). Beijing ->
    Frankfurt stays a trip."""
    for (lat, lon), city, cc in (((32.4610, -84.9877), "Columbus", "US"),
                                 ((34.7540, -77.4302), "Jacksonville", "United States")):
        lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "lat": lat, "lon": lon},
                     {"ts": local(D, 8, 3), "user_id": "u1", "city": city, "country": cc},
                     {"ts": local(D, 8, 3), "user_id": "u2", "city": city, "country": cc}])
        assert impossible_travel(ctx_of(logins=lg)).collect().height == 0
        p = positions(ctx_of(logins=lg)).with_columns(pl.col("lat").round(2), pl.col("lon").round(2))
        assert p.select("user_id", "source", "lat", "lon").rows() == [
            ("u1", "latlon", round(lat, 2), round(lon, 2)), ("u1", "city", round(lat, 2), round(lon, 2)),
            ("u2", "country", None, None)]
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u1", "city": "Beijing", "country": "CN"},
                 {"ts": local(D, 8, 30), "user_id": "u1", "city": "Frankfurt", "country": "DE"}])
    assert impossible_travel(ctx_of(logins=lg)).collect().height == 1


def test_an_ambiguous_name_is_the_namesake_near_the_users_own_positions_only():
    """"Columbus, US" for a user whose GPS positions are in Columbus, Ohio: Columbus, Ohio; for one in Beijing
    (no namesake within OWN_PLACE_KM of them): nowhere, so no trip either way."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "oh", "lat": 39.96, "lon": -83.0},
                 {"ts": local(D, 8, 3), "user_id": "oh", "city": "Columbus", "country": "US"},
                 {"ts": local(D, 8, 0), "user_id": "bj", "lat": BJ[0], "lon": BJ[1]},
                 {"ts": local(D, 8, 3), "user_id": "bj", "city": "Columbus", "country": "US"}])
    p = positions(ctx_of(logins=lg)).filter(pl.col("source") != "latlon")
    assert p.select("user_id", "source", pl.col("lat").round(2), pl.col("lon").round(2)).rows() == [
        ("bj", "country", None, None), ("oh", "city", 39.96, -83.0)]


def test_a_placed_name_is_the_namesake_of_the_users_own_positions_when_its_city_is_far_from_them():
    """"London" without a country is London, England (London, Ontario has 4.5% of its people: not ambiguous). For
    a user whose GPS positions are in London, Ontario it is London, Ontario: 5,900 km away from every fix, it made
    an impossible trip of each login. A user whose fixes are in England keeps London, England; one in Beijing
    (no namesake within OWN_PLACE_KM) too, so a login named London is still a trip for them."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "on", "lat": 42.9849, "lon": -81.2453},
                 {"ts": local(D, 8, 10), "user_id": "on", "city": "London"},
                 {"ts": local(D, 8, 0), "user_id": "uk", "lat": 51.50, "lon": -0.12},
                 {"ts": local(D, 8, 10), "user_id": "uk", "city": "London"},
                 {"ts": local(D, 8, 0), "user_id": "bj", "lat": BJ[0], "lon": BJ[1]},
                 {"ts": local(D, 8, 10), "user_id": "bj", "city": "London"}])
    p = positions(ctx_of(logins=lg)).filter(pl.col("source") != "latlon")
    assert p.select("user_id", "source", "country", pl.col("lat").round(1), pl.col("lon").round(1)).rows() == [
        ("bj", "city", "GB", 51.5, -0.1), ("on", "city", "CA", 43.0, -81.2), ("uk", "city", "GB", 51.5, -0.1)]
    assert impossible_travel(ctx_of(logins=lg)).collect()["user_id"].to_list() == ["bj"]


def test_two_places_of_one_name_show_their_countries_in_the_summary():
    """"Login in London 5,894 km from London" said nothing: namesakes show their countries; other pairs do not."""
    lg = logins([{"ts": local(D, 8, 0), "user_id": "u", "lat": 51.50, "lon": -0.12},
                 {"ts": local(D, 8, 10), "user_id": "u", "lat": 42.9849, "lon": -81.2453},
                 {"ts": local(D, 9, 0), "user_id": "v", "city": "Beijing", "country": "CN"},
                 {"ts": local(D, 9, 30), "user_id": "v", "city": "Frankfurt", "country": "DE"}])
    df = impossible_travel(ctx_of(logins=lg)).collect()
    assert [s.split(" after")[0] for s in df["summary"]] == ["Login in London, CA 5,894 km from London, GB 10 min",
                                                             "Login in Frankfurt 7,800 km from Beijing 30 min"]
    assert [(e["from"], e["to"]) for e in map(json.loads, df["evidence"])] == [("London, GB", "London, CA"),
                                                                              ("Beijing", "Frankfurt")]
