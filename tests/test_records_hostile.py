"""The record-by-record readers (fraud.records) on hostile records: one bad record is rejected, the rest read."""
from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from fraud.config import load_config
from fraud.pipeline import ScanInputs, scan
from fraud.records import LINE_ERROR, NESTED, ndjson_records

DEEP = '{"ts": "2024-03-01T08:00:00Z", "user_id": "u2", "extra": ' + "[" * 5000 + "]" * 5000 + "}"
LINES = ['{"ts": "2024-03-01T08:00:00Z", "user_id": "u1"}', DEEP, '{"ts": "2024-03-01T08:00:00Z", "user_id": "u3"}']


def test_over_nested_ndjson_line_is_one_rejected_line():
    df = ndjson_records(LINES)
    assert df["_row"].to_list() == [1, 2, 3]
    assert df[LINE_ERROR].to_list() == [None, "line is not valid JSON (nested too deeply)", None]
    assert df["user_id"].to_list() == ["u1", None, "u3"]


def test_over_nested_top_level_value_is_one_rejected_line():
    df = ndjson_records(["[" * 100_000, '{"user_id": "u1"}'])
    assert df[LINE_ERROR].to_list() == ["line is not valid JSON (nested too deeply)", None]


def test_moderately_nested_value_is_kept_as_json_text():
    df = ndjson_records(['{"user_id": "u1", "extra": ' + "[" * 50 + "]" * 50 + "}"])
    assert df[LINE_ERROR].to_list() == [None] and df["extra"][0] == NESTED + "[" * 50 + "]" * 50


def test_nested_values_where_text_belongs_are_rejected_in_memory_and_in_slices(tmp_path):
    """An object or list as a user_id or device_id names no account or device (it became the account
    '{"id": "u1"}'); a braced GUID written as a string is an id; a nested extra column is ignored; a list where a
    number belongs is a bad number as before. The fast and the record-by-record reader agree."""
    d = tmp_path / "in"
    d.mkdir()
    rows = ['{"ts": "2024-03-01T08:00:00Z", "user_id": {"id": "u1"}, "device_id": "d1"}',
            '{"ts": "2024-03-01T08:00:00Z", "user_id": "u2", "device_id": ["d2"]}',
            '{"ts": "2024-03-01T08:00:00Z", "user_id": "u3", "device_id": "{6F9619FF-8B86-D011-B42D-00CF4FC964FF}",'
            ' "geo": {"asn": 4134}}',
            '{"ts": "2024-03-01T08:00:00Z", "user_id": "u4", "lat": [31.2, 1], "lon": 121.4}']
    (d / "logins.jsonl").write_text("\n".join(rows) + "\n")
    results = [scan(ScanInputs.from_folder(d), load_config(), shards=n) for n in (1, 3)]
    for res in results:
        assert res.rejected.select("row", "reason").rows() == [
            (1, 'nested JSON value (object or list) in column user_id: {"id": "u1"}'),
            (2, 'nested JSON value (object or list) in column device_id: ["d2"]'),
            (4, "bad number in column lat: [31.2, 1]")]
        assert "\x00" not in "".join(res.rejected["raw"]) and '"user_id":"{\\"id\\": \\"u1\\"}"' in res.rejected["raw"][0]
        assert res.scores["user_id"].to_list() == ["u3"]
        assert res.profiles["main_device_id"].to_list() == ["{6F9619FF-8B86-D011-B42D-00CF4FC964FF}"]
    assert_frame_equal(results[0].rejected, results[1].rejected)


