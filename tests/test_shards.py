"""Partitioned scans give the same outputs as in-memory scans: findings, scores, profiles, rejected rows and the
summary's counts, on mixed input formats with corrupted rows and reviewer decisions, with many slices."""
from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from fraud.cli.main import app
from fraud.config import load_config
from fraud.errors import InputError
from fraud.fingerprint.bonuses import cap_locked_devices
from fraud.pipeline import ScanInputs, scan
from fraud.shards import _merge_notes, _merge_status
from fraud.synth import generate
from tests.test_corrupted_demo import corrupt

SUMMARY_KEYS = ("inputs", "rows_read", "rows_rejected", "users", "users_without_events", "findings", "scores")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Demo data as Parquet + gzip CSV logins, NDJSON pings, BOM device CSV, corrupted rows, and decisions."""
    d = tmp_path_factory.mktemp("mixed")
    generate(d / "gen", users=200, seed=5)
    logins = pl.read_csv(d / "gen" / "logins.csv")  # native types for the Parquet half
    half = logins.height // 2
    # the Parquet half as pandas writes it: NaN for every missing float (read as missing, counted)
    logins.head(half).with_columns(pl.col("lat", "lon", "amount").fill_null(float("nan"))).write_parquet(
        d / "logins.parquet")
    text = pl.read_csv(d / "gen" / "logins.csv", infer_schema=False).slice(half)
    text, _ = corrupt(text, "ts", "not-a-time", 0.01, seed=1)
    text, _ = corrupt(text, "device_id", "unknown", 0.02, seed=6)  # placeholder ids: read as missing
    # the CSV half writes its IPs with a port or the IPv4-mapped prefix: one address with the Parquet half's
    i = pl.int_range(pl.len()) % 3
    text = text.with_columns(pl.when(i == 0).then(pl.col("ip") + ":443").when(i == 1).then("::ffff:" + pl.col("ip"))
                             .otherwise(pl.col("ip")).alias("ip"))
    text, _ = corrupt(text, "ip", "unknown", 0.01, seed=8)
    # 20 rows of the Parquet half repeated in the CSV half: duplicates across files and formats
    text = pl.concat([text, pl.read_csv(d / "gen" / "logins.csv", infer_schema=False).head(20)])
    (d / "logins.csv.gz").write_bytes(gzip.compress(text.write_csv().encode()))
    locs, _ = corrupt(pl.read_csv(d / "gen" / "locations.csv", infer_schema=False), "lat", "123.0", 0.01, seed=2)
    pl.concat([locs, locs.slice(100, 10)]).write_ndjson(d / "locations.jsonl")  # 10 repeated pings
    dev, _ = corrupt(pl.read_csv(d / "gen" / "devices.csv", infer_schema=False), "device_id", "0", 0.01, seed=7)
    (d / "devices.csv").write_bytes(b"\xef\xbb\xbf" + dev.write_csv().encode())
    scores, _ = corrupt(pl.read_csv(d / "gen" / "scores.csv", infer_schema=False), "score", "999", 0.05, seed=3)
    scores.write_csv(d / "scores.csv")
    first = scan(ScanInputs.from_folder(d), load_config(), shards=1)
    ids = first.findings.sort("finding_id")["finding_id"].to_list()
    rows = [(ids[0], "dismiss"), (ids[5], "dismiss"), (ids[9], "confirm"), ("nope", "maybe")]
    pl.DataFrame({"finding_id": [r[0] for r in rows], "decision": [r[1] for r in rows],
                  "decided_at": "2024-06-01T00:00:00Z", "reviewer": "t", "note": ""}).write_csv(d / "decisions.csv")
    return d


def _same(a, b) -> None:
    for name in ("findings", "scores", "profiles", "rejected"):
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    for k in SUMMARY_KEYS:
        assert a.summary[k] == b.summary[k], k
    # statuses, counts, notes and "not evaluated" reasons; not the user-agent parse's timings
    assert _untimed(a.summary["checks"]) == _untimed(b.summary["checks"])
    assert _untimed(a.summary["notes"]) == _untimed(b.summary["notes"])


def test_a_disabled_population_rule_says_so_in_slices_too(tmp_path):
    """behavior.outlier disabled: the in-memory scan listed it as disabled, the sliced scan left it out."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[rules."behavior.outlier"]\nenabled = false\n')
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id\n" + "".join(f"2024-03-0{i}T08:00:00Z,u{i}\n" for i in range(1, 8)))
    checks = [scan(ScanInputs.from_folder(d), load_config(cfg), shards=n).summary["checks"] for n in (1, 3)]
    assert checks[0] == checks[1] and checks[1]["behavior.outlier"] == {"status": "disabled"}


