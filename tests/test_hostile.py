"""Hostile inputs: every case ends in a completed scan whose rows add up (read = used + rejected), with the
reasons in the rejected rows, or in one clear FraudError — never a traceback; and a scan in slices
(``shards=3``) ends the same way."""
from __future__ import annotations

import gzip
import random
from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud.config import load_config
from fraud.errors import FraudError
from fraud.pipeline import ScanInputs, scan

HEAD = "ts,user_id,event,success,ip,user_agent,device_id,lat,lon,country,city,amount\n"
GOOD = "2024-03-01T08:00:00+08:00,u1,login,true,1.2.3.4,Mozilla/5.0,d1,31.2,121.4,CN,Shanghai,\n"


def _both(run):
    """Run a scan in memory and in 3 slices: both end in a one-line FraudError (the streaming CSV reader may
    word a broken file differently), or both complete with the same findings, rejected rows and counts (the
    in-memory result is returned)."""
    outcomes = []
    for shards in (1, 3):
        try:
            outcomes.append(run(shards))
        except FraudError as e:
            outcomes.append(e)
    one, sliced = outcomes
    if isinstance(one, FraudError) or isinstance(sliced, FraudError):
        assert isinstance(one, FraudError) and isinstance(sliced, FraudError), (one, sliced)
        assert "\n" not in str(sliced)
        raise one
    assert_frame_equal(one.rejected, sliced.rejected)
    assert_frame_equal(one.findings, sliced.findings)
    for kind, li in one.loaded.items():
        other = sliced.loaded[kind]
        assert (li.rows_read, li.rows_used, li.rows_rejected) == (other.rows_read, other.rows_used,
                                                                  other.rows_rejected), kind
    return one


def scan_folder(tmp_path, files: dict[str, bytes | str]):
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    for name, body in files.items():
        (d / name).write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    res = _both(lambda n: scan(ScanInputs.from_folder(d), load_config(), shards=n))
    for kind, li in res.loaded.items():
        assert li.rows_read == li.rows_used + li.rows_rejected, kind
        assert li.rejected["reason"].null_count() == 0
    return res


