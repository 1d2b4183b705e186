"""The synthetic data set: contract columns, determinism, scaling, planted bad rows and exact ground truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fraud.synth import generate
from fraud.synth.plans import RULES

from .oracle import Data, fingerprint
from .oracle_geo import behaviour, geo

COLUMNS = {
    "logins": ["ts", "user_id", "event", "success", "ip", "user_agent", "device_id", "lat", "lon", "country", "city",
               "amount"],
    "devices": ["ts", "device_id", "user_id", "imei", "mac", "hw_uuid", "model", "os", "os_version", "is_emulator",
                "is_rooted", "has_hook", "device_lock"],
    "locations": ["ts", "user_id", "lat", "lon", "accuracy_m"],
    "scores": ["user_id", "score", "registered_city", "registered_country"],
}
TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"
USERS = 300


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, users=USERS, seed=7)
    return out


def read(d: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(d / f"{name}.csv", infer_schema_length=0)


def test_same_arguments_give_identical_bytes(data, tmp_path):
    counts = generate(tmp_path, users=USERS, seed=7)
    for f in sorted(p.name for p in data.iterdir()):
        assert (data / f).read_bytes() == (tmp_path / f).read_bytes(), f
    assert counts == json.loads((data / "meta.json").read_text())["counts"]


def test_another_seed_gives_other_data(data, tmp_path):
    generate(tmp_path, users=USERS, seed=8)
    assert (data / "logins.csv").read_bytes() != (tmp_path / "logins.csv").read_bytes()


def test_columns_are_the_contract_ones(data):
    for name, cols in COLUMNS.items():
        assert read(data, name).columns == cols
    assert read(data, "labels").columns == ["user_id", "rule", "ip"]
    assert read(data, "truth_places").columns == ["user_id", "timezone", "home_lat", "home_lon", "work_lat",
                                                  "work_lon"]
    lg = read(data, "logins")
    assert set(lg["success"].unique()) == {"true", "false"}
    assert set(read(data, "devices")["device_lock"].unique()) == {"true", "false"}


def test_every_rule_is_planted(data):
    lab = read(data, "labels")
    per_rule = dict(lab.group_by("rule").len().iter_rows())
    assert set(per_rule) == set(RULES)
    assert all(k >= 5 for r, k in per_rule.items() if r not in ("ip.spray", "behavior.outlier"))
    assert per_rule["ip.spray"] >= 3
    # behavior.outlier: what 1% contamination flags in this population (the ensemble ranks a share of users)
    n_users = read(data, "scores").height
    assert per_rule["behavior.outlier"] == max(1, round(0.01 * n_users))
    spray = lab.filter(pl.col("rule") == "ip.spray")
    assert spray["user_id"].is_null().all() and spray["ip"].is_not_null().all()
    assert lab.filter(pl.col("rule") != "ip.spray")["ip"].is_null().all()
    meta = json.loads((data / "meta.json").read_text())
    assert meta["args"] == {"users": USERS, "seed": 7, "days": 90, "start": "2024-03-04"}
    assert meta["counts"]["labels_per_rule"] == {r: per_rule[r] for r in RULES}


def test_counts_scale_with_users(data, tmp_path):
    small = json.loads((data / "meta.json").read_text())["counts"]
    big = generate(tmp_path, users=2 * USERS, seed=7)
    for name in ("logins", "locations", "devices"):
        assert 1.6 < big["rows"][name] / small["rows"][name] < 2.4, name
    assert big["rows"]["scores"] == 2 * USERS + 2
    assert big["labels_per_rule"]["device.emulator"] >= small["labels_per_rule"]["device.emulator"]


def _rejects(d: Path) -> dict[str, int]:
    """Rows a scan must reject: unparseable ts, missing required value, coordinates or score out of range."""
    parsed = pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False)
    bad_ts = ~pl.col("ts").str.contains(TS) | parsed.is_null()
    lat, lon = pl.col("lat").cast(pl.Float64), pl.col("lon").cast(pl.Float64)
    coords = ~lat.is_between(-90, 90) | ~lon.is_between(-180, 180)
    rules = {"logins": bad_ts | pl.col("user_id").is_null() | (coords & lat.is_not_null()),
             "locations": bad_ts | pl.col("user_id").is_null() | lat.is_null() | lon.is_null() | coords,
             "devices": bad_ts | pl.col("device_id").is_null(),
             "scores": pl.col("user_id").is_null() | ~pl.col("score").cast(pl.Int64).is_between(300, 850)}
    return {k: read(d, k).filter(e.fill_null(True)).height for k, e in rules.items()}


def test_planted_bad_rows_match_meta(data):
    meta = json.loads((data / "meta.json").read_text())
    assert _rejects(data) == meta["expected_rejected_rows"]
    assert meta["expected_rejected_rows"]["logins"] >= 4
    lab = set(read(data, "labels").filter(pl.col("rule") != "device.lock_enabled")["user_id"].drop_nulls())
    bad = read(data, "logins").filter(pl.col("ts") == "N/A")["user_id"]
    assert not set(bad) & lab


def test_timestamps_and_coordinates(data):
    planted = json.loads((data / "meta.json").read_text())["expected_rejected_rows"]
    for name in ("logins", "locations", "devices"):
        ts = read(data, name)["ts"]
        parsed = ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False)
        assert 0 < parsed.null_count() <= planted[name]  # only planted bad rows fail
        assert ts.str.contains(TS).sum() >= len(ts) - planted[name]
    offsets = read(data, "logins")["ts"].str.slice(19).value_counts()
    assert {"+08:00", "+00:00"} <= set(offsets["ts"])
    for name in ("logins", "locations"):
        df = read(data, name).with_columns(pl.col("lat", "lon").cast(pl.Float64))
        assert df.filter((pl.col("lat") == 0) & (pl.col("lon") == 0)).height == 0
    truth = read(data, "truth_places").with_columns(pl.col("home_lat", "home_lon").cast(pl.Float64))
    assert truth.filter((pl.col("home_lat") == 0) | pl.col("home_lat").is_null()).height == 0


def test_homes_lie_in_their_time_zone(data):
    from tzfpy import get_tz
    from zoneinfo import ZoneInfo
    from datetime import datetime, timezone
    truth = read(data, "truth_places").with_columns(pl.col("home_lat", "home_lon").cast(pl.Float64))
    for z, lat, lon in truth.select("timezone", "home_lat", "home_lon").iter_rows():
        found = get_tz(lon, lat)
        for month in (1, 7):
            t = datetime(2024, month, 1, tzinfo=timezone.utc)
            assert t.astimezone(ZoneInfo(found)).utcoffset() == t.astimezone(ZoneInfo(z)).utcoffset(), (z, found)


def test_ips_belong_to_their_countries():
    from iptocc import country_code
    from fraud.synth.cities import IP_CLOUD, IP_FIXED, IP_MOBILE, draw_ips
    rng = np.random.default_rng(0)
    for table in (IP_FIXED, IP_MOBILE, IP_CLOUD):
        for cc, blocks in table.items():
            for ip in draw_ips(rng, blocks, 50):
                dotted = ".".join(str((int(ip) >> s) & 255) for s in (24, 16, 8, 0))
                assert country_code(dotted) == cc, (cc, dotted)


def test_user_agents_match_their_profiles():
    import crawleruseragents
    from ua_parser import parse
    from fraud.synth.useragents import profiles
    pr = profiles()
    family = {"apple": "iOS", "android": "Android", "windows": "Windows", "mac": "Mac OS X"}
    for i, ua in enumerate(pr.ua_strings):
        if i < pr.bot_ua0:
            assert not crawleruseragents.is_crawler(ua), ua
            assert parse(ua).os.family == family[pr.family[i]], ua
        else:
            assert crawleruseragents.is_crawler(ua) or "HeadlessChrome" in ua, ua


def test_parquet_has_the_same_rows(tmp_path):
    a = generate(tmp_path / "csv", users=200, seed=3)
    b = generate(tmp_path / "pq", users=200, seed=3, fmt="parquet")
    assert a == b
    for name in COLUMNS:
        df = pl.read_parquet(tmp_path / "pq" / f"{name}.parquet")
        assert df.columns == COLUMNS[name] and df.height == a["rows"][name]
    assert not list((tmp_path / "pq").glob(".*"))


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate("/nonexistent-unused", users=50)
    with pytest.raises(ValueError):
        generate("/nonexistent-unused", users=300, fmt="xlsx")


def test_labels_are_the_ground_truth(data):
    """Reference rules on the true places fire for exactly the labelled users (behavior.outlier aside, which
    ranks a population). behavior.sigma uses the sd floors of the default rules.toml (distance_km 25 km: the
    weekly rhythm of commutes and outings is ordinary life)."""
    d = Data(data)
    fired = {**fingerprint(d), **geo(d), **behaviour(d)}
    for rule, users in fired.items():
        assert users == d.labelled(rule), (rule, sorted(users ^ d.labelled(rule))[:5])
    assert set(fired) == set(RULES) - {"behavior.outlier"}