def test_outcomes_read_alike_in_slices(tmp_path):
    """[outcomes] reaches the slices' reader too: Entra-style error codes give the same failures either way."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[outcomes]\nsuccess = [0]\nother = "failure"\n')
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,success,ip\n" + "".join(
        f"2024-03-01T08:0{m}:00Z,u{u},{50126 if m < 5 else 0},10.0.0.{u}\n" for u in range(6) for m in range(6)))
    got = [scan(ScanInputs.from_folder(d), load_config(cfg), shards=n) for n in (1, 3)]
    _same(*got)
    assert got[0].findings.filter(pl.col("rule") == "account.login_failures").height == 6


def test_conflicting_scores_are_counted_in_memory_and_in_slices(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id\n" + "".join(f"2024-03-0{i}T08:00:00Z,u{i}\n" for i in range(1, 8)))
    (d / "scores.csv").write_text("user_id,score\nu1,800\nu1,350\nu2,650\nu2,650\n")
    got = [scan(ScanInputs.from_folder(d), load_config(), shards=n).summary["users_with_conflicting_scores"]
           for n in (1, 3)]
    assert got == [1, 1]


TIMED_NOTES = ("distinct_s", "parse_s", "user_agents_per_s")


def _untimed(checks: dict) -> dict:
    return {k: {kk: vv for kk, vv in v.items() if kk not in TIMED_NOTES} for k, v in checks.items()}


@pytest.mark.parametrize("shards", [2, 7])
def test_sliced_scan_equals_in_memory_scan(mixed, shards):
    one = scan(ScanInputs.from_folder(mixed), load_config(), shards=1)
    sliced = scan(ScanInputs.from_folder(mixed), load_config(), shards=shards)
    assert one.summary["shards"] == 1 and sliced.summary["shards"] == shards
    assert one.rejected.height > 20 and one.findings["rule"].n_unique() >= 15
    assert set(one.rejected["input"]) >= {"logins", "locations", "scores", "decisions", "devices"}
    assert one.summary["inputs"]["logins"]["placeholder_ids_read_as_missing"]["device_id"] > 0  # compared below
    assert one.summary["inputs"]["logins"]["placeholder_ids_read_as_missing"]["ip"] > 0
    assert one.summary["inputs"]["logins"]["no_value_numbers_read_as_missing"]["amount"] > 0
    assert not one.findings.filter(pl.col("ip").str.contains(":")).height  # every IP read in its plain form
    assert one.rejected.filter(pl.col("reason") == "placeholder device_id (names no device): 0").height > 0
    dups = one.rejected.filter(pl.col("reason").str.starts_with("duplicate of"))
    assert dups.group_by("input").len().sort("input").rows() == [("locations", 10), ("logins", 20)]
    assert one.summary["scores"]["users_penalised"] > 0
    _same(one, sliced)
    # The sliced result's context reads the working files until close() removes them.
    assert sliced.context.logins.select(pl.len()).collect().item() == one.summary["inputs"]["logins"]["rows_used"]
    sliced.close()


def test_sliced_scan_with_a_fitted_model_equals_in_memory(mixed, tmp_path):
    from fraud.runner import fit_to, load_model

    fit_to(ScanInputs.from_folder(mixed), tmp_path / "m.joblib")
    model = load_model(tmp_path / "m.joblib")
    _same(scan(ScanInputs.from_folder(mixed), model=model, shards=1),
          scan(ScanInputs.from_folder(mixed), model=model, shards=4))


def test_cli_sliced_scan_writes_outputs_and_removes_its_work_files(mixed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    r = CliRunner().invoke(app, ["scan", str(mixed), "--out", str(tmp_path / "out"), "--shards", "3",
                                 "--work-dir", str(work), "--pseudonymize", "k"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["shards"] == 3 and summary["pseudonymized"] is True
    assert (tmp_path / "out" / "report.html").stat().st_size > 100_000
    assert list(work.iterdir()) == []


def test_bad_shards_value_is_an_input_error(mixed):
    with pytest.raises(InputError, match="--shards must be a whole number or auto, not 'many'"):
        scan(ScanInputs.from_folder(mixed), shards="many")
    with pytest.raises(InputError, match="between 1 and 4096, not 0"):
        scan(ScanInputs.from_folder(mixed), shards=0)


def test_lock_cap_applies_across_device_slices():
    ts = pl.datetime_range(pl.datetime(2024, 1, 1, time_zone="UTC"), pl.datetime(2024, 1, 5, time_zone="UTC"),
                           "1d", eager=True)
    # Findings of one user from two device slices, out of order: the three earliest locked devices stay.
    found = pl.DataFrame({"user_id": ["u1"] * 5 + ["u2"], "device_id": ["e", "b", "a", "d", "c", "z"],
                          "first_ts": [ts[4], ts[1], ts[0], ts[3], ts[2], ts[0]]})
    kept = cap_locked_devices(found, load_config())
    assert kept.select("user_id", "device_id").rows() == [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "z")]


def test_status_and_notes_merge_over_slices():
    status = {}
    _merge_status(status, {"c": {"status": "not evaluated", "reason": "no device_lock values"}})
    _merge_status(status, {"c": {"status": "ok", "findings": 2}})
    _merge_status(status, {"c": {"status": "ok", "findings": 3}})
    _merge_status(status, {"c": {"status": "not evaluated", "reason": "other"}, "d": {"status": "disabled"}})
    assert status == {"c": {"status": "ok", "findings": 5}, "d": {"status": "disabled"}}
    # no slice evaluated: the reason of the furthest stage stays (the first of equal ones)
    status = {}
    for st in ({"status": "not evaluated", "reason": "no snapshot names an OS", "stage": 1},
               {"status": "not evaluated", "reason": "no agent names an OS", "stage": 2},
               {"status": "not evaluated", "reason": "no logins with a device_id", "stage": 0},
               {"status": "not evaluated", "reason": "another stage 2", "stage": 2}):
        _merge_status(status, {"c": st})
    assert status["c"]["reason"] == "no agent names an OS"
    notes = {}
    _merge_notes(notes, {"s": {"user_days": 4, "exclusion_passes": 2, "converged": True, "baseline": "mean/sd"}})
    _merge_notes(notes, {"s": {"user_days": 6, "exclusion_passes": 3, "converged": False, "baseline": "mean/sd"}})
    assert notes == {"s": {"user_days": 10, "exclusion_passes": 3, "converged": False, "baseline": "mean/sd"}}


def test_sliced_fit_saves_the_same_model(mixed, tmp_path):
    from fraud.detectors import BehaviorModel
    from fraud.runner import fit_to

    one = fit_to(ScanInputs.from_folder(mixed), tmp_path / "one.joblib", shards=1)
    sliced = fit_to(ScanInputs.from_folder(mixed), tmp_path / "five.joblib", shards=5)
    assert (one["users"], one["threshold"], one["rows_read"], one["rows_rejected"]) == (
        sliced["users"], sliced["threshold"], sliced["rows_read"], sliced["rows_rejected"])
    assert sliced["shards"] == 5
    frame = scan(ScanInputs.from_folder(mixed), shards=1).context
    from fraud.detectors.features import user_features

    feats = user_features(frame)
    a = BehaviorModel.load(tmp_path / "one.joblib").score(feats)
    b = BehaviorModel.load(tmp_path / "five.joblib").score(feats)
    assert_frame_equal(a, b, check_exact=True)


def test_sliced_scan_applies_the_column_mapping(mixed, tmp_path):
    from fraud.config import load_config as load

    (tmp_path / "c.toml").write_text('[columns]\nts = "login_time"\nuser_id = "account"\n')
    cfg = load(tmp_path / "c.toml")
    d = tmp_path / "in"
    d.mkdir()
    pl.read_csv(mixed / "gen" / "logins.csv", infer_schema=False).rename(
        {"ts": "login_time", "user_id": "account"}).write_csv(d / "logins.csv")
    _same(scan(ScanInputs.from_folder(d), cfg, shards=1), scan(ScanInputs.from_folder(d), cfg, shards=3))
    (tmp_path / "bad.csv").write_text("when,account\n2024-03-01T00:00:00Z,u1\n")
    with pytest.raises(InputError, match=r"bad\.csv: missing required column 'ts' \(mapped from 'login_time'\)"):
        scan(ScanInputs(logins=tmp_path / "bad.csv"), cfg, shards=3)


def test_sliced_composite_scan_equals_in_memory(mixed, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for f in ("logins.parquet", "logins.csv.gz", "devices.csv", "locations.jsonl"):
        (d / f).symlink_to(mixed / f)
    scores = pl.read_csv(mixed / "gen" / "scores.csv").select("user_id", "score")
    h = pl.col("user_id").hash(1)
    scores.with_columns(((h.shift(i, fill_value=7) + i) % 101).cast(pl.Float64).alias(dim) for i, dim in enumerate(
        ("payment", "social", "consumption", "location", "device", "complaints"))).write_csv(d / "scores.csv")
    one = scan(ScanInputs.from_folder(d), composite=True, shards=1)
    assert one.scores["composite"].all()
    _same(one, scan(ScanInputs.from_folder(d), composite=True, shards=3))


def test_unusable_work_dir_is_one_clear_error(mixed, tmp_path):
    from fraud.errors import FraudError

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FraudError, match=r"a-file: cannot create the sliced scan's working folder"):
        scan(ScanInputs.from_folder(mixed), shards=2, work_dir=tmp_path / "a-file")
    r = CliRunner().invoke(app, ["scan", str(mixed), "--out", str(tmp_path / "o"), "--shards", "2",
                                 "--work-dir", str(tmp_path / "a-file" / "sub")])
    assert r.exit_code == 2 and "cannot create the sliced scan's working folder" in r.output


def test_key_slices_store_only_the_columns_their_checks_read(mixed, monkeypatch):
    import fraud.shards as shards

    assert "user_agent" not in shards.SLICE_COLUMNS["ip"]["logins"]
    assert "lat" not in shards.SLICE_COLUMNS["device"]["logins"]
    # a check that reads a column its slices do not store fails instead of seeing nulls
    monkeypatch.setitem(shards.SLICE_COLUMNS["ip"], "logins", ("user_id", "ts", "event", "ip"))
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="success"):
        scan(ScanInputs.from_folder(mixed), load_config(), shards=2)


def test_ip_slices_store_only_the_failed_logins_ip_spray_reads(mixed):
    import fraud.shards as shards
    from fraud.pipeline import Timer

    prep = shards._Prepared(ScanInputs.from_folder(mixed), load_config(), 2, None, Timer(), None)
    try:
        stored = pl.read_parquet(sorted((prep.work.root / "ip" / "logins").rglob("*.parquet")))
        users = prep.work.scan_user("logins").collect()
    finally:
        prep.tmp.cleanup()
    failed = users.filter((pl.col("event") == "login") & ~pl.col("success").fill_null(True))
    assert stored.height == failed.height > 0
    assert stored.height < users.height / 5
    assert stored.filter(pl.col("success").fill_null(True) | (pl.col("event") != "login")).height == 0


def test_slices_keep_every_row_when_a_check_of_their_key_names_no_rows(monkeypatch):
    import fraud.shards as shards
    from fraud.registry import REGISTRY, Check

    assert shards.slice_rows("device") is None  # no device check narrows its rows
    assert shards.slice_rows("ip") is not None
    monkeypatch.setitem(REGISTRY, "ip.other", Check(name="ip.other", rules=("ip.spray",), family="fingerprint",
                                                    needs=("logins",), fn=lambda ctx: None, key="ip"))
    assert shards.slice_rows("ip") is None


def _slices_apart(keys: list[str], first: int = 2) -> int:
    """A slice count that puts every key of ``keys`` in a different slice."""
    from fraud.spool import shard_of

    return next(n for n in range(first, 200)
                if len({pl.select(shard_of(pl.lit(k), n)).item() for k in keys}) == len(keys))


def test_a_float_user_id_of_a_parquet_file_is_the_same_users_slice(tmp_path):
    """pandas writes an integer id column with gaps as float64: user 7 of a CSV file is the 7.0 of a Parquet
    file, one user in memory and so in one slice (it was split over two: two profiles, a crash in scoring)."""
    ts = [f"2024-03-0{i}T08:00:00Z" for i in range(1, 8)]
    pl.DataFrame({"ts": ts + ["2024-03-07T08:30:00Z"], "user_id": ["7"] * 8,
                  "device_id": ["d7"] * 7 + ["d8"], "lat": [48.85] * 7 + [40.71], "lon": [2.35] * 7 + [-74.0]}
                 ).write_csv(tmp_path / "logins.csv")
    pl.DataFrame({"ts": ts, "user_id": [7.0] * 7, "lat": [48.85] * 7, "lon": [2.35] * 7}).write_parquet(
        tmp_path / "locations.parquet")
    n = _slices_apart(["7", "7.0"])
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert one.profiles["user_id"].to_list() == ["7"] and "geo.impossible_travel" in one.findings["rule"].to_list()
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


@pytest.mark.parametrize("late", ["8.0", "u8"])
def test_a_float_user_id_written_as_text_is_the_same_users_slice(tmp_path, monkeypatch, late):
    """pandas' to_csv writes an integer id column with gaps as 7.0: the user 7 of a Parquet file, in memory and so in
    one slice. Whether a file writes its ids so is decided on the whole file, also when its first rows (the sample a
    sliced scan tests first) all look like it: a later u8 keeps them as written, in memory and in slices."""
    import fraud.parsing

    monkeypatch.setattr(fraud.parsing, "FLOAT_TEXT_SAMPLE_ROWS", 3)
    ts = [f"2024-03-0{i}T08:00:00Z" for i in range(1, 8)]
    pl.DataFrame({"ts": ts + ["2024-03-07T08:30:00Z", "2024-03-07T09:00:00Z"], "user_id": ["7.0"] * 8 + [late],
                  "device_id": ["d7"] * 7 + ["d8", "d9"], "lat": [48.85] * 7 + [40.71, 1.0],
                  "lon": [2.35] * 7 + [-74.0, 1.0]}).write_csv(tmp_path / "logins.csv")
    pl.DataFrame({"ts": ts, "user_id": [7] * 7, "lat": [48.85] * 7, "lon": [2.35] * 7}).write_parquet(
        tmp_path / "locations.parquet")
    n = _slices_apart(["7", "7.0"])
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    users = {"8.0": ["7", "8"], "u8": ["7", "7.0", "u8"]}[late]
    assert sorted(one.profiles["user_id"].to_list()) == users
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_files_not_in_utf8_read_and_reported_alike_in_memory_and_in_slices(tmp_path):
    """A cp1252 logins file (Excel's "CSV") reads as cp1252 and a UTF-8 devices file with Latin-1 bytes pasted in has
    its U+FFFD values counted, in memory and in slices alike (a sliced scan decides on the whole file, in pieces)."""
    (tmp_path / "logins.csv").write_bytes("ts,user_id,city,country\n".encode() + "".join(
        f"2024-03-0{d}T08:00:00Z,jürgen,Zürich,CH\n2024-03-0{d}T09:00:00Z,zoé,Genève,CH\n"
        for d in range(1, 8)).encode("cp1252"))
    (tmp_path / "devices.csv").write_bytes("ts,device_id,user_id,model\n2024-03-01T08:00:00Z,d1,zoé,Pixel\n".encode()
                                           + "2024-03-01T08:00:00Z,d2,u2,Galaxy Ä\n".encode("latin-1"))
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert sorted(one.profiles["user_id"].to_list()) == ["jürgen", "u2", "zoé"]
    inputs = one.summary["inputs"]
    assert inputs["logins"]["files_not_utf8"][str(tmp_path / "logins.csv")]["encoding"] == "cp1252"
    assert inputs["devices"]["files_not_utf8"][str(tmp_path / "devices.csv")][
        "values_with_replacement_character"] == {"model": 1}
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=3))


def test_optional_columns_under_other_names_are_named_alike_in_memory_and_in_slices(tmp_path):
    (tmp_path / "logins.csv").write_text("ts,user_id,latitude,longitude\n" + "".join(
        f"2024-03-0{d}T08:00:00Z,u{d},31.2,121.5\n" for d in range(1, 8)))
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert one.summary["inputs"]["logins"]["optional_columns_under_other_names"] == {"lat": "latitude",
                                                                                    "lon": "longitude"}
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=3))


@pytest.mark.parametrize("late", ["0,5", "0.5"])
def test_a_decimal_comma_amount_column_is_decided_on_the_whole_file_in_slices_too(tmp_path, monkeypatch, late):
    """A ';' export writes 12.000 for twelve thousand: five such withdrawals abroad are geo.cross_border_spend (they
    read as 12.0). The file decides its amount column: the 1.234,56 of another user's slice, and a last value after
    the first rows (the sample), make it decimal-comma (0,5) or not (0.5: 1.234,56 rejected), in memory and in
    slices alike. The pings' file decides on its own."""
    import fraud.parsing

    monkeypatch.setattr(fraud.parsing, "FLOAT_TEXT_SAMPLE_ROWS", 3)
    rows = [f"2024-03-{d:02d}T02:00:00Z;u1;login;d1;39,9042;116,4074;CN;" for d in range(1, 21)]
    rows += [f"2024-03-25T{h}:00:00Z;u1;withdraw;d1;-23,5505;-46,6333;BR;12.000" for h in range(12, 17)]
    rows += ["2024-03-20T03:00:00Z;u2;payment;d2;48,85;2,35;FR;1.234,56",
             f"2024-03-20T04:00:00Z;u3;payment;d3;;;;{late}"]
    (tmp_path / "logins.csv").write_text("ts;user_id;event;device_id;lat;lon;country;amount\n" + "\n".join(rows) + "\n")
    # the pings' file decides for itself (its accuracy_m), whatever the logins file's amounts are
    (tmp_path / "locations.csv").write_text("ts;user_id;lat;lon;accuracy_m\n2024-03-20T03:10:00Z;u2;48,85;2,35;1.500\n"
                                            "2024-03-20T03:20:00Z;u2;48,85;2,35;7,5\n")
    n = _slices_apart(["u1", "u2", "u3"])
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    comma = late == "0,5"
    assert ("geo.cross_border_spend" in one.findings["rule"].to_list()) == comma
    assert one.summary["inputs"]["logins"].get("decimal_comma_columns") == (
        {str(tmp_path / "logins.csv"): ["amount"]} if comma else None)
    assert one.summary["inputs"]["locations"]["decimal_comma_columns"] == {str(tmp_path / "locations.csv"):
                                                                           ["accuracy_m"]}
    assert one.rejected["reason"].to_list() == ([] if comma else ["bad number in column amount: 1.234,56"])
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_a_device_seen_only_in_snapshots_is_checked_in_its_slice(tmp_path):
    """A farm phone reported by six accounts and an emulator, both only in device snapshots, sit in device slices
    that hold no logins row: their checks run there as on the whole batch (they were "not evaluated")."""
    pl.DataFrame({"ts": ["2024-03-01T08:00:00Z", "2024-03-02T08:00:00Z"], "user_id": ["a", "a"],
                  "device_id": ["A", "A"], "success": [True, True], "ip": ["1.2.3.4", "1.2.3.4"]}
                 ).write_csv(tmp_path / "logins.csv")
    pl.DataFrame({"ts": [f"2024-03-0{i + 1}T09:00:00Z" for i in range(6)] + ["2024-03-08T09:00:00Z"],
                  "device_id": ["F"] * 6 + ["E"], "user_id": [f"f{i}" for i in range(6)] + ["a"],
                  "model": ["iPhone16,1"] * 6 + ["sdk_gphone64_x86_64"], "os": ["iOS"] * 6 + ["Android"]}
                 ).write_csv(tmp_path / "devices.csv")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert dict(one.findings.group_by("rule").len().sort("rule").iter_rows()) == {
        "device.emulator": 1, "device.shared": 6}
    for n in (_slices_apart(["A", "E", "F"]), 16):
        sliced = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n)
        _same(one, sliced)
        # without a failed login anywhere, ip.spray evaluated and found nothing, as in memory
        assert sliced.summary["checks"]["ip.spray"] == one.summary["checks"]["ip.spray"] == {
            "status": "ok", "findings": 0}