CASES = {
    "wrong types": HEAD + "yesterday,u1,login,perhaps,1.2.3.4,ua,d1,north,east,CN,X,lots\n" + GOOD,
    "nan and inf coordinates": HEAD + GOOD + GOOD.replace("31.2", "nan") + GOOD.replace("121.4", "inf")
    + GOOD.replace("31.2", "-91"),
    "mixed offsets": HEAD + GOOD + GOOD.replace("+08:00", "Z") + GOOD.replace("+08:00", "-05:00")
    + GOOD.replace("2024-03-01T08:00:00+08:00", "2024-03-01 08:00:00"),
    "epoch seconds mixed with milliseconds": HEAD + GOOD.replace("2024-03-01T08:00:00+08:00", "1709251200")
    + GOOD.replace("2024-03-01T08:00:00+08:00", "1709251200000"),
    "far past and future": HEAD + GOOD.replace("2024", "1901") + GOOD.replace("2024", "2999") + GOOD,
    "duplicate and unsorted rows": HEAD + GOOD.replace("08:00:00", "09:00:00") + GOOD + GOOD + GOOD,
    "quoted newlines": HEAD + GOOD.replace("Mozilla/5.0", '"Mozilla/5.0\nsecond line, with comma"'),
    "very long user agent": HEAD + GOOD.replace("Mozilla/5.0", "A" * 1_000_000),
    "missing optional columns": "ts,user_id\n2024-03-01T08:00:00Z,u1\n",
    "extra columns": "ts,user_id,shoe_size\n2024-03-01T08:00:00Z,u1,44\n",
    "header only": HEAD,
    "ragged rows": HEAD + "2024-03-01T08:00:00Z,u1\n" + GOOD,
    "blank user id": HEAD + GOOD.replace(",u1,", ",   ,"),
    "formula injection": HEAD + GOOD.replace("Shanghai", "=HYPERLINK(\"http://x\")"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_csv_case(tmp_path, name):
    res = scan_folder(tmp_path, {"logins.csv": CASES[name]})
    assert res.summary["inputs"]["logins"]["rows_read"] == res.loaded["logins"].rows_read


def test_expected_rejections(tmp_path):
    res = scan_folder(tmp_path, {"logins.csv": CASES["nan and inf coordinates"]})
    assert res.rejected["reason"].to_list() == ["bad number in column lat: nan", "bad number in column lon: inf",
                                                "lat out of range -90..90: -91.0"]
    res = scan_folder(tmp_path, {"logins.csv": CASES["far past and future"]})
    assert res.loaded["logins"].rows_used == 1 and res.loaded["logins"].rows_rejected == 2


def test_non_utf8_bom_and_gzip(tmp_path):
    body = b"\xef\xbb\xbf" + HEAD.encode() + GOOD.replace("Shanghai", "Sh\xffai").encode("latin-1")
    res = scan_folder(tmp_path, {"logins.csv.gz": gzip.compress(body)})
    assert res.loaded["logins"].rows_used == 1


@pytest.mark.parametrize("name", ["logins.csv", "logins.parquet", "logins.jsonl", "logins.csv.gz"])
def test_random_bytes_are_one_clear_error_or_rejected(tmp_path, name):
    rnd = random.Random(name)
    blob = bytes(rnd.randrange(256) for _ in range(4000))
    try:
        scan_folder(tmp_path, {name: blob})
    except FraudError as e:
        assert "logins" in str(e) and "\n" not in str(e)


def test_empty_file_everywhere(tmp_path):
    res = scan_folder(tmp_path, {"logins.csv": "", "devices.csv": "", "locations.jsonl": "", "scores.csv": ""})
    assert res.findings.height == 0 and res.scores.height == 0


def test_hostile_other_inputs(tmp_path):
    res = scan_folder(tmp_path, {
        "logins.csv": HEAD + GOOD,
        "locations.csv": "ts,user_id,lat,lon,accuracy_m\n2024-03-01T00:00:00Z,u1,31.2,121.4,-5\n"
                         "2024-03-01T00:00:00Z,u1,,121.4,\n2024-03-01T00:00:00Z,u1,31.2,121.4,10\n",
        "scores.csv": "user_id,score\nu1,1200\nu2,abc\nu3,700\n",
        "devices.csv": "ts,device_id,is_emulator\n2024-03-01T00:00:00Z,d1,maybe\n2024-03-01T00:00:00Z,,true\n",
    })
    reasons = sorted(res.rejected["reason"].to_list())
    assert reasons == ["accuracy_m out of range 0..1e+07: -5.0", "bad boolean in column is_emulator: maybe",
                       "bad integer in column score: abc", "missing required value device_id",
                       "missing required value lat; only one of lat/lon given", "score out of range 300..850: 1200"]


CELL = st.one_of(st.text(max_size=12), st.sampled_from(["", "nan", "inf", "-0", "1e400", "true", "NULL", "\"",
                                                        "2024-03-01T08:00:00Z", "1709251200", "1709251200000",
                                                        "91", "-181", "31.2", "=1+1", "\u202e", "\x00"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(CELL, min_size=12, max_size=12), min_size=1, max_size=8))
def test_generated_rows_always_add_up(tmp_path, rows):
    df = pl.DataFrame(rows, schema=HEAD.strip().split(","), orient="row")
    d = tmp_path / "gen"
    d.mkdir(exist_ok=True)
    df.write_csv(d / "logins.csv")
    try:
        res = _both(lambda n: scan(ScanInputs(logins=d / "logins.csv"), load_config(), shards=n))
    except FraudError as e:
        assert "\n" not in str(e)
        return
    li = res.loaded["logins"]
    assert li.rows_read == len(rows) == li.rows_used + li.rows_rejected


def test_nested_and_binary_parquet_columns(tmp_path):
    nested = pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"], "user_id": [[1, 2]]})
    buf = tmp_path / "n.parquet"
    nested.write_parquet(buf)
    with pytest.raises(FraudError, match=r"column 'user_id' holds List\(Int64\) values"):
        scan_folder(tmp_path, {"logins.parquet": buf.read_bytes()})
    pl.DataFrame({"ts": [timedelta(hours=1)], "user_id": ["u1"]}).write_parquet(buf)
    with pytest.raises(FraudError, match=r"column 'ts' holds Duration\(time_unit='us'\) values"):
        scan_folder(tmp_path, {"logins.parquet": buf.read_bytes()})
    ok = pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * 2, "user_id": [b"u1", b"u2"]})
    ok.write_parquet(buf)
    res = scan_folder(tmp_path, {"logins.parquet": buf.read_bytes()})
    assert res.loaded["logins"].rows_used == 2
    pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"], "user_id": [b"\xff\xfe"]}).write_parquet(buf)
    with pytest.raises(FraudError, match="user_id hold bytes that are not UTF-8 text|invalid utf8"):
        scan_folder(tmp_path, {"logins.parquet": buf.read_bytes()})