def test_scan_rejects_only_the_over_nested_line_in_memory_and_in_slices(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.jsonl").write_text("\n".join(LINES) + "\n")
    results = [scan(ScanInputs.from_folder(d), load_config(), shards=n) for n in (1, 3)]
    for res in results:
        li = res.loaded["logins"]
        assert (li.rows_read, li.rows_used, li.rows_rejected) == (3, 2, 1)
        assert res.rejected.select("row", "reason").rows() == [(2, "line is not valid JSON (nested too deeply)")]
        assert sorted(res.scores["user_id"]) == ["u1", "u3"]
    assert_frame_equal(results[0].rejected, results[1].rejected)
    assert_frame_equal(results[0].scores, results[1].scores)


def test_a_bare_cr_inside_a_field_does_not_fail_the_record_reader():
    # Python's csv refuses a CR inside an unquoted field; the record reader keeps it as the fast reader does
    from fraud.records import csv_records

    df = csv_records("ts,user_id,ua\r\n1,u1,Moz\rilla\r\n2,u2,x,extra\r\n", ",")
    assert df["ua"].to_list() == ["Moz\rilla", None]
    assert df["__line_error"].to_list() == [None, "4 fields where the header has 3 (an unquoted separator or a "
                                                   "broken quote)"]


def test_a_column_of_nested_values_only_stays_on_the_fast_reader_and_reads_as_the_record_reader_does():
    """An export whose every row carries an object (a "geo" extra, here also user_id) is read by the fast reader,
    the nested values marked as the record reader marks them: the same rows, the same rejected reasons."""
    from pathlib import Path

    from fraud.inputs import _read_ndjson

    lines = ['{"ts": "2024-03-01T08:00:00Z", "user_id": {"id": "u1"}, "geo": {"asn": 1}}',
             '{"ts": "2024-03-01T08:00:00Z", "user_id": {"id": "u2"}, "geo": null}']
    fast = _read_ndjson(("\n".join(lines) + "\n").encode(), Path("x.jsonl"))
    assert fast.select("user_id", "geo").rows() == ndjson_records(lines).select("user_id", "geo").rows() == [
        (NESTED + '{"id": "u1"}', NESTED + '{"asn": 1}'), (NESTED + '{"id": "u2"}', None)]


def test_typed_true_false_or_infinite_ids_are_rejected_in_memory_and_in_slices(tmp_path):
    """A Parquet id column of booleans, or a float id column holding infinity, named the accounts 'true' and
    'inf' and the device 'false'; rejected rows now. A whole float id still reads without its fraction."""
    import polars as pl

    d = tmp_path / "in"
    d.mkdir()
    pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * 4, "user_id": [1001.0, float("inf"), None, 1002.0],
                  "device_id": [True, False, None, None]}).write_parquet(d / "logins.parquet")
    results = [scan(ScanInputs.from_folder(d), load_config(), shards=n) for n in (1, 3)]
    for res in results:
        assert res.rejected.select("row", "reason").rows() == [
            (1, "device_id is true/false, not an id: true"),
            (2, "user_id is an infinite number, not an id: inf; device_id is true/false, not an id: false"),
            (3, "missing required value user_id")]
        assert res.scores["user_id"].to_list() == ["1002"]
    assert_frame_equal(results[0].rejected, results[1].rejected)


def test_a_separator_ending_every_record_is_no_extra_field_in_memory_and_in_slices(tmp_path):
    """Some exporters end each data line with the separator the header lacks: every row was rejected as "4 fields
    where the header has 3". An empty last field beyond the header is no field; a value there still is one."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,device_id\n2024-03-04T10:00:00Z,u1,d1,\n2024-03-04T10:00:00Z,u2,d2, \n"
                                  "2024-03-04T11:00:00Z,u3,d3,x\n")
    results = [scan(ScanInputs.from_folder(d), load_config(), shards=n) for n in (1, 3)]
    for res in results:
        assert sorted(res.scores["user_id"]) == ["u1", "u2"]
        assert res.rejected.select("row", "reason").rows() == [
            (3, "4 fields where the header has 3 (an unquoted separator or a broken quote)")]
    assert_frame_equal(results[0].rejected, results[1].rejected)


def test_a_stray_quote_before_a_quoted_multiline_field_loses_no_record_in_memory_and_in_slices(tmp_path):
    """A stray quote (u1) whose field a later, legitimately quoted two-line field (u4) "closed": u2 to u4 vanished
    into u1's rejected row, its text cut short. Now only u1's line is rejected and the lines after it are read
    again: u2, u3, u4 (its note over two lines) and u5 are rows, the records numbered as the file has them."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text('ts,user_id,user_agent,device_id\n2024-03-04T10:00:00Z,u1,"okhttp/4.9,d1\n'
                                  "2024-03-04T10:01:00Z,u2,curl,d2\n2024-03-04T10:02:00Z,u3,curl,d3\n"
                                  '2024-03-04T10:03:00Z,u4,"two\nlines",d4\n2024-03-04T10:04:00Z,u5,curl,d5\n')
    results = [scan(ScanInputs.from_folder(d), load_config(), shards=n) for n in (1, 3)]
    for res in results:
        assert sorted(res.scores["user_id"]) == ["u2", "u3", "u4", "u5"]
        assert (res.loaded["logins"].rows_read, res.loaded["logins"].rows_rejected) == (5, 1)
        assert res.rejected.select("row", "reason", "raw").rows() == [
            (1, "a quote opened on this line runs over the next lines, which are records of their own (a stray "
                "quote)", '2024-03-04T10:00:00Z,u1,"okhttp/4.9,d1')]
        ua = res.context.logins.filter(pl.col("user_id") == "u4").collect()["user_agent"].to_list()
        assert ua == ["two\nlines"]
    assert_frame_equal(results[0].rejected, results[1].rejected)


def test_a_quoted_note_over_two_lines_in_a_file_whose_records_end_in_a_separator_is_one_record():
    """Both shapes together: a file every record of which ends in a separator, one of them with a quoted note over
    two lines, reads that record whole (the multi-line rule took it for a stray quote and re-read its second line)."""
    from fraud.records import csv_records

    df = csv_records('ts,user_id,note\n1,u1,"two\nlines",\n2,u2,x,\n', ",")
    assert df.select("user_id", "note", "__line_error").rows() == [("u1", "two\nlines", None), ("u2", "x", None)]