def test_failures_named_by_the_event_feed_the_failure_rules_sliced_or_not(tmp_path):
    """A SIEM export without a success column, failures named LOGIN_FAILED: login_failures fires (five failures
    then a success within 10 minutes), in memory and in slices alike."""
    rows = [f"2024-03-01T08:0{i}:00Z,u1,LOGIN_FAILED,9.9.9.9" for i in range(5)] + [
        "2024-03-01T08:07:00Z,u1,Login Success,9.9.9.9", "2024-03-01T09:00:00Z,u2,Login Success,8.8.8.8"]
    (tmp_path / "logins.csv").write_text("ts,user_id,event,ip\n" + "\n".join(rows) + "\n")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert one.findings["rule"].to_list() == ["account.login_failures"]
    assert one.summary["checks"]["ip.spray"] == {"status": "ok", "findings": 0}
    assert one.summary["inputs"]["logins"]["login_outcome_event_names"] == 7
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=3))


def test_an_ipv6_network_spray_is_found_in_slices_as_in_memory(tmp_path):
    """The IP slices hold an IPv6 address by its /64 network, so the network's failures meet in one slice."""
    rows = [f"2024-03-01T08:{i:02d}:00Z,v{i},login,false,2001:db8:1:2::{i + 1:x}" for i in range(12)]
    (tmp_path / "logins.csv").write_text("ts,user_id,event,success,ip\n" + "\n".join(rows) + "\n")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert one.findings.select("rule", "ip").rows() == [("ip.spray", "2001:db8:1:2::/64")]
    n = _slices_apart([f"2001:db8:1:2::{i + 1:x}" for i in range(3)])
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_snapshots_that_differ_only_in_a_user_read_as_missing_are_duplicates_in_slices_too(tmp_path):
    """Snapshots with user "unknown" and "NULL" (or blank and " ") are one snapshot with no user: the second is a
    duplicate in memory; slices spooled them by the raw text apart and kept both (a rooted device "in 2
    snapshots", summary counts off)."""
    pl.DataFrame({"ts": ["2024-03-01T10:00:00Z", "2024-03-02T10:00:00Z", "2024-03-02T11:00:00Z"],
                  "user_id": ["U1"] * 3, "event": ["login"] * 3, "success": [True] * 3,
                  "device_id": ["D1", "D1", "D2"]}).write_csv(tmp_path / "logins.csv")
    (tmp_path / "devices.csv").write_text("ts,device_id,user_id,is_rooted,device_lock\n"
                                          "2024-03-01T10:00:05Z,D1,unknown,true,true\n"
                                          "2024-03-01T10:00:05Z,D1,NULL,true,true\n"
                                          "2024-03-01T11:00:00Z,D2,,false,true\n"
                                          "2024-03-01T11:00:00Z,D2, ,false,true\n")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    dev = tmp_path / "devices.csv"
    assert one.rejected.select("row", "reason").rows() == [
        (2, f"duplicate of {dev} row 1 (every column equal)"), (4, f"duplicate of {dev} row 3 (every column equal)")]
    for n in (2, _slices_apart(["unknown", "NULL"], 3), 7):
        _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_not_evaluated_reasons_are_the_whole_batchs_in_any_number_of_slices(tmp_path):
    """Every slice stops: the summary said the first slice's reason, counted on its rows ("none of the 15
    user-days" in 2 slices, 30 in memory) or wrong for the batch ("no device snapshot names an OS" from a slice
    without the one snapshot)."""
    rows = ["ts,user_id,event,success,user_agent,device_id"] + [
        f"2024-03-{1 + day:02d}T10:00:00Z,U{u},login,true,MyApp,D{u}" for u in range(10) for day in range(3)]
    (tmp_path / "logins.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "devices.csv").write_text("ts,device_id,user_id,os\n2024-03-01T10:00:00Z,D3,U3,Windows\n")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    checks = one.summary["checks"]
    assert checks["behavior.sigma"]["reason"] == "no user-day has 7 baseline days"
    assert checks["behavior.sigma"]["user_days"] == 30
    assert checks["device.ua_mismatch"] == {
        "status": "not evaluated",
        "reason": "no user agent of a device with an OS snapshot names an OS or a device type"}
    for n in (2, 7):
        _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_users_only_in_the_scores_input_are_counted_not_read_as_clean(tmp_path):
    """U2 and U3 have a score and no other row: no rule looked at them, and the summary says so (sliced or not)."""
    (tmp_path / "logins.csv").write_text("ts,user_id,event,success\n2024-03-01T10:00:00Z,U1,login,true\n")
    (tmp_path / "scores.csv").write_text("user_id,score\nU1,700\nU2,700\nU3,650\n")
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert (one.summary["users"], one.summary["users_without_events"]) == (3, 2)
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=3))


