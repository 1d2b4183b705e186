"""Hostile inputs: every case ends in a completed scan whose rows add up (read = used + rejected), with the
reasons in the rejected rows, or in one clear FraudError — never a traceback; and a scan in slices
(``shards=3``) ends the same way."""
from __future__ import annotations

import gzip
import os
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
    assert res.rejected["reason"].to_list() == ["only one of lat/lon given", "bad number in column lon: inf",
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


@pytest.mark.parametrize("name", ["logins.csv", "logins.csv.gz"])
def test_degenerate_files_end_the_same_in_memory_and_in_slices(tmp_path, name):
    """A file of NUL bytes (zero-filled after a crash) has no header: one clear error both ways (the sliced scan
    read it as blank, 0 rows). An Excel export holding only its "sep=;" line is blank both ways (the sliced scan
    failed on it); so are a BOM, a UTF-16 BOM with blank lines, whitespace."""
    pack = (lambda b: gzip.compress(b)) if name.endswith(".gz") else (lambda b: b)  # noqa: E731
    for sub in ("nul", *(f"b{i}" for i in range(5))):
        (tmp_path / sub).mkdir()
    with pytest.raises(FraudError, match="missing required column 'ts'"):
        scan_folder(tmp_path / "nul", {name: pack(b"\x00" * 100)})
    for i, blank in enumerate((b"sep=;\n", b"sep=,", b"\xef\xbb\xbf\n \n", "\ufeff\n\n".encode("utf-16"), b" \t\n")):
        res = scan_folder(tmp_path / f"b{i}", {name: pack(blank)})
        assert res.loaded["logins"].rows_read == 0 and res.findings.height == 0


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


def test_coordinate_text_is_strict_and_never_wrapped(tmp_path):
    """Decimal commas of a semicolon export read as decimals; stray text, a second dot and a longitude beyond 180
    are rejected (they used to become 12.0, 5.6 and -160 through geopy's lenient parser)."""
    body = ("ts;user_id;lat;lon\n2024-03-01T00:00:00Z;u1;48,8566;2,3522\n2024-03-01T00:01:00Z;u1;x12;2,3\n"
            "2024-03-01T00:02:00Z;u1;12.5.6;2,3\n2024-03-01T00:03:00Z;u1;48,8;200 E\n"
            "2024-03-01T00:04:00Z;u1;48°51'24\"N;2°21'8\"E\n")
    res = scan_folder(tmp_path, {"logins.csv": HEAD + GOOD, "locations.csv": body})
    li = res.loaded["locations"]
    assert (li.rows_used, li.rows_rejected) == (2, 3)
    assert sorted(res.rejected["reason"].to_list()) == [
        "bad number in column lat: 12.5.6", "bad number in column lat: x12", "lon out of range -180..180: 200.0"]
    lat_lon = [(round(a, 4), round(b, 4)) for a, b in res.context.locations.select("lat", "lon").collect().rows()]
    assert lat_lon == [(48.8566, 2.3522), (48.8567, 2.3522)]


def test_score_beyond_the_integer_range_is_rejected(tmp_path):
    res = scan_folder(tmp_path, {"logins.csv": HEAD + GOOD,
                                 "scores.csv": "user_id,score\nu1,99999999999999999999\nu2,1e19\nu3,700\n"})
    assert res.rejected["reason"].to_list() == ["bad integer in column score: 99999999999999999999",
                                                "bad integer in column score: 1e19"]


@pytest.mark.parametrize("final", ["", "\n", "\r\n"])
def test_bare_cr_line_ends_are_lines(tmp_path, final):
    """A CR-only file is read line by line, also when something appended a final LF (it was one header line)."""
    text = (HEAD + GOOD + GOOD.replace("u1", "u2")).replace("\n", "\r") + final
    res = scan_folder(tmp_path, {"logins.csv": text})  # in memory and in slices
    assert (res.loaded["logins"].rows_read, res.loaded["logins"].rows_used) == (2, 2)


def test_a_file_name_that_is_not_utf8_is_one_clear_error(tmp_path):
    """A Latin-1 file name (from a Windows share or a zip) crashed the report's writing; it is named, escaped."""
    (tmp_path / os.fsdecode(b"logins.donn\xe9es.csv")).write_text(HEAD + GOOD)
    for spec in (tmp_path, tmp_path / "*.csv"):
        with pytest.raises(FraudError, match=r"logins\.donn\\xe9es\.csv: the file name is not valid UTF-8"):
            scan(ScanInputs.from_folder(spec) if spec == tmp_path else ScanInputs(logins=spec), load_config())


def test_corrupt_gzip_is_one_clear_error(tmp_path):
    blob = bytearray(gzip.compress((HEAD + "".join(GOOD.replace("u1", f"u{i}") for i in range(200))).encode()))
    for i in range(20, 200):
        blob[i] ^= 0x55
    with pytest.raises(FraudError, match=r"logins\.csv\.gz: cannot"):
        scan_folder(tmp_path, {"logins.csv.gz": bytes(blob)})


@pytest.mark.parametrize("header", ["ts,user_id, user_id", "ts,User_ID,USER_ID"])
def test_headers_that_read_as_one_column_are_one_clear_error(tmp_path, header):
    with pytest.raises(FraudError, match="all read as 'user_id'; rename or drop all but one"):
        scan_folder(tmp_path, {"logins.csv": header + "\n2024-03-01T00:00:00Z,a,b\n"})


def test_a_file_name_with_brackets_is_a_file(tmp_path):
    d = tmp_path / "2024[Q1]"
    d.mkdir()
    (d / "logins[1].csv").write_text(HEAD + GOOD)
    res = scan(ScanInputs(logins=d / "logins[1].csv"), load_config(), shards=1)
    assert res.loaded["logins"].rows_used == 1


def test_ndjson_with_unicode_line_separators_inside_strings(tmp_path):
    rows = '{"ts": "2024-03-01T00:00:00Z", "user_id": "u1", "city": "a\u2028b\u0085c"}\n'
    res = scan_folder(tmp_path, {"logins.jsonl": rows})
    assert res.loaded["logins"].rows_used == 1


def test_unreadable_entry_named_like_an_input_is_an_error(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text(HEAD + GOOD)
    (d / "locations.csv").symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(FraudError, match="locations.csv: a dangling link where the locations input was expected"):
        ScanInputs.from_folder(d)


def test_decision_rows_add_up_and_are_listed_in_row_order(tmp_path):
    """A bad decision word and a bad timestamp are both rejected rows: read = used + rejected, in row order."""
    res = scan_folder(tmp_path, {"logins.csv": HEAD + GOOD, "decisions.csv":
                                 "finding_id,decision,decided_at,reviewer,note\nf1,maybe,2024-03-02T00:00:00Z,r,\n"
                                 "f2,dismiss,yesterday,r,\nf3,confirm,2024-03-02T00:00:00Z,r,\n"})
    assert {k: res.summary["inputs"]["decisions"][k] for k in ("rows_read", "rows_used", "rows_rejected")} == {
        "rows_read": 3, "rows_used": 1, "rows_rejected": 2}
    dec = res.rejected.filter(pl.col("input") == "decisions")
    assert dec.select("row", "reason").rows() == [(1, "decision must be confirm or dismiss: maybe"),
                                                  (2, "bad timestamp in column decided_at: yesterday")]
    assert '"finding_id":"f1","decision":"maybe"' in dec["raw"][0]


def test_one_malformed_csv_record_is_rejected_not_the_file(tmp_path):
    """A stray quote inside an unquoted field is a character (Python's csv rules); a row with more fields than
    the header is rejected with the field counts (it used to be cut silently); the file's other rows are read."""
    body = (HEAD + GOOD.replace("Mozilla/5.0", 'Mozil"la/5.0') + GOOD.replace("u1", "u2")
            + GOOD.replace("u1", "u3").replace("Mozilla/5.0", "Mozilla/5.0 (X11, Linux)"))
    res = scan_folder(tmp_path, {"logins.csv": body})
    li = res.loaded["logins"]
    assert (li.rows_read, li.rows_used, li.rows_rejected) == (3, 2, 1)
    assert res.rejected.select("row", "reason").rows() == [
        (3, "13 fields where the header has 12 (an unquoted separator or a broken quote)")]
    assert res.rejected["raw"][0].startswith("2024-03-01T08:00:00+08:00,u3,login")
    assert sorted(res.context.logins.select("user_agent").collect()["user_agent"].to_list()) == [
        "Mozil\"la/5.0", "Mozilla/5.0"]


def test_one_malformed_ndjson_line_is_rejected_not_the_file(tmp_path):
    good = '{"ts": "2024-03-01T00:00:00Z", "user_id": "u1", "lat": 31.2, "lon": 121.4}'
    body = "\n".join([good, '{"ts": "2024-03-01T00:01:00Z", "user_id": "u1", "la', "",
                      good.replace("u1", "u2").replace("31.2", "[31.2, 1]"), "[1, 2]", good.replace("u1", "u3")])
    res = scan_folder(tmp_path, {"logins.jsonl": body + "\n"})
    li = res.loaded["logins"]
    assert (li.rows_read, li.rows_used, li.rows_rejected) == (5, 2, 3)
    assert res.rejected.select("row", "reason").rows() == [
        (2, "line is not valid JSON (Unterminated string starting at)"),
        (4, "bad number in column lat: [31.2, 1]"),
        (5, "line is JSON but not an object (list)")]


def test_ndjson_rows_are_line_numbers_across_blank_lines(tmp_path):
    body = '{"ts": "2024-03-01T00:00:00Z", "user_id": "u1"}\n\n{"ts": "nope", "user_id": "u1"}\n'
    res = scan_folder(tmp_path, {"logins.jsonl": body})
    assert res.rejected.select("row", "reason").rows() == [(3, "bad timestamp in column ts: nope")]


@pytest.mark.parametrize("encode", [lambda t: b"\xef\xbb\xbf\xef\xbb\xbf" + t.encode(),
                                    lambda t: t.encode("utf-16"), lambda t: t.encode("utf-16-be")],
                         ids=["double BOM", "UTF-16 LE with BOM", "UTF-16 BE without BOM"])
def test_text_encodings(tmp_path, encode):
    body = encode(HEAD + GOOD + GOOD.replace("u1", "u2"))
    if body.startswith(b"\x00"):  # UTF-16 without a byte-order mark is not read: one clear error saying so
        with pytest.raises(FraudError, match=r"logins\.csv: looks like UTF-16 text without a byte-order mark"):
            scan_folder(tmp_path, {"logins.csv": body})
        return
    res = scan_folder(tmp_path, {"logins.csv": body})
    assert res.loaded["logins"].rows_used == 2


@pytest.mark.parametrize("name", ["logins.csv", "logins.jsonl", "logins.csv.1"])
def test_parquet_data_under_a_text_name_is_one_short_error(tmp_path, name):
    """Parquet bytes in logins.csv gave a 2 KB error line of escaped binary (the header read: 'PAR1\\x15...')."""
    import io

    buf = io.BytesIO()
    pl.DataFrame({"ts": ["2024-03-01T00:00:00Z"], "user_id": ["u1"]}).write_parquet(buf)
    suffix = ".1" if name.endswith(".1") else name[name.rindex("."):]
    with pytest.raises(FraudError) as e:
        scan_folder(tmp_path, {name: buf.getvalue()})
    assert str(e.value) == f"{tmp_path / 'in' / name}: Parquet data in a file named {suffix}; rename it .parquet"
    assert scan_folder(tmp_path, {name: b"", "logins.parquet": buf.getvalue()}).loaded["logins"].rows_used == 1


def test_utf16_without_a_byte_order_mark_is_said_to_be_so(tmp_path):
    """It read as the header 't\\x00s\\x00', 'u\\x00s\\x00...': missing required column 'ts'. A NUL in a UTF-8
    value is no such file (its row is rejected)."""
    with pytest.raises(FraudError) as e:
        scan_folder(tmp_path, {"logins.csv": (HEAD + GOOD).encode("utf-16-le")})
    assert str(e.value) == (f"{tmp_path / 'in' / 'logins.csv'}: looks like UTF-16 text without a byte-order mark (a NUL "
                            "byte beside every character of the header); re-encode it as UTF-8")
    res = scan_folder(tmp_path, {"logins.csv": HEAD + GOOD + GOOD.replace("u1", "u\x001")})
    assert res.loaded["logins"].rows_used == 1 and res.loaded["logins"].rows_rejected == 1


def test_two_canonical_columns_onto_one_source_is_a_config_error(tmp_path):
    from fraud.errors import ConfigError
    cfg = tmp_path / "c.toml"
    cfg.write_text('[columns]\nts = "t"\nuser_id = "t"\n')
    with pytest.raises(ConfigError, match="maps 'ts' and 'user_id' onto the same source column 't'"):
        load_config(cfg)


def test_record_by_record_rows_count_records_not_lines(tmp_path):
    """A quoted field with a newline is one record: the wide row after it is data row 3 in both readers' numbering."""
    body = (HEAD + GOOD.replace("Mozilla/5.0", '"Mozilla/5.0\nsecond line"') + GOOD.replace("u1", "u2")
            + GOOD.replace("u1", "u3").replace("CN,Shanghai", "CN,Shanghai,extra"))
    res = scan_folder(tmp_path, {"logins.csv": body})
    assert res.rejected.select("row", "reason").rows() == [
        (3, "13 fields where the header has 12 (an unquoted separator or a broken quote)")]
    assert res.loaded["logins"].rows_used == 2


def test_a_files_own_row_column_is_an_extra_column(tmp_path):
    """A file's column named like the reader's row number is renamed (then ignored): it used to be taken as the
    row numbers, multiplying rows and misnumbering rejections."""
    body = "ts,user_id,_row\n" + "".join(f"{1709283600 + 86400 * i},u{i},7\n" for i in range(5)) + "nope,u9,7\n"
    res = scan_folder(tmp_path, {"logins.csv": body})
    li = res.loaded["logins"]
    assert (li.rows_read, li.rows_used, li.rows_rejected) == (6, 5, 1)
    assert li.extra_columns == ["_row (input column)"] and res.rejected["row"].to_list() == [6]


def test_an_unclosed_quote_rejects_its_line_not_the_rest_of_the_file(tmp_path):
    rows = [GOOD.replace("u1", f"u{i}") for i in range(6)]
    rows[2] = rows[2].replace(",u2,", ',"u2,')
    res = scan_folder(tmp_path, {"logins.csv": HEAD + "".join(rows)})
    li = res.loaded["logins"]
    assert (li.rows_read, li.rows_used, li.rows_rejected) == (6, 5, 1)
    assert res.rejected.select("row", "reason").rows() == [(3, "a quote opened on this line is never closed")]


def test_record_by_record_reading_takes_fields_of_any_length(tmp_path):
    """The record reader (a line with an extra field sends the file to it) reads fields of any length; a value
    over 64 KiB is then rejected as no log value, before any parsing step copies it (a 200 MB field took 35x
    its size in memory)."""
    body = (HEAD + GOOD.replace("Mozilla/5.0", "M" * 60_000) + GOOD.replace("Mozilla/5.0", "M" * 200_000)
            + GOOD.replace("CN,Shanghai", "CN,Shanghai,extra"))
    res = scan_folder(tmp_path, {"logins.csv": body})
    assert (res.loaded["logins"].rows_used, res.loaded["logins"].rows_rejected) == (1, 2)
    assert res.rejected.sort("row")["reason"][0] == (
        "value in column user_agent is 200,000 bytes long (more than 65,536: no log value)")


def _stray_quotes() -> str:
    head = "ts,user_id,event,success,ip,user_agent,device_id,lat,lon,country,city,amount\n"
    rows = []
    for i in range(8):
        ua = {2: '"okhttp/4.9.2', 5: '"okhttp/4.9.5'}.get(i, f"okhttp/4.9.{i}")
        rows.append(f"2024-03-01T08:0{i}:00+08:00,u{i},login,true,1.2.3.{i},{ua},dev{i},31.2,121.4,CN,Shanghai,\n")
    return head + "".join(rows)


@pytest.mark.parametrize("shards", [1, 3])
def test_stray_quotes_never_swallow_lines(tmp_path, shards):
    """Two agents opening with a stray quote (copied from an nginx log): the fast reader took the lines between
    them as one quoted field, and three users vanished. Each physical line is a row: the two broken ones are
    rejected with the reason, the others read (in memory and in slices alike)."""
    (tmp_path / "logins.csv").write_text(_stray_quotes())
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    li = res.summary["inputs"]["logins"]
    assert (li["rows_read"], li["rows_used"], li["rows_rejected"]) == (8, 6, 2)
    assert res.scores["user_id"].to_list() == ["u0", "u1", "u3", "u4", "u6", "u7"]
    assert res.rejected.select("row", pl.col("reason").str.slice(0, 40)).rows() == [
        (3, "a quote opened on this line runs over th"), (6, "a quote opened on this line is never clo")]


def test_a_quote_left_open_on_the_last_line_is_rejected_and_a_note_over_two_lines_is_kept(tmp_path):
    (tmp_path / "logins.csv").write_text('ts,user_id,city\n2024-03-01T08:00:00Z,u1,X\n2024-03-01T08:01:00Z,"u2,Y\n')
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.scores["user_id"].to_list() == ["u1"]
    assert res.rejected["reason"].to_list() == ["a quote opened on this line is never closed"]
    # a quoted field over lines that are no records of their own stays one field (a note written on two lines)
    (tmp_path / "logins.csv").write_text('ts,user_id,city\n2024-03-01T08:00:00Z,u1,"New\nYork"\n'
                                         '2024-03-01T08:01:00Z,u2,"5"" screen"\n')
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.rejected.height == 0 and res.scores["user_id"].to_list() == ["u1", "u2"]
    # ... also when the rest of the record follows the field on its second line
    (tmp_path / "logins.csv").write_text('ts,city,user_id\n2024-03-01T08:00:00Z,"New\nYork",u1\n'
                                         '2024-03-01T08:01:00Z,X,u2\n')
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.rejected.height == 0 and res.scores["user_id"].to_list() == ["u1", "u2"]


@pytest.mark.parametrize("shards", [1, 2])
def test_leading_empty_lines_are_skipped_by_both_readers(tmp_path, shards):
    # a valid file with a leading empty line is read by the fast reader; with a too-wide row by the record reader
    (tmp_path / "logins.csv").write_text("\n\nts,user_id\n2024-03-01T08:00:00Z,u1\n2024-03-01T08:01:00Z,u2\n")
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    assert res.scores["user_id"].to_list() == ["u1", "u2"] and res.rejected.height == 0
    (tmp_path / "logins.csv").write_text("\nts,user_id\n2024-03-01T08:00:00Z,u1\n2024-03-01T08:00:00Z,u2,extra\n")
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    assert res.scores["user_id"].to_list() == ["u1"]
    assert res.rejected.select("row", "reason").rows() == [
        (2, "3 fields where the header has 2 (an unquoted separator or a broken quote)")]


@pytest.mark.parametrize("shards", [1, 2])
def test_stray_quotes_on_every_line_reject_every_line_never_merge_them(tmp_path, shards):
    """An export that leaves a quote before every agent: adjacent lines paired into records of the header's width
    (half the users vanished into the other half's rows). Each such line is rejected, with its reason."""
    head = "ts,user_id,user_agent,device_id\n"
    rows = "".join(f'2024-03-01T08:0{i}:00Z,u{i},"okhttp/4.9.{i},dev{i}\n' for i in range(4))
    (tmp_path / "logins.csv").write_text(head + rows + "2024-03-01T08:09:00Z,u9,okhttp/4.9.9,dev9\n")
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    li = res.summary["inputs"]["logins"]
    assert (li["rows_read"], li["rows_used"], li["rows_rejected"]) == (5, 1, 4)
    assert res.scores["user_id"].to_list() == ["u9"]
    assert res.rejected["row"].to_list() == [1, 2, 3, 4]


def test_a_multiline_json_blob_in_an_extra_column_stays_one_field(tmp_path):
    # a CSV writer quotes a multi-line field whole: many separators inside, but the span's last line ends the field
    blob = '"{\n  ""a"": 1, ""b"": 2, ""c"": 3, ""d"": 4, ""e"": 5\n}"'
    (tmp_path / "logins.csv").write_text("ts,user_id,body,city\n" + f"2024-03-01T08:00:00Z,u1,{blob},X\n"
                                         "2024-03-01T08:01:00Z,u2,,Y\n")
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.rejected.height == 0 and res.scores["user_id"].to_list() == ["u1", "u2"]


@pytest.mark.parametrize("shards", [1, 2])
def test_valid_fields_quoted_over_lines_with_separators_inside_are_kept(tmp_path, shards):
    """RFC 4180 fields over lines holding a record's worth of separators: an address as the last column (its second
    line "Springfield, IL, 62701" has the header's width) and a JSON blob as the first (its last line ends the record).
    Both are one field of a record read whole; they were rejected as stray quotes, with a phantom row each."""
    (tmp_path / "logins.csv").write_text('ts,user_id,note\n2024-03-04T10:00:00Z,u1,"addr: 1 Main St, Apt 2\n'
                                         'Springfield, IL, 62701"\n2024-03-04T10:01:00Z,u2,plain\n')
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    assert res.rejected.height == 0 and res.scores["user_id"].to_list() == ["u1", "u2"]
    (tmp_path / "logins.csv").write_text('meta,ts,user_id,device_id\n"{\n  ""a"": 1,\n  ""b"": [1, 2, 3]\n}",'
                                         '2024-03-04T10:00:00Z,u1,d1\n{},2024-03-04T10:01:00Z,u2,d2\n')
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=shards)
    assert res.rejected.height == 0 and res.scores["user_id"].to_list() == ["u1", "u2"]
    assert res.summary["inputs"]["logins"]["rows_read"] == 2


def test_a_stray_quote_closed_by_a_quote_ending_a_value_on_the_next_line_swallows_no_record(tmp_path):
    """A stray quote opening one line's agent and another ending the next line's: read as CSV, one field holding
    the next record's start ("2024-03-01T08:01:00Z,u1,agent", shaped like the file's records). The first line is
    rejected and the next read again (its quote ends a value: a character); nothing vanishes into a field."""
    head = "ts,user_id,user_agent,device_id\n"
    rows = ['2024-03-01T08:00:00Z,u0,"okhttp/4.9,dev0\n', '2024-03-01T08:01:00Z,u1,agent",dev1\n',
            "2024-03-01T08:02:00Z,u2,okhttp/4.9,dev2\n", "2024-03-01T08:03:00Z,u3,okhttp/4.9,dev3\n"]
    (tmp_path / "logins.csv").write_text(head + "".join(rows))
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert res.scores["user_id"].to_list() == ["u1", "u2", "u3"]
    assert res.rejected["row"].to_list() == [1]


@pytest.mark.parametrize("text,users,rejected", [
    # a stray quote closed by another ending a value in the first column (the text before it is one field)
    ('user_agent,ts,user_id,event\nMozilla/5.0,2024-03-01T08:00:00Z,u0,login\n"okhttp/4.9,2024-03-01T08:01:00Z,u1,'
     'login\ncurl/8.1",2024-03-01T08:02:00Z,u2,login\nMozilla/5.0,2024-03-01T08:03:00Z,u3,login\n',
     ["u0", "u2", "u3"], [2]),
    # no one-line record to compare with: every valid record has a note over two lines
    ('ts,user_id,user_agent,note\n2024-03-01T08:00:00Z,u0,Mozilla/5.0,"line one\nline two"\n2024-03-01T08:01:00Z,'
     'u1,"okhttp/4.9,\n2024-03-01T08:02:00Z,u2,curl/8.1",\n2024-03-01T08:03:00Z,u3,Mozilla/5.0,"line one\nline two"\n',
     ["u0", "u2", "u3"], [2]),
    # the closing line's agent has a shape no record has (only half of its fields look like a record's)
    ('ts,user_agent,user_id,device_id\n2024-03-01T08:00:00Z,Mozilla/5.0,u0,d0\n2024-03-01T08:01:00Z,Mozilla/5.0,u1,'
     'd1\n2024-03-01T08:02:00Z,"okhttp/4.9,u2,d2\n2024-03-01T08:03:00Z,Dalvik/2.1.0 (Linux; U; Android 11)",u3,d3\n'
     '2024-03-01T08:04:00Z,Mozilla/5.0,u4,d4\n', ["u0", "u1", "u3", "u4"], [3]),
    # a stray quote closed by the opening quote of a later note over two lines, on a line short of separators
    ('ts,user_id,note,user_agent\n2024-03-01T08:00:00Z,u0,ok,Mozilla/5.0\n2024-03-01T08:01:00Z,u1,ok,"okhttp/4.9\n'
     '2024-03-01T08:02:00Z,u2,ok,Mozilla/5.0\n2024-03-01T08:03:00Z,u3,"first line\nsecond line",Mozilla/5.0\n'
     '2024-03-01T08:04:00Z,u4,ok,Mozilla/5.0\n', ["u0", "u2", "u3", "u4"], [2]),
])
def test_a_stray_quote_never_swallows_a_record_silently(tmp_path, text, users, rejected):
    """Stray quotes that a later quote "closes" so that the field between holds whole records (an adversarial CSV
    audit's cases): the first line is rejected and the next ones read again; no user vanishes without a rejected row
    (the first three lost a user silently while valid fields over lines were being told apart from them, the last
    one before that)."""
    (tmp_path / "logins.csv").write_text(text)
    res = scan(ScanInputs.from_folder(tmp_path), load_config(), shards=1)
    assert sorted(res.scores["user_id"].to_list()) == users
    assert res.rejected["row"].to_list() == rejected


def test_a_row_short_of_fields_is_rejected_not_shifted(tmp_path):
    """A row missing a field in the middle was padded at its end by the reader: its event read as 'd2', its device
    as '5.6.7.8'. It is rejected, in memory and in slices; a row whose last field is empty ("...,") is a row."""
    text = ("ts,user_id,event,device_id,ip\n2024-03-01T10:00:00Z,u1,login,d1,1.2.3.4\n"
            "2024-03-01T10:01:00Z,u2,d2,5.6.7.8\n2024-03-01T10:02:00Z,u3,login,d3,\n")
    res = scan_folder(tmp_path, {"logins.csv": text})
    assert res.loaded["logins"].rows_used == 2
    assert res.rejected.select("row", "reason").rows() == [
        (2, "4 fields where the header has 5 (a missing separator, or fields left off the end)")]
    # no short row: no record-by-record reading, nothing rejected
    (tmp_path / "b").mkdir()
    full = scan_folder(tmp_path / "b", {"logins.csv": text.replace("u2,d2,", "u2,login,d2,")})
    assert full.loaded["logins"].rows_used == 3 and full.rejected.height == 0