def test_new_not_evaluated_reasons_and_counts_are_the_same_in_slices(tmp_path):
    """Rules that cannot tell (logins behind a proxy, thin months, large payments without a country, snapshots
    tied to no account, no password change) say the same reason and sum the same counts in any number of
    slices."""
    rows = ["ts,user_id,event,success,ip,device_id,amount"]
    for u in range(12):
        for day in range(1, 10):
            rows.append(f"2024-03-{day:02d}T10:00:00Z,U{u},login,true,10.0.0.{u},D{u},")
        rows += [f"2024-03-09T1{k}:00:00Z,U{u},withdraw,true,,D{u},25000" for k in range(6)]
    (tmp_path / "logins.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "locations.csv").write_text("ts,user_id,lat,lon\n" + "".join(
        f"2024-03-0{d}T23:00:00Z,U{u},31.23,121.47\n" for u in range(12) for d in range(1, 4)))
    (tmp_path / "devices.csv").write_text("ts,device_id,is_rooted,imei\n" + "".join(
        f"2024-03-01T10:00:00Z,X{k},true,35693803564380{k}\n" for k in range(6)))
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    checks = one.summary["checks"]
    assert {r: checks[r]["status"] for r in ("geo.remote_logins", "geo.residence_change", "geo.away_from_home",
                                             "geo.cross_border_spend", "device.rooted", "device.id_conflict",
                                             "account.password_churn")} == dict.fromkeys(
        ("geo.remote_logins", "geo.residence_change", "geo.away_from_home", "geo.cross_border_spend", "device.rooted",
         "device.id_conflict", "account.password_churn"), "not evaluated")
    assert checks["geo.remote_logins"]["logins_without_position"] == 108
    assert checks["geo.cross_border_spend"]["large_events_country_unknown"] == 72
    for n in (2, 3):
        _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))


def test_rejection_reasons_name_the_files_own_headers_in_memory_and_in_slices(tmp_path):
    """Under a [columns] mapping a rejected row names the column as its file does, login_time (ts), and its raw
    cell keys its values by those headers: the analyst searches the file for them, not for the canonical names."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[columns]\nts = "login_time"\nuser_id = "uid"\nlat = "lat_deg"\nlon = "lon_deg"\n')
    (tmp_path / "logins.csv").write_text(
        "login_time,uid,lat_deg,lon_deg\n2024-03-01T08:00:00Z,u1,31.2,121.4\nnope,u2,1,1\n"
        "2024-03-01T08:00:00Z,,1,1\n2024-03-01T08:00:00Z,u3,95,\n")
    got = [scan(ScanInputs(logins=tmp_path / "logins.csv"), load_config(cfg), shards=n) for n in (1, 3)]
    assert_frame_equal(got[0].rejected, got[1].rejected)
    assert got[0].rejected.select("row", "reason").rows() == [
        (2, "bad timestamp in column login_time (ts): nope"),
        (3, "missing required value uid (user_id)"),
        (4, "lat_deg (lat) out of range -90..90: 95.0; only one of lat_deg (lat)/lon_deg (lon) given")]
    assert json.loads(got[0].rejected["raw"][1]) == {"login_time": "2024-03-01T08:00:00Z", "uid": None,
                                                      "lat_deg": "1", "lon_deg": "1"}
    assert got[0].summary["inputs"]["logins"]["rejection_reasons"]["missing required value uid (user_id)"] == 1


def test_unrecognised_country_names_add_up_over_slices(tmp_path):
    """Each slice counts the country names it could not place; the summary lists their totals, most frequent first,
    as the in-memory scan does."""
    names = ["Narnia", "Narnia", "Atlantis", "Narnia", "Germany", "Oz", "Atlantis", "Narnia"]
    (tmp_path / "logins.csv").write_text("ts,user_id,country\n" + "".join(
        f"2024-03-0{i % 9 + 1}T08:00:00Z,u{i},{n}\n" for i, n in enumerate(names)))
    notes = [scan(ScanInputs(logins=tmp_path / "logins.csv"), load_config(), shards=n).summary["notes"]["geo.positions"]
             for n in (1, 3)]
    assert notes[0] == notes[1]
    assert notes[0]["events_with_a_country_not_recognised"] == 7
    assert list(notes[0]["countries_not_recognised"].items()) == [("Narnia", 4), ("Atlantis", 2), ("Oz", 1)]


def test_a_sprays_victims_are_not_penalised_in_memory_nor_in_slices(tmp_path):
    """The IP slices find the spray before the user slices compute behaviour: its attempts are left out of the
    victims' days in both scans (they were behavior.sigma and behavior.repeated, -35 each, in slices)."""
    from tests.detectors.test_features import _sprayed
    pl.DataFrame(_sprayed(lambda i: "203.0.113.9")).write_parquet(tmp_path / "logins.parquet")
    got = [scan(ScanInputs(logins=tmp_path / "logins.parquet"), load_config(), shards=n) for n in (1, 3)]
    _same(got[0], got[1])
    assert got[0].findings["rule"].to_list() == ["ip.spray"] * 3
    assert got[1].scores["score_after"].to_list() == [600] * 10
    # the same attempts from forty IPs are no spray: the accounts' own failures, flagged
    pl.DataFrame(_sprayed(lambda i: f"198.51.100.{i}")).write_parquet(tmp_path / "logins.parquet")
    got = [scan(ScanInputs(logins=tmp_path / "logins.parquet"), load_config(), shards=n) for n in (1, 3)]
    _same(got[0], got[1])
    assert got[0].findings.filter(pl.col("user_id") == "v3")["rule"].to_list() == [
        "behavior.repeated", "behavior.sigma", "behavior.sigma", "behavior.sigma"]


def test_an_id_in_its_decomposed_unicode_form_is_the_same_user_in_memory_and_in_slices(tmp_path):
    """josé typed as e + a combining accent (NFD: macOS, some exports) is the josé (NFC) of the scores file: one
    user with that score, in memory and so in one slice (it was two accounts, the NFD one from default_score)."""
    nfc, nfd = "jos\u00e9", "jose\u0301"
    ts = [f"2024-03-0{i}T08:00:00Z" for i in range(1, 9)]
    pl.DataFrame({"ts": ts, "user_id": [nfc, nfd] * 4}).write_csv(tmp_path / "logins.csv")
    pl.DataFrame({"user_id": [nfc], "score": [800]}).write_csv(tmp_path / "scores.csv")
    n = _slices_apart([nfc, nfd])
    one = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert one.scores.select("user_id", "score_before").rows() == [(nfc, 800)]
    _same(one, scan(ScanInputs.from_folder(tmp_path), load_config(), shards=n))
