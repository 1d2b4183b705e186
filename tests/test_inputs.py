import gzip
import json
import re
from datetime import datetime, timezone

import polars as pl
import pytest

from fraud.config import load_config
from fraud.errors import InputError
from fraud.inputs import file_format, find_inputs, read_input, resolve_paths, resolve_specs

U = timezone.utc
HEADER = "ts,user_id,event,success,lat,lon,amount\n"


def write(p, text):
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_rows_are_typed_and_defaults_filled(tmp_path, cfg):
    p = write(tmp_path / "logins.csv", "ts,user_id\n2024-01-01T10:00:00+08:00, u1 \n")
    li = read_input("logins", p, cfg)
    assert li.frame.select("ts", "user_id", "event", "success").row(0) == (
        datetime(2024, 1, 1, 2, tzinfo=U), "u1", "login", True)
    assert li.frame.schema["lat"] == pl.Float64 and li.rows_read == 1 and li.rows_rejected == 0


def test_bad_rows_are_rejected_with_file_row_and_reason(tmp_path, cfg):
    p = write(tmp_path / "logins.csv", HEADER
              + "2024-01-01T10:00:00Z,u1,login,true,31.2,121.5,\n"
              + "yesterday,u2,login,true,,,\n"
              + "2024-01-01T10:00:00Z,,login,true,,,\n"
              + "2024-01-01T10:00:00Z,u3,login,maybe,,,\n"
              + "2024-01-01T10:00:00Z,u4,login,true,95,10,\n"
              + "2024-01-01T10:00:00Z,u5,login,true,10,,\n"
              + "2024-01-01T10:00:00Z,u6,payment,true,,,12abc\n"
              + "2024-01-01T10:00:00Z,u7,login,true,nan,1,\n")
    li = read_input("logins", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1"]
    assert li.rows_read == 8 and li.rows_used == 1 and li.rows_rejected == 7
    got = li.rejected.select("file", "row", "reason").rows()
    assert got == [
        (str(p), 2, "bad timestamp in column ts: yesterday"),
        (str(p), 3, "missing required value user_id"),
        (str(p), 4, "bad boolean in column success: maybe"),
        (str(p), 5, "lat out of range -90..90: 95.0"),
        (str(p), 6, "only one of lat/lon given"),
        (str(p), 7, "bad number in column amount: 12abc"),
        (str(p), 8, "only one of lat/lon given"),  # NaN is no value: a position needs both
    ]


def test_booleans_in_any_case(tmp_path, cfg):
    p = write(tmp_path / "l.csv", "ts,user_id,success\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u,{w}\n" for i, w in enumerate(("TRUE", "false", "Yes", "no", "1", "0"))))
    assert read_input("logins", p, cfg).frame["success"].to_list() == [True, False, True, False, True, False]


def test_local_times_repeated_or_skipped_by_dst_are_rejected_with_the_reason(tmp_path):
    cfg_file = write(tmp_path / "c.toml", 'timezone = "Europe/Berlin"\n')
    p = write(tmp_path / "l.csv", "ts,user_id\n2024-10-27 01:30:00,u\n2024-10-27 02:30:00,u\n"
              "2024-03-31 02:30:00,u\n2024-10-27T02:30:00+01:00,u\n")
    li = read_input("logins", p, load_config(cfg_file))
    assert li.frame["ts"].to_list() == [datetime(2024, 10, 26, 23, 30, tzinfo=U), datetime(2024, 10, 27, 1, 30, tzinfo=U)]
    assert li.rejected["reason"].to_list() == [
        "local time 2024-10-27 02:30:00 in column ts is repeated by a daylight-saving change in Europe/Berlin "
        "(give an offset)",
        "local time 2024-03-31 02:30:00 in column ts is skipped by a daylight-saving change in Europe/Berlin "
        "(give an offset)"]


def test_mail_and_web_server_log_times_repeated_or_skipped_by_dst_get_the_same_reason(tmp_path):
    """RFC 2822 and Common Log Format times without an offset: the hour a daylight-saving change repeats or skips
    was a bare "bad timestamp", where the ISO form says why."""
    cfg_file = write(tmp_path / "c.toml", 'timezone = "America/New_York"\n')
    p = write(tmp_path / "l.csv", 'ts,user_id\n"Sun, 3 Nov 2024 01:30:00",u\n10/Mar/2024:02:30:00,u\n'
              '"Sun, 3 Nov 2024 01:30:00 -0400",u\n')
    li = read_input("logins", p, load_config(cfg_file))
    assert li.frame["ts"].to_list() == [datetime(2024, 11, 3, 5, 30, tzinfo=U)]
    assert li.rejected["reason"].to_list() == [
        "local time Sun, 3 Nov 2024 01:30:00 in column ts is repeated by a daylight-saving change in "
        "America/New_York (give an offset)",
        "local time 10/Mar/2024:02:30:00 in column ts is skipped by a daylight-saving change in America/New_York "
        "(give an offset)"]


def test_iso_times_with_a_decimal_comma_read_like_the_dot_form(tmp_path):
    """Python logging's asctime and log4j's ISO8601 layout write 2024-03-04 10:00:00,123 (ISO 8601 allows the comma):
    every row was rejected as a bad timestamp. A local one the clock repeats keeps the daylight-saving reason."""
    cfg_file = write(tmp_path / "c.toml", 'timezone = "Europe/Berlin"\n')
    p = write(tmp_path / "l.csv", 'ts,user_id\n"2024-03-04 10:00:00,123",u1\n"2024-03-04T10:05:00,5+08:00",u1\n'
              '"2024-10-27 02:30:00,5",u1\n2024-03-04 10:00:00.123,u2\n"2024-03-04 10:00,5",u3\n')
    li = read_input("logins", p, load_config(cfg_file))
    assert li.frame.select("user_id", "ts").rows() == [
        ("u1", datetime(2024, 3, 4, 9, 0, 0, 123000, tzinfo=U)), ("u1", datetime(2024, 3, 4, 2, 5, 0, 500000, tzinfo=U)),
        ("u2", datetime(2024, 3, 4, 9, 0, 0, 123000, tzinfo=U))]
    assert li.rejected.select("row", "reason").rows() == [
        (3, "local time 2024-10-27 02:30:00,5 in column ts is repeated by a daylight-saving change in Europe/Berlin "
            "(give an offset)"),
        (5, "bad timestamp in column ts: 2024-03-04 10:00,5")]


def test_event_names_in_any_case_and_spelling(tmp_path, cfg):
    p = write(tmp_path / "l.csv", "ts,user_id,event\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u,{w}\n"
        for i, w in enumerate(("Login", "LOGIN", " Password Change ", "bind-card", "payment", ""))))
    assert read_input("logins", p, cfg).frame["event"].to_list() == [
        "login", "login", "password_change", "bind_card", "payment", "login"]


def test_event_names_in_camel_case_and_common_synonyms(tmp_path, cfg):
    """CamelCase (PasswordChange, bindCard), Log-In, and the past-tense / verb-first / noun spellings of the
    contract's kinds (password_changed, change_password, withdrawal) are those kinds; the config's [events] wins."""
    names = ("PasswordChange", "bindCard", "Log-In", "log_on", "password_changed", "change_password", "Withdrawal",
             "phone_number_changed", "card_bound", "view_page")
    p = write(tmp_path / "l.csv", "ts,user_id,event\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u,{w}\n" for i, w in enumerate(names)))
    li = read_input("logins", p, cfg)
    assert li.frame["event"].to_list() == ["password_change", "bind_card", "login", "login", "password_change",
                                           "password_change", "withdraw", "phone_change", "bind_card", "view_page"]
    from fraud.pipeline import unread_event_kinds
    assert unread_event_kinds(li.events, cfg) == {"view_page": 1}
    (tmp_path / "c.toml").write_text('[events]\npayment = ["Withdrawal"]\nlogin = ["ViewPage"]\n')
    mine = load_config(tmp_path / "c.toml")
    assert read_input("logins", p, mine).frame["event"].to_list()[6:] == ["payment", "phone_change", "bind_card",
                                                                          "login"]
    # a name a rule's own list reads stays as it is (a config written for an export's "change_password")
    (tmp_path / "d.toml").write_text('[rules."device.new_device_sensitive"]\n'
                                     'sensitive_events = ["change_password", "withdraw"]\n')
    theirs = read_input("logins", p, load_config(tmp_path / "d.toml")).frame["event"].to_list()
    assert theirs[4:7] == ["password_change", "change_password", "withdraw"]
    q = write(tmp_path / "o.csv", "ts,user_id,event\n2024-01-01T00:00:00Z,u,LogOut\n2024-01-01T00:00:01Z,u,WithDraw\n"
              "2024-01-01T00:00:02Z,u,PassWordChange\n2024-01-01T00:00:03Z,u,ResetPassword\n")
    assert read_input("logins", q, cfg).frame["event"].to_list() == ["logout", "withdraw", "password_change",
                                                                     "reset_password"]
    # a CamelCase name split where a known name has no underscore reads as that name (a config written for
    # "ResetPassword" data as "resetpassword" keeps matching it)
    (tmp_path / "r.toml").write_text('[rules."device.new_device_sensitive"]\nsensitive_events = ["resetpassword"]\n')
    assert read_input("logins", q, load_config(tmp_path / "r.toml")).frame["event"][3] == "resetpassword"


def test_hex_device_ids_are_one_id_in_either_case(tmp_path, cfg):
    """iOS writes identifierForVendor upper-case, many backends lower-case: one phone, one device id. Hex ids (UUIDs,
    16+ hex digits) are read in lower case; other ids keep their case (dev-A and dev-a stay two devices)."""
    ids = ("E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "e621e1f8-c36c-495a-93fc-0c247a3e6e5f", "9774D56D682E549D",
           "dev-A", "dev-a", "ABCDEF12", "E621E1F8C36C495A93FC0C247A3E6E5F")
    p = write(tmp_path / "l.csv", "ts,user_id,device_id\n" + "".join(
        f"2024-01-01T00:00:{i:02d}Z,u1,{d}\n" for i, d in enumerate(ids)))
    assert read_input("logins", p, cfg).frame["device_id"].to_list() == [
        "e621e1f8-c36c-495a-93fc-0c247a3e6e5f", "e621e1f8-c36c-495a-93fc-0c247a3e6e5f", "9774d56d682e549d", "dev-A",
        "dev-a", "ABCDEF12", "e621e1f8c36c495a93fc0c247a3e6e5f"]


def test_placeholder_device_ids_name_no_device(tmp_path, cfg):
    # what clients send when they cannot read a device id: read as missing, never as one device shared by all
    ids = ("unknown", " NULL ", "undefined", "-", "0", "000000000000000", "00000000-0000-0000-0000-000000000000",
           "00:00:00:00:00:00", "9774D56D682E549C", "dev-0", "a0000", "10", "9774d56d682e549d")
    p = write(tmp_path / "l.csv", "ts,user_id,device_id\n" + "".join(
        f"2024-01-01T00:00:{i:02d}Z,u{i},{d}\n" for i, d in enumerate(ids)))
    li = read_input("logins", p, cfg)
    # the Android 2.2 bug's shared ANDROID_ID is no device either; a near one is
    assert li.frame["device_id"].to_list() == [None] * 9 + ["dev-0", "a0000", "10", "9774d56d682e549d"]
    assert li.rows_rejected == 0
    assert li.placeholders == {"device_id": 9}  # counted in summary.json
    # a snapshot must name its device: one with a placeholder is rejected, with the reason
    q = write(tmp_path / "d.csv", "ts,device_id,user_id,os\n2024-01-01T00:00:00Z,unknown,u1,Android\n"
              "2024-01-01T00:00:00Z,00000000-0000-0000-0000-000000000000,u2,iOS\n2024-01-01T00:00:00Z,d1,u3,iOS\n")
    li = read_input("devices", q, cfg)
    assert li.frame["device_id"].to_list() == ["d1"]
    assert li.rejected.select("row", "reason").rows() == [
        (1, "placeholder device_id (names no device): unknown"),
        (2, "placeholder device_id (names no device): 00000000-0000-0000-0000-000000000000")]


def test_database_export_null_markers_are_no_value(tmp_path, cfg):
    r"""MySQL/PostgreSQL/Hive/ClickHouse text exports write NULL as \N, Objective-C's nil prints (null), NSNull
    <null>, pandas nan, Excel #N/A: no device (never one device shared by every account), no agent, no account."""
    markers = ("\\N", "(null)", "<null>", "nan", "#N/A")
    p = write(tmp_path / "l.csv", "ts,user_id,device_id,user_agent\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u{i},{m},{m}\n" for i, m in enumerate(markers))
        + "".join(f"2024-01-01T00:01:0{i}Z,{m},d1,x\n" for i, m in enumerate(markers)))
    li = read_input("logins", p, cfg)
    # "nan" stays an account (Nan is a name); the other markers name none
    assert li.frame["user_id"].to_list() == [f"u{i}" for i in range(5)] + ["nan"]
    assert li.frame["device_id"].to_list() == [None] * 5 + ["d1"]
    assert li.frame["user_agent"].to_list() == [*markers, "x"]  # kept as text: the checks read it as no agent
    assert li.rejected.select("row", "reason").rows() == [(r, "missing required value user_id")
                                                          for r in (6, 7, 8, 10)]
    assert li.placeholders["device_id"] == 5


def test_no_value_words_in_a_flag_are_no_value_and_keep_the_row(tmp_path, cfg):
    """An SSMS export writes NULL in success for every payment; an iOS snapshot has no emulator verdict (unknown,
    N/A): the rows are kept, the flags are unknown and counted; a word that is no flag is still a bad row."""
    p = write(tmp_path / "l.csv", "ts,user_id,event,success\n2024-01-01T00:00:00Z,u1,payment,NULL\n"
              "2024-01-01T00:00:01Z,u1,password_change,\\N\n2024-01-01T00:00:02Z,u1,login,maybe\n")
    li = read_input("logins", p, cfg)
    assert li.frame.select("event", "success").rows() == [("payment", True), ("password_change", True)]
    assert li.placeholders["success"] == 2
    assert li.rejected.select("row", "reason").rows() == [(3, "bad boolean in column success: maybe")]
    q = write(tmp_path / "d.csv", "ts,device_id,is_emulator,is_rooted,device_lock\n"
              "2024-01-01T00:00:00Z,dA,unknown,N/A,true\n2024-01-01T00:00:00Z,dB,false,(null),yes\n")
    li = read_input("devices", q, cfg)
    assert li.frame.select("device_id", "is_emulator", "is_rooted", "device_lock").rows() == [
        ("dA", None, None, True), ("dB", False, None, True)]
    assert li.rows_rejected == 0
    assert {c: n for c, n in li.placeholders.items() if n} == {"is_emulator": 1, "is_rooted": 2}


def test_no_value_numbers_read_as_missing_and_counted(tmp_path, cfg):
    # NaN, NA, null, "-" in an optional number column are no value, like an empty cell: not a bad row
    p = write(tmp_path / "l.csv", HEADER + "".join(
        f"2024-01-01T00:00:0{i}Z,u{i},payment,true,{ll},{amt}\n" for i, (ll, amt) in enumerate(
            [("31.2,121.4", "NaN"), ("nan,NAN", "NA"), ("31.2,121.4", " null "), (",", "-"), ("31.2,121.4", "12.5")])))
    li = read_input("logins", p, cfg)
    assert li.rows_rejected == 0
    assert li.frame["amount"].to_list() == [None, None, None, None, 12.5]
    assert li.frame["lat"].to_list() == [31.2, None, 31.2, None, 31.2]
    assert {c: n for c, n in li.placeholders.items() if n} == {"amount": 4, "lat": 1, "lon": 1}


def test_nan_in_native_float_columns_is_no_value(tmp_path, cfg):
    # pandas writes missing floats as NaN in Parquet: every event without a payment or a GPS fix has them
    nan = float("nan")
    pl.DataFrame({"ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"],
                  "user_id": ["u1", "u2", "u3"], "lat": [31.2, nan, nan], "lon": [121.4, nan, 121.4],
                  "amount": [nan, 5.0, nan]}).write_parquet(tmp_path / "logins.parquet")
    li = read_input("logins", tmp_path / "logins.parquet", cfg)
    assert li.frame["user_id"].to_list() == ["u1", "u2"]
    assert li.frame["lat"].to_list() == [31.2, None] and li.frame["amount"].to_list() == [None, 5.0]
    assert li.rejected.select("row", "reason").rows() == [(3, "only one of lat/lon given")]
    # a ping must have its coordinates; an unknown accuracy is no value (the default radius applies)
    pl.DataFrame({"ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"], "user_id": ["u1", "u1"],
                  "lat": [31.2, nan], "lon": [121.4, 121.4], "accuracy_m": [nan, 20.0]}).write_parquet(
        tmp_path / "locations.parquet")
    li = read_input("locations", tmp_path / "locations.parquet", cfg)
    assert li.frame["accuracy_m"].to_list() == [None] and li.placeholders == {"accuracy_m": 1}
    assert li.rejected.select("row", "reason").rows() == [(2, "missing required value lat; only one of lat/lon given")]


def test_amounts_beyond_any_money_are_rejected(tmp_path, cfg):
    p = write(tmp_path / "l.csv", HEADER + "".join(f"2024-01-01T00:00:0{i}Z,u{i},payment,true,,,{a}\n"
                                                   for i, a in enumerate(("1e15", "-1e15", "1e16", "1e308"))))
    li = read_input("logins", p, cfg)
    assert li.frame["amount"].to_list() == [1e15, -1e15]
    assert li.rejected["reason"].to_list() == ["amount out of range -1e+15..1e+15: 1e+16",
                                               "amount out of range -1e+15..1e+15: 1e+308"]


def test_no_value_user_ids_name_no_account(tmp_path, cfg):
    # "-", "NULL", "unknown" are no account: pooled, they made one fake user with real penalties
    p = write(tmp_path / "l.csv", "ts,user_id\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,{u}\n" for i, u in enumerate(("-", " NULL ", "unknown", "u1", "none1"))))
    li = read_input("logins", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1", "none1"]
    assert li.rejected["reason"].to_list() == ["missing required value user_id"] * 3
    # a snapshot's user is optional: read as missing and counted
    q = write(tmp_path / "d.csv", "ts,device_id,user_id\n2024-01-01T00:00:00Z,d1,n/a\n2024-01-01T00:00:00Z,d2,u2\n")
    li = read_input("devices", q, cfg)
    assert li.frame["user_id"].to_list() == [None, "u2"] and li.placeholders == {"user_id": 1}


def test_user_ids_that_are_not_utf8_are_rejected_not_merged(tmp_path, cfg):
    """A UTF-8 file (Genève) with Latin-1 bytes pasted into it: those read as U+FFFD, a user_id holding one is
    rejected, and the other columns' values so read are counted for the file (they passed silently)."""
    p = tmp_path / "l.csv"
    p.write_bytes("ts,user_id,city\n2024-01-01T00:00:00Z,zoé,Genève\n".encode()
                  + "2024-01-01T00:00:00Z,jürgen,Köln\n2024-01-01T00:00:00Z,jörgen,Köln\n"
                  "2024-01-01T00:00:00Z,ann,Köln\n".encode("latin-1"))
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "city").rows() == [("zoé", "Genève"), ("ann", "K\ufffdln")]
    assert li.rejected["reason"].to_list() == [
        "user_id is not UTF-8 text (re-encode the file as UTF-8): j\ufffdrgen",
        "user_id is not UTF-8 text (re-encode the file as UTF-8): j\ufffdrgen"]
    assert li.encodings == {str(p): {
        "encoding": "utf-8", "note": "UTF-8 with bytes that are not UTF-8: they read as U+FFFD (a user_id holding one "
                                     "is rejected); re-encode the file as UTF-8",
        "values_with_replacement_character": {"city": 3}}}


CP1252_NOTE = {"encoding": "cp1252", "note": "not UTF-8, and no UTF-8 multi-byte sequence in it: read as Windows-1252 "
                                             "(cp1252, Latin-1's letters included); re-encode it as UTF-8 if that is "
                                             "wrong"}


@pytest.mark.parametrize("name", ["l.csv", "l.csv.gz", "l.jsonl"])
def test_a_file_of_single_byte_text_reads_as_cp1252_and_says_so(tmp_path, cfg, name):
    """Excel on Windows saves "CSV" in cp1252: its Zürich and Genève were Z\ufffdrich and Gen\ufffdve (no place, the
    user's clock in UTC), jürgen and jörgen rejected. Not UTF-8 and no UTF-8 multi-byte sequence in it: cp1252,
    said once for the file."""
    rows = [("2024-01-01T00:00:00Z", "jürgen", "Zürich", "Opera “Neon” €"), ("2024-01-01T00:00:01Z", "jörgen",
                                                                              "Genève", "curl")]
    if name.endswith(".jsonl"):
        text = "".join(json.dumps(dict(zip(("ts", "user_id", "city", "user_agent"), r)), ensure_ascii=False) + "\n"
                       for r in rows)
    else:
        text = "ts,user_id,city,user_agent\n" + "".join(",".join(r) + "\n" for r in rows)
    body = text.encode("cp1252")
    p = tmp_path / name
    p.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "city", "user_agent").rows() == [r[1:] for r in rows]
    assert li.rejected.height == 0 and li.encodings == {str(p): CP1252_NOTE}


def test_utf8_files_and_files_with_a_byte_order_mark_say_nothing_of_their_encoding(tmp_path, cfg):
    """UTF-8 (any script), and a file whose byte-order mark names its encoding (UTF-16; UTF-8 with a Latin-1 byte,
    read as U+FFFD): never read as cp1252."""
    text = "ts,user_id,city\n2024-01-01T00:00:00Z,zoé,Genève\n2024-01-01T00:00:01Z,u2,東京\n"
    p = write(tmp_path / "a.csv", text)
    q = tmp_path / "b.csv"
    q.write_bytes(text.replace("-01T", "-02T").encode("utf-16"))  # (other days: no repeated rows)
    li = read_input("logins", [p, q], cfg)
    assert li.frame["city"].to_list() == ["Genève", "東京"] * 2 and li.encodings == {}
    r = tmp_path / "c.csv"
    r.write_bytes(b"\xef\xbb\xbfts,user_id,city\n2024-01-01T00:00:00Z,u1,K\xf6ln\n")
    assert read_input("logins", r, cfg).encodings[str(r)]["values_with_replacement_character"] == {"city": 1}


def test_ids_holding_control_characters_are_rejected(tmp_path, cfg):
    """u1 and u<NUL>1 would be two accounts that look alike everywhere (and the second cannot be typed); an ESC in
    a device id would reach a terminal. Zero-width characters stay (shown as marks, see fraud.inert)."""
    p = tmp_path / "l.jsonl"
    rows = [{"ts": "2024-01-01T00:00:00Z", "user_id": u, "device_id": d} for u, d in
            [("u1", "d1"), ("u\x001", "d1"), ("u\t1", "d1"), ("u2", "d\x1b[2J"), ("u\u200b1", "d\x7f"), ("u3", "d3")]]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    li = read_input("logins", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1", "u3"]
    assert li.rejected.select("row", "reason").rows() == [
        (2, "user_id holds a control character (U+0000-U+001F, U+007F): u\x001"),
        (3, "user_id holds a control character (U+0000-U+001F, U+007F): u\t1"),
        (4, "device_id holds a control character (U+0000-U+001F, U+007F): d\x1b[2J"),
        (5, "device_id holds a control character (U+0000-U+001F, U+007F): d\x7f")]
    # a CSV id that starts with NUL is a control character too (only NDJSON marks nested values so)
    q = tmp_path / "l.csv"
    q.write_text("ts,user_id\n2024-01-01T00:00:00Z,\x00u1\n2024-01-01T00:00:00Z,u1\n")
    assert read_input("logins", q, cfg).rejected["reason"].to_list() == [
        "user_id holds a control character (U+0000-U+001F, U+007F): \x00u1"]
    # a device id's invisible characters are dropped: d1 and d<U+200B>1 are one device (a farm padding its id so
    # was several devices to device.shared); an account id keeps them
    r = tmp_path / "z.csv"
    r.write_text("ts,user_id,device_id\n" + "".join(f"2024-01-01T00:00:00Z,u\u200f{i},d{c}1\n" for i, c in
                                                      enumerate(["", "\u200b", "\u200d", "\u202e", "\ufeff",
                                                                 "\u2066", "\u3164"])))
    li = read_input("logins", r, cfg)
    assert li.frame["device_id"].to_list() == ["d1"] * 7 and li.frame["user_id"][0] == "u\u200f0"
    assert li.rejected.height == 0


def test_whole_json_numbers_read_without_fraction_by_both_ndjson_readers(tmp_path, cfg):
    """pandas writes an integer id column with gaps as 1001.0 in JSON too: the id 1001 of a CSV scores file, as a
    Parquet float id is. Both readers agree: the fast one, and the record-by-record one (a nested extra value sends
    the second file there). A fraction stays; so does a number written as a string."""
    rows = ['{"ts": 1700000000.0, "user_id": 1001.0, "amount": 12.5}', '{"ts": 1700000100, "user_id": 1002.5}',
            '{"ts": 1700000200, "user_id": "1003.0"}']
    (tmp_path / "a.jsonl").write_text("\n".join(rows[:2]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(r.replace("}", ', "geo": {"asn": 1}}') for r in rows) + "\n")
    fast = read_input("logins", tmp_path / "a.jsonl", cfg).frame
    slow = read_input("logins", tmp_path / "b.jsonl", cfg).frame
    assert fast["user_id"].to_list() == ["1001", "1002.5"]
    assert slow["user_id"].to_list() == ["1001", "1002.5", "1003.0"]
    assert fast["ts"].to_list() == slow["ts"].to_list()[:2] and fast["amount"].to_list() == [12.5, None]


def test_ids_a_file_writes_as_whole_floats_throughout_read_as_integers(tmp_path, cfg):
    """pandas' to_csv writes an integer id column with gaps (float64) as 1001.0: the id 1001 of a scores file and of
    the same frame written as Parquet. It was a second account, scored from default_score."""
    p = write(tmp_path / "a.csv", "ts,user_id,device_id\n2024-01-01T00:00:00Z,1001.0,7.00\n"
              "2024-01-01T00:00:01Z, 1002.0 ,\n2024-01-01T00:00:02Z,NULL,-3.0\n2024-01-01T00:00:03Z,-1003.0,8.0\n")
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "device_id").rows() == [("1001", "7"), ("1002", None), ("-1003", "8")]
    assert li.rejected.select("row", "reason").rows() == [(3, "missing required value user_id")]
    js = write(tmp_path / "b.jsonl", '{"ts": "2024-01-01T00:00:00Z", "user_id": "1001.0"}\n'
                                     '{"ts": "2024-01-01T00:00:01Z", "user_id": "1002.00"}\n')
    assert read_input("logins", js, cfg).frame["user_id"].to_list() == ["1001", "1002"]
    sc = write(tmp_path / "scores.csv", "user_id,score\n1001.0,800\n")
    assert read_input("scores", sc, cfg).frame["user_id"].to_list() == ["1001"]


def test_ids_written_with_a_fraction_stay_as_written_when_one_value_is_other_text(tmp_path, cfg):
    """The rule is the file's column, not the value: one id that is no whole float (v2.0, 1002.5) makes them text
    ids, kept as written; so does a column of another file (each file decides)."""
    p = write(tmp_path / "a.csv", "ts,user_id,device_id\n2024-01-01T00:00:00Z,1001.0,d1.0\n"
              "2024-01-01T00:00:01Z,v2.0,2.0\n2024-01-01T00:00:02Z,1002.5,3.0\n")
    q = write(tmp_path / "b.csv", "ts,user_id\n2024-01-01T00:00:03Z,1001\n2024-01-01T00:00:04Z,7.0.1\n")
    li = read_input("logins", [p, q], cfg)
    assert li.frame.select("user_id", "device_id").rows() == [
        ("1001.0", "d1.0"), ("v2.0", "2.0"), ("1002.5", "3.0"), ("1001", None), ("7.0.1", None)]


def test_a_number_column_written_with_a_decimal_comma_reads_its_dots_as_thousands(tmp_path, cfg):
    """A European-locale ';' export: 1.234,56 was a bad number and 12.000 (twelve thousand) read as 12.0, in one
    file. A comma value and no decimal point make the file's column decimal-comma, said in the summary."""
    p = write(tmp_path / "logins.csv", "ts;user_id;lat;lon;amount\n2024-01-01T00:00:00Z;u1;39,9042;116,4074;1.234,56\n"
              "2024-01-01T00:00:01Z;u1;;;12.000\n2024-01-01T00:00:02Z;u1;;; 12,5 \n2024-01-01T00:00:03Z;u1;;;-7\n"
              "2024-01-01T00:00:04Z;u1;;;1.234.567\n2024-01-01T00:00:05Z;u1;;;NULL\n2024-01-01T00:00:06Z;u1;;;12,000\n")
    li = read_input("logins", p, cfg)
    assert li.frame["amount"].to_list() == [1234.56, 12000.0, 12.5, -7.0, 1234567.0, None, 12.0]
    assert li.frame["lat"].to_list()[0] == 39.9042 and li.rows_rejected == 0
    assert li.decimal_comma == {str(p): ["amount"]}
    # each file and column decides: the locations' accuracy_m, a second file without a comma value as before
    q = write(tmp_path / "locations.csv", "ts;user_id;lat;lon;accuracy_m\n2024-01-01T00:00:00Z;u1;1;2;1.500\n"
              "2024-01-01T00:00:01Z;u1;1;2;7,5\n")
    r = write(tmp_path / "locations2.csv", "ts;user_id;lat;lon;accuracy_m\n2024-01-01T00:00:02Z;u1;1;2;1.500\n")
    lo = read_input("locations", [q, r], cfg)
    assert lo.frame["accuracy_m"].to_list() == [1500.0, 7.5, 1.5] and lo.decimal_comma == {str(q): ["accuracy_m"]}
    s = write(tmp_path / "scores.csv", "user_id;score;payment\nu1;612,0;80\nu2;700;0,25\nu3;640;\n")
    sc = read_input("scores", s, cfg)
    assert sc.frame.select("score", "payment").rows() == [(612, 80.0), (700, 0.25), (640, None)]
    assert sc.decimal_comma == {str(s): ["payment", "score"]}


def test_thousands_like_dots_stay_decimal_points_without_a_decimal_comma_or_beside_a_decimal_point(tmp_path, cfg):
    """12.000 with no comma value in its column cannot be told from twelve (read 12.0, as before); a column mixing
    12.5 and 1,5 keeps its points and rejects its comma values, with their reason. Nothing is listed."""
    a = write(tmp_path / "a.csv", 'ts,user_id,amount\n2024-01-01T00:00:00Z,u1,12.000\n2024-01-01T00:00:01Z,u1,12.5\n')
    b = write(tmp_path / "b.csv", "ts;user_id;lat;lon;amount\n2024-01-01T00:00:02Z;u1;39,9;116,4;12.000\n")
    c = write(tmp_path / "c.csv", "ts;user_id;amount\n2024-01-01T00:00:03Z;u1;12.5\n2024-01-01T00:00:04Z;u1;1,5\n"
              "2024-01-01T00:00:05Z;u1;12.000\n")
    d = write(tmp_path / "d.csv", 'ts,user_id,amount\n2024-01-01T00:00:06Z,u1,"1,5"\n2024-01-01T00:00:07Z,u1,0.250\n')
    li = read_input("logins", [a, b, c, d], cfg)
    assert li.frame["amount"].to_list() == [12.0, 12.5, 12.0, 12.5, 12.0, 0.25]
    assert li.rejected.select("file", "row", "reason").rows() == [
        (str(c), 2, "bad number in column amount: 1,5"), (str(d), 1, "bad number in column amount: 1,5")]
    assert li.decimal_comma == {}


def test_float_and_categorical_ids_from_parquet(tmp_path, cfg):
    # pandas writes an integer id column with gaps as float64: 1001.0 is the id 1001 of a CSV scores file
    pl.DataFrame({"ts": ["2024-01-01T00:00:00Z"] * 4, "user_id": [1001.0, 1002.0, float("nan"), 12.5]}).write_parquet(
        tmp_path / "a.parquet")
    li = read_input("logins", tmp_path / "a.parquet", cfg)
    assert li.frame["user_id"].to_list() == ["1001", "1002", "12.5"]
    assert li.rejected.select("row", "reason").rows() == [(3, "missing required value user_id")]
    # a Categorical id column is its text: blank ids are missing, as in a String column
    pl.DataFrame({"ts": ["2024-01-01T00:00:00Z"] * 3, "user_id": ["u1", "  ", ""]},
                 schema_overrides={"user_id": pl.Categorical}).write_parquet(tmp_path / "b.parquet")
    li = read_input("logins", tmp_path / "b.parquet", cfg)
    assert li.frame["user_id"].to_list() == ["u1"] and li.rows_rejected == 2


def test_an_imei_from_a_number_column_keeps_its_leading_zero(tmp_path, cfg):
    """A Parquet int64 column drops a US phone's leading 0 (TAC prefix 01): read back to 15 digits, the IMEI
    equals the text 013456789012349 of another snapshot; text keeps its own digits."""
    rows = {"ts": ["2024-01-01T00:00:00Z"] * 2, "device_id": ["d1", "d2"], "imei": [13456789012349, 356938035643809]}
    pl.DataFrame(rows).write_parquet(tmp_path / "devices.parquet")
    assert read_input("devices", tmp_path / "devices.parquet", cfg).frame["imei"].to_list() == [
        "013456789012349", "356938035643809"]
    write(tmp_path / "devices.csv", "ts,device_id,imei\n2024-01-01T00:00:00Z,d1,13456789012349\n")
    assert read_input("devices", tmp_path / "devices.csv", cfg).frame["imei"].to_list() == ["13456789012349"]


def test_missing_required_column_names_file_and_column(tmp_path, cfg):
    p = write(tmp_path / "logins.csv", "ts,account\n2024-01-01T00:00:00Z,u1\n")
    with pytest.raises(InputError) as e:
        read_input("logins", p, cfg)
    assert str(e.value) == (f"{p}: missing required column 'user_id' ('account' looks like it: map it in the config's "
                            "[columns.logins] table, user_id = \"account\"); the header read: 'ts', 'account'")
    q = write(tmp_path / "locations.csv", "when,user_id,lat,lon\n2024-01-01T00:00:00Z,u1,1,2\n")
    with pytest.raises(InputError, match=r"missing required column 'ts' \('when' looks like it: map it in the "
                                         r"config's \[columns.locations\] table, ts = \"when\"\)"):
        read_input("locations", q, cfg)
    r = write(tmp_path / "two.csv", "time,timestamp,user_id\n1,2,u1\n")  # two look-alikes: no guess
    with pytest.raises(InputError, match=r"missing required column 'ts'; the header read"):
        read_input("logins", r, cfg)


def test_utf32_csv_and_a_json_array_saved_as_jsonl(tmp_path, cfg):
    p = tmp_path / "a.csv"
    p.write_bytes("ts,user_id\n2024-01-01T00:00:00Z,jürgen\n".encode("utf-32"))
    assert read_input("logins", p, cfg).frame["user_id"].to_list() == ["jürgen"]
    q = tmp_path / "b.jsonl"
    q.write_text('[\n  {"ts": "2024-01-01T00:00:00Z", "user_id": "u1"},\n  {"ts": "yesterday", "user_id": "u2"}\n]\n')
    li = read_input("logins", q, cfg)
    assert li.frame["user_id"].to_list() == ["u1"] and li.rejected.select("row", "reason").rows() == [
        (2, "bad timestamp in column ts: yesterday")]
    q.write_text('[{"ts": "2024-01-01T00:00:00Z", "user_id": "u1"},\n')
    with pytest.raises(InputError, match=r"b\.jsonl: starts like a JSON array but is no valid JSON"):
        read_input("logins", q, cfg)


def test_a_csv_saved_as_jsonl_is_said_to_be_no_ndjson_in_memory_and_in_slices(tmp_path, cfg):
    """No line is a JSON object: the file is not NDJSON (it said "missing required column 'ts'"). A file with one
    good line keeps its bad lines as rejected rows."""
    from fraud.pipeline import ScanInputs, scan

    p = write(tmp_path / "logins.jsonl", "ts,user_id\n2024-01-01T00:00:00Z,u1\n")
    for shards in (1, 2):
        with pytest.raises(InputError, match=r"logins\.jsonl: not NDJSON: no line is a JSON object \(line 1: line is "
                                             r"not valid JSON \(Expecting value\)\)"):
            scan(ScanInputs(logins=p), cfg, shards=shards)
    write(p, 'ts,user_id\n{"ts": "2024-01-01T00:00:00Z", "user_id": "u1"}\n')
    li = read_input("logins", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1"]
    assert li.rejected.select("row", "reason").rows() == [(1, "line is not valid JSON (Expecting value)")]

def test_an_excel_sep_line_is_no_header(tmp_path, cfg):
    p = write(tmp_path / "l.csv", "sep=;\nts;user_id\n2024-01-01T00:00:00Z;u1\n2024-01-01T00:00:01Z;u2\n")
    li = read_input("logins", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1", "u2"] and li.frame["_row"].to_list() == [1, 2]


def test_gzip_parquet_ndjson_and_globs_agree(tmp_path, cfg):
    rows = "ts,user_id,lat,lon\n2024-01-01T00:00:00Z,u1,1.5,2.5\n1704067200000,u2,,\n"
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(rows.encode()))
    pl.DataFrame({"ts": [datetime(2024, 1, 1, tzinfo=U)], "user_id": ["u3"], "lat": [1.0], "lon": [2.0]}) \
        .write_parquet(tmp_path / "b.parquet")
    write(tmp_path / "c.jsonl", '{"ts": 1704067200, "user_id": "u4"}\n{"ts": "2024-01-01T08:00:00+08:00", '
                                '"user_id": 5}\n')
    li = read_input("logins", str(tmp_path / "*"), cfg)
    assert sorted(li.frame["user_id"].to_list()) == ["5", "u1", "u2", "u3", "u4"]
    assert li.frame["ts"].n_unique() == 1
    assert len(li.files) == 3
    assert read_input("logins", tmp_path, cfg).rows_read == 5  # a folder reads every supported file


def test_bom_and_empty_file(tmp_path, cfg):
    p = tmp_path / "logins.csv"
    p.write_bytes(b"\xef\xbb\xbfts,user_id\n2024-01-01T00:00:00Z,u1\n")
    assert read_input("logins", p, cfg).frame["user_id"].to_list() == ["u1"]
    e = tmp_path / "e" / "logins.csv"
    e.parent.mkdir()
    e.write_bytes(b"")
    li = read_input("logins", e, cfg)
    assert (li.rows_read, li.rows_used) == (0, 0)


def test_unknown_format_and_missing_file(tmp_path, cfg):
    with pytest.raises(InputError, match=r"logins\.xlsx: unknown input format"):
        file_format(tmp_path / "logins.xlsx")
    with pytest.raises(InputError, match="file not found"):
        resolve_paths(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no file matches this pattern"):
        resolve_paths(str(tmp_path / "*.csv"))


def test_unreadable_file_is_one_clear_error(tmp_path, cfg):
    p = tmp_path / "logins.parquet"
    p.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"logins\.parquet: cannot parse as parquet"):
        read_input("logins", p, cfg)
    g = tmp_path / "logins.csv.gz"
    g.write_bytes(b"not gzip")
    with pytest.raises(InputError, match=r"logins\.csv\.gz: cannot read file"):
        read_input("logins", g, cfg)


def test_scores_range_and_integer(tmp_path, cfg):
    p = write(tmp_path / "scores.csv", "user_id,score\nu1,700\nu2,900\nu3,650.5\nu4,\n")
    li = read_input("scores", p, cfg)
    assert li.frame["user_id"].to_list() == ["u1"]
    assert li.rejected["reason"].to_list() == ["score out of range 300..850: 900", "bad integer in column score: 650.5",
                                               "missing required value score"]


def test_find_inputs_by_stem(tmp_path):
    for n in ("logins.csv", "devices.parquet", "locations.jsonl.gz", "notes.txt", "scores.csv", "logins.csv.bak"):
        (tmp_path / n).write_text("")
    assert sorted(find_inputs(tmp_path)) == ["devices", "locations", "logins", "scores"]
    assert find_inputs(tmp_path)["logins"] == [tmp_path / "logins.csv"]  # a backup is no input


@pytest.mark.parametrize("text", ['ts;user_id;"amount (USD, net)"\n2024-03-01T10:00:00Z;u1;5\n',
                                  'sep=;\nts;user_id;"city, country"\n2024-03-01T10:00:00Z;u1;x\n',
                                  'ts\tuser_id\t"a,b"\n2024-03-01T10:00:00Z\tu1\tx\n'])
def test_a_separator_inside_a_quoted_column_name_does_not_decide(tmp_path, cfg, text):
    """A ';' or tab file with a comma inside a quoted column name was read as comma-separated ("missing required
    column 'ts'"); the header's separators are counted outside quotes, in memory and in slices."""
    from fraud.pipeline import ScanInputs, scan

    write(tmp_path / "logins.csv", text)
    assert read_input("logins", tmp_path / "logins.csv", cfg).frame["user_id"].to_list() == ["u1"]
    assert scan(ScanInputs.from_folder(tmp_path), cfg, shards=2).summary["inputs"]["logins"]["rows_used"] == 1


def test_rotated_logs_are_read_and_backups_are_listed(tmp_path, cfg):
    """logrotate's older copies (logins.csv.1, logins.csv.2.gz) and gzip's long suffix (.gzip) are logs: read (they
    were skipped without a word); a backup (.bak) is not read, and the scan's summary names it."""
    from fraud.pipeline import ScanInputs
    from fraud.runner import scan_to

    row = "ts,user_id\n2024-01-01T00:00:0{}Z,u{}\n"
    (tmp_path / "logins.csv").write_text(row.format(0, 0))
    (tmp_path / "logins.csv.1").write_text(row.format(1, 1))
    (tmp_path / "logins.csv.2.gz").write_bytes(gzip.compress(row.format(2, 2).encode()))
    (tmp_path / "logins.csv.gzip").write_bytes(gzip.compress(row.format(3, 3).encode()))
    (tmp_path / "logins.csv.bak").write_text(row.format(4, 4))
    assert [p.name for p in find_inputs(tmp_path)["logins"]] == ["logins.csv", "logins.csv.1", "logins.csv.2.gz",
                                                                 "logins.csv.gzip"]
    # a snapshot input's older rotated copy is superseded: not read beside the current one, listed
    (tmp_path / "scores.csv").write_text("user_id,score\nu0,700\n")
    (tmp_path / "scores.csv.1").write_text("user_id,score\nu0,500\n")
    res = scan_to(ScanInputs.from_folder(tmp_path), tmp_path / "out", cfg)
    assert sorted(res.scores["user_id"]) == ["u0", "u1", "u2", "u3"]
    assert res.scores.filter(pl.col("user_id") == "u0")["score_before"].item() == 700
    assert res.summary["files_skipped"] == ["logins.csv.bak", "scores.csv.1"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["files_skipped"] == ["logins.csv.bak",
                                                                                             "scores.csv.1"]


def test_a_folder_input_in_a_format_not_read_is_an_error_and_tsv_is_read(tmp_path, cfg):
    (tmp_path / "logins.tsv").write_text("ts\tuser_id\n2024-01-01T00:00:00Z\tu1\n")
    assert read_input("logins", find_inputs(tmp_path)["logins"], cfg).frame["user_id"].to_list() == ["u1"]
    (tmp_path / "scores.xlsx").write_text('PK')
    with pytest.raises(InputError, match=r"scores\.xlsx: named like the scores input, in a format a scan does not"):
        find_inputs(tmp_path)


def test_coordinates_as_text(tmp_path, cfg):
    p = write(tmp_path / "locations.csv", "ts,user_id,lat,lon\n"
              "2024-01-01T00:00:00Z,u1,31.23 N,121.47 E\n"
              "2024-01-01T00:00:01Z,u1,\"31°13'48\"\"N\",\"121°28'12\"\"E\"\n"
              "2024-01-01T00:00:00Z,u1,33.87 S,151.21\n"
              "2024-01-01T00:00:00Z,u1,121.47 E,31.23 N\n")
    li = read_input("locations", p, cfg)
    got = [(round(a, 2), round(b, 2)) for a, b in li.frame.select("lat", "lon").rows()]
    assert got == [(31.23, 121.47), (31.23, 121.47), (-33.87, 151.21)]
    assert li.rejected["reason"].to_list() == ["bad number in column lat: 121.47 E; bad number in column lon: 31.23 N"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_separators_are_sniffed(tmp_path, cfg, sep):
    p = write(tmp_path / "logins.csv", f"ts{sep}user_id{sep}city\n2024-01-01T00:00:00Z{sep}u1{sep}Shanghai, CN\n")
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "city").row(0) == ("u1", "Shanghai, CN")


def test_a_row_repeated_is_read_once_and_the_repeat_rejected(tmp_path, cfg):
    """Exact repeats (every canonical column equal after parsing, here also across two files and notations) keep
    their first copy; the others go to rejected.csv naming that copy. A row differing in one column stays."""
    a = write(tmp_path / "a.csv", "ts,user_id,event,ip\n"
              "2024-01-01T08:00:00Z,u1,login,1.1.1.1\n"
              "2024-01-01T08:00:00Z,u1,login,1.1.1.1\n"
              "2024-01-01T08:00:00Z,u1,login,2.2.2.2\n")
    b = write(tmp_path / "b.csv", "ts,user_id,event,ip\n"
              "1704096000,u1,Login,1.1.1.1\n"
              "2024-01-01T09:00:00+01:00,u2,login,1.1.1.1\n")
    li = read_input("logins", [a, b], cfg)
    assert (li.rows_read, li.rows_used, li.rows_rejected) == (5, 3, 2)
    assert li.frame.select("user_id", "ip", "_row").rows() == [("u1", "1.1.1.1", 1), ("u1", "2.2.2.2", 3),
                                                                 ("u2", "1.1.1.1", 2)]
    assert li.rejected.select("file", "row", "reason").rows() == [
        (str(a), 2, f"duplicate of {a} row 1 (every column equal)"),
        (str(b), 1, f"duplicate of {a} row 1 (every column equal)")]


def test_ip_addresses_are_read_in_one_form_and_non_addresses_as_missing(tmp_path, cfg):
    ips = ("8.8.8.8:443", "::ffff:8.8.8.8", "[2001:DB8::1]:80", "unknown", "0.0.0.0", "not-an-ip", "", "1.2.3.4")
    p = write(tmp_path / "l.csv", "ts,user_id,ip\n" + "".join(
        f"2024-01-01T00:00:{i:02d}Z,u{i},{v}\n" for i, v in enumerate(ips)))
    li = read_input("logins", p, cfg)
    assert li.frame["ip"].to_list() == ["8.8.8.8", "8.8.8.8", "2001:db8::1", None, None, None, None, "1.2.3.4"]
    assert li.rows_rejected == 0 and li.placeholders == {"ip": 3}  # the blank one was never an address


def test_no_value_place_names_read_as_missing_and_counted(tmp_path, cfg):
    """GeoIP and analytics exports write "-", "Unknown" or "(not set)" for a place they do not know: no city
    (else "-" is a city every user visits); "NA" stays Namibia's code, "XX"/"ZZ" name no country."""
    p = write(tmp_path / "l.csv", "ts,user_id,city,country\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u{i},{c},{k}\n" for i, (c, k) in enumerate(
            [("-", "NA"), ("Unknown", "XX"), ("(not set)", "zz"), (" ? ", "-"), ("Oslo", "NO"), ("Na", "Na"),
             ("Nan", "TH"), ("\\N", "(null)")])))
    li = read_input("logins", p, cfg)
    assert li.rows_rejected == 0
    # Nan is a Thai city; a database export's \N and a printed nil are no place
    assert li.frame["city"].to_list() == [None, None, None, None, "Oslo", "Na", "Nan", None]
    assert li.frame["country"].to_list() == ["NA", None, None, None, "NO", "Na", "TH", None]
    assert {c: n for c, n in li.placeholders.items() if n} == {"city": 5, "country": 4}
    from fraud.pipeline import ScanInputs, scan

    summary = scan(ScanInputs(logins=p), cfg).summary["inputs"]["logins"]
    assert summary["no_value_names_read_as_missing"] == {"city": 5, "country": 4}
    assert "no_value_numbers_read_as_missing" not in summary


def test_event_names_that_carry_a_login_outcome(tmp_path, cfg):
    """SIEM and auth-log exports name the outcome in the event (LOGIN_FAILED, Logon Success): a login that failed
    or succeeded; a failed name wins over a success column. The failure rules then see the failures (and count
    as given a success column the file does not have)."""
    p = write(tmp_path / "l.csv", "ts,user_id,event,success\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u{i},{e},{ok}\n" for i, (e, ok) in enumerate(
            [("LOGIN_FAILED", "true"), ("Failed Login", ""), ("login_success", "false"), ("Logon", ""),
             ("logout", ""), ("authentication-failure", "1"), ("LOGIN_ERROR", "")])))  # the last: Keycloak's
    li = read_input("logins", p, cfg)
    assert li.frame.select("event", "success").rows() == [
        ("login", False), ("login", False), ("login", False), ("login", True), ("logout", True), ("login", False),
        ("login", False)]
    from fraud.parsing import outcome_rows

    assert outcome_rows(li.events) == 6
    q = write(tmp_path / "m.csv", "ts,user_id,event\n2024-01-01T00:00:00Z,u1,LOGIN_FAILED\n")
    assert "success" in read_input("logins", q, cfg).columns
    r = write(tmp_path / "n.csv", "ts,user_id,event\n2024-01-01T00:00:00Z,u1,login\n")
    assert "success" not in read_input("logins", r, cfg).columns


def test_event_kinds_no_rule_reads_are_listed_in_the_summary(tmp_path, cfg):
    """An event vocabulary the rules do not know is seen, not silently ignored: the kinds no rule reads (not a
    contract kind, nor a configured sensitive or payment event), most frequent first."""
    from fraud.pipeline import ScanInputs, scan

    kinds = ["view_page"] * 3 + ["sso_token"] + ["Login", "LOGIN_FAILED", "withdraw", "password change"]
    p = write(tmp_path / "l.csv", "ts,user_id,event\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u{i},{k}\n" for i, k in enumerate(kinds)))
    summary = scan(ScanInputs(logins=p), cfg).summary["inputs"]["logins"]
    assert summary["event_kinds_no_rule_reads"] == {"view_page": 3, "sso_token": 1}
    q = write(tmp_path / "m.csv", "ts,user_id,event\n2024-01-01T00:00:00Z,u1,login\n")
    assert "event_kinds_no_rule_reads" not in scan(ScanInputs(logins=q), cfg).summary["inputs"]["logins"]


def test_nan_in_a_float_flag_or_epoch_column_is_no_value_never_a_blank_reason(tmp_path, cfg):
    """pandas writes a 0/1 flag or an epoch column with gaps as float64 with NaN: such a snapshot was rejected
    with an empty reason (its other values lost), a NaN timestamp likewise instead of "missing required value"."""
    nan = float("nan")
    pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * 3, "device_id": ["d1", "d2", "d3"],
                  "is_rooted": [1.0, nan, 0.0], "device_lock": [nan, 0.0, 1.0]}).write_parquet(tmp_path / "d.parquet")
    li = read_input("devices", tmp_path / "d.parquet", cfg)
    assert li.rejected.height == 0
    assert li.frame.select("device_id", "is_rooted", "device_lock").rows() == [
        ("d1", True, None), ("d2", None, False), ("d3", False, True)]
    pl.DataFrame({"ts": [1709280000.0, nan], "user_id": ["u1", "u2"]}).write_parquet(tmp_path / "l.parquet")
    li = read_input("logins", tmp_path / "l.parquet", cfg)
    assert li.frame["user_id"].to_list() == ["u1"]
    assert li.rejected.select("row", "reason").rows() == [(2, "missing required value ts")]


def test_login_outcome_words_and_whole_number_flags_read_as_booleans(tmp_path, cfg):
    """Okta's SUCCESS/FAILURE, Entra's Success/Failure, ALLOW/DENY and a spreadsheet's 1.0/0.0 were bad booleans
    (every row of such an export rejected); a word that says neither stays a bad boolean."""
    words = ["SUCCESS", "Failure", "succeeded", "failed", "ALLOW", "denied", "1.0", "0.0", "Interrupted"]
    p = write(tmp_path / "l.csv", "ts,user_id,success\n" + "".join(
        f"2024-03-01T08:00:00Z,u{i},{w}\n" for i, w in enumerate(words)))
    li = read_input("logins", p, cfg)
    assert li.frame["success"].to_list() == [True, False, True, False, True, False, True, False]
    assert li.rejected.select("row", "reason").rows() == [(9, "bad boolean in column success: Interrupted")]


def test_rejection_reasons_are_counted_by_kind_without_their_values():
    from fraud.pipeline import rejection_reasons

    rejected = pl.DataFrame({"input": ["logins", "logins", "logins", "devices", "logins"],
                             "reason": ["bad timestamp in column ts: x; bad boolean in column success: ok",
                                        "local time 2024-11-03 01:30:00 in column ts is repeated by a daylight-saving "
                                        "change in America/New_York (give an offset)",
                                        "duplicate of a.csv row 7 (every column equal)",
                                        "duplicate of d.csv row 2 (every column equal)",
                                        "duplicate of b: c.csv row 3 (every column equal)"]})
    # repeats are one kind whichever file holds the first copy (the same rows split into six files listed six
    # "duplicate of FILE" kinds, and pushed the bad timestamps out of the five listed)
    assert rejection_reasons(rejected) == {
        "devices": {"duplicate of an earlier row (every column equal)": 1},
        "logins": {"duplicate of an earlier row (every column equal)": 2, "bad boolean in column success": 1,
                   "bad timestamp in column ts": 1,
                   "local time in column ts is repeated by a daylight-saving change in America/New_York (give an "
                   "offset)": 1}}
    assert rejection_reasons(rejected.clear()) == {}


def test_a_json_object_holding_its_records_under_one_key_reads_them_in_memory_and_in_slices(tmp_path):
    """CloudTrail delivers {"Records": [...]} (one line, gzip), Microsoft Graph {"@odata.context": ..., "value":
    [...]}: the records under the one key are the rows (it was an error asking for jq). A record list beside other
    fields (GeoJSON's FeatureCollection) is still one object, and the error says where its records are."""
    from fraud.config import load_config as load
    from fraud.pipeline import ScanInputs, scan

    c = tmp_path / "c.toml"
    c.write_text('[columns]\nts = "eventTime"\nuser_id = "userIdentity.arn"\nip = "sourceIPAddress"\n')
    recs = [{"eventTime": f"2024-03-01T08:0{i}:00Z", "userIdentity": {"arn": f"a{i}"}, "sourceIPAddress": "1.2.3.4"}
            for i in range(3)]
    for name, doc, dump in [("ct.json.gz", {"Records": recs}, lambda d: gzip.compress(json.dumps(d).encode())),
                            ("graph.json", {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs",
                                            "value": recs, "@odata.nextLink": "https://graph/next"},
                             lambda d: json.dumps(d, indent=2).encode())]:
        p = tmp_path / name
        p.write_bytes(dump(doc))
        li = read_input("logins", p, load(c))
        assert li.frame.select("user_id", "_row").rows() == [("a0", 1), ("a1", 2), ("a2", 3)]
        for shards in (1, 2):
            assert scan(ScanInputs(logins=p), load(c), shards=shards).summary["inputs"]["logins"]["rows_used"] == 3
    p = tmp_path / "fc.jsonl"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": recs}))
    for shards in (1, 2):
        with pytest.raises(InputError, match=r"fc\.jsonl: missing required column 'ts'.*; the file is one JSON "
                                             r"object whose 'features' holds 3 records: give one record per line "
                                             r"\(e\.g\. jq -c '\.features\[\]' FILE > records\.jsonl\)"):
            scan(ScanInputs(logins=p), load(c), shards=shards)
    p.write_text(json.dumps({"user_id": "u1", "tags": []}))  # one record without ts: the plain error
    with pytest.raises(InputError, match=r"fc\.jsonl: missing required column 'ts'.*; the header read: 'user_id', "
                                         r"'tags'$"):
        read_input("logins", p, load(c))


def test_the_configs_events_table_reads_an_exports_event_names_in_memory_and_in_slices(tmp_path):
    """Auth0 writes `s` (login), `fp` (failed password), Keycloak UPDATE_PASSWORD: no rule read them (the failure
    rules were "not evaluated", password churn saw nothing). [events] names them; a name it gives wins over a
    built-in one, and names it does not list stay as they are."""
    from fraud.config import load_config
    from fraud.pipeline import ScanInputs, scan

    (tmp_path / "c.toml").write_text('[events]\nlogin = ["s"]\nfailed_login = ["fp", "f"]\n'
                                     'password_change = ["UPDATE_PASSWORD", "Login Failed"]\n')
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.events == {"s": "login", "fp": "failed_login", "f": "failed_login", "update_password": "password_change",
                          "login_failed": "password_change"}
    d = tmp_path / "in"
    d.mkdir()
    names = ["s", "fp", "F", "update-password", "LOGIN_FAILED", "seacft", "logout", ""]
    write(d / "logins.csv", "ts,user_id,event\n" + "".join(
        f"2024-01-01T00:00:0{i}Z,u1,{n}\n" for i, n in enumerate(names)))
    li = read_input("logins", d / "logins.csv", cfg)
    assert li.frame.select("event", "success").rows() == [
        ("login", True), ("login", False), ("login", False), ("password_change", True), ("password_change", True),
        ("seacft", True), ("logout", True), ("login", True)]  # a blank event is a login, as without the table
    assert "success" in li.columns  # the outcomes give the failure rules their success column
    one, two = (scan(ScanInputs.from_folder(d), cfg, shards=n) for n in (1, 2))
    for res in (one, two):
        assert res.summary["inputs"]["logins"]["event_kinds_no_rule_reads"] == {"seacft": 1}
        assert res.summary["checks"]["account.login_failures"] == {"status": "ok", "findings": 0}
        assert res.summary["checks"]["account.password_churn"] == {"status": "ok", "findings": 0}
    assert one.findings.equals(two.findings)


@pytest.mark.parametrize("toml, says", [
    ('[events]\nsign_on = ["s"]\n', "[events] names unknown event kind 'sign_on'"),
    ('[events]\nlogin = "s"\n', "[events] 'login' must be a list of event names"),
    ('[events]\nlogin = ["s"]\nlogout = ["S "]\n', "[events] lists 'S ' under both 'login' and 'logout'"),
    ("events = 3\n", "[events] must be a table of event kind = [names]"),
])
def test_a_bad_events_table_is_an_error_naming_it(tmp_path, toml, says):
    from fraud.config import load_config
    from fraud.errors import ConfigError

    (tmp_path / "c.toml").write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(tmp_path / "c.toml")


def test_a_dotted_mapping_reads_inside_json_objects_and_parquet_structs_in_memory_and_in_slices(tmp_path):
    """Okta and CloudTrail write their logs as NDJSON with nested objects: `actor.alternateId`, `outcome.result`
    could not be mapped (the file had to be flattened first). A dotted name that is no header is a path into the
    column named by its longest prefix: JSON objects (NDJSON, or JSON text in a CSV cell) or Parquet structs."""
    from fraud.config import load_config
    from fraud.pipeline import ScanInputs, scan

    (tmp_path / "c.toml").write_text('[columns]\nts = "published"\nuser_id = "actor.alternateId"\n'
                                     'success = "outcome.result"\nlat = "client.geo.lat"\nlon = "client.geo.lon"\n'
                                     'city = "client.geo.city name"\n')
    cfg = load_config(tmp_path / "c.toml")
    d = tmp_path / "in"
    d.mkdir()
    rec = [("2024-03-01T08:00:00Z", "bob@x", "SUCCESS", 40.71, -74.0, "New York"),
           ("2024-03-01T09:00:00Z", "bob@x", "SUCCESS", 51.51, -0.13, "London"),
           ("2024-03-01T09:30:00Z", "eve@x", "FAILURE", None, None, None)]
    (d / "logins.jsonl").write_text("".join(json.dumps(
        {"published": t, "actor": {"alternateId": u, "type": "User"}, "outcome": {"result": o},
         "client": {"geo": {"lat": la, "lon": lo, "city name": c}}}) + "\n" for t, u, o, la, lo, c in rec))
    li = read_input("logins", d / "logins.jsonl", cfg)
    assert li.frame.select("user_id", "success", "lat", "city").rows() == [
        ("bob@x", True, 40.71, "New York"), ("bob@x", True, 51.51, "London"), ("eve@x", False, None, None)]
    assert li.rejected.height == 0
    one, three = (scan(ScanInputs(logins=d / "logins.jsonl"), cfg, shards=n) for n in (1, 3))
    assert one.findings["rule"].to_list() == ["geo.impossible_travel"] and one.findings.equals(three.findings)
    pl.DataFrame({"published": ["2024-03-01T08:00:00Z"], "actor": [{"alternateId": "bob@x"}],
                  "outcome": [{"result": "FAILURE"}]}).write_parquet(tmp_path / "p.parquet")
    assert read_input("logins", tmp_path / "p.parquet", cfg).frame.select("user_id", "success").rows() == [
        ("bob@x", False)]
    pl.DataFrame({"published": ["2024-03-01T08:00:00Z"], "actor": [{"id": "1"}]}).write_parquet(tmp_path / "q.parquet")
    with pytest.raises(InputError, match=r"missing required column 'user_id' \(mapped from 'actor.alternateId'\)"):
        read_input("logins", tmp_path / "q.parquet", cfg)  # the struct has no such field


def test_e7_coordinates_are_rejected_with_a_hint_at_their_scale(tmp_path, cfg):
    p = write(tmp_path / "l.csv", "ts,user_id,lat,lon\n2024-03-01T08:00:00Z,u1,377749000,-1224194000\n"
                                  "2024-03-01T09:00:00Z,u2,95.5,10\n")
    assert read_input("locations", p, cfg).rejected.select("row", "reason").rows() == [
        (1, "lat out of range -90..90: 377749000.0 (degrees x 1e7, as in Takeout's latitudeE7? divide by 1e7); "
            "lon out of range -180..180: -1224194000.0 (degrees x 1e7, as in Takeout's latitudeE7? divide by 1e7)"),
        (2, "lat out of range -90..90: 95.5")]


def test_a_numeric_date_is_rejected_with_the_setting_that_reads_it_in_memory_and_in_slices(tmp_path):
    """US dates from a spreadsheet: rejected, and the reason names timestamp_formats; with it set, read."""
    from fraud.config import load_config
    from fraud.pipeline import ScanInputs, scan

    d = tmp_path / "in"
    d.mkdir()
    write(d / "logins.csv", "ts,user_id\n11/23/2026 14:02:03,u1\n11/24/2026 09:00:00,u2\n2026-11-25T10:00:00Z,u3\n"
          "Nov 26 2026,u4\n")
    li = read_input("logins", d / "logins.csv", load_config(None))
    assert li.rejected["reason"].to_list() == [
        'bad timestamp in column ts: 11/23/2026 14:02:03 (day/month order unknown: set timestamp_formats in the '
        'config, e.g. ["%m/%d/%Y %H:%M:%S"])',
        'bad timestamp in column ts: 11/24/2026 09:00:00 (day/month order unknown: set timestamp_formats in the '
        'config, e.g. ["%m/%d/%Y %H:%M:%S"])',
        "bad timestamp in column ts: Nov 26 2026"]
    (tmp_path / "c.toml").write_text('timestamp_formats = ["%m/%d/%Y %H:%M:%S"]\ntimezone = "America/New_York"\n')
    cfg = load_config(tmp_path / "c.toml")
    li = read_input("logins", d / "logins.csv", cfg)
    assert li.frame["ts"].to_list() == [datetime(2026, 11, 23, 19, 2, 3, tzinfo=timezone.utc),
                                        datetime(2026, 11, 24, 14, tzinfo=timezone.utc),
                                        datetime(2026, 11, 25, 10, tzinfo=timezone.utc)]
    assert li.rejected["reason"].to_list() == ["bad timestamp in column ts: Nov 26 2026"]
    one, two = (scan(ScanInputs.from_folder(d), cfg, shards=n) for n in (1, 2))
    for res in (one, two):
        assert (res.summary["inputs"]["logins"]["rows_used"], res.summary["inputs"]["logins"]["rows_rejected"]) == (3, 1)


def test_a_json_export_is_read_as_an_array_ndjson_or_one_pretty_printed_object_in_memory_and_in_slices(tmp_path, cfg):
    """An API's .json export (an array of records, pretty-printed or not), NDJSON saved as .json, one pretty-printed
    object: read, in a folder too. Before, a folder's logins.json was refused as a format not read."""
    from fraud.pipeline import ScanInputs, scan

    rows = [{"ts": f"2024-01-0{i + 1}T10:00:00Z", "user_id": f"u{i}"} for i in range(3)]
    shapes = {"array": json.dumps(rows, indent=2), "ndjson": "".join(json.dumps(r) + "\n" for r in rows),
              "one": json.dumps(rows[0], indent=2)}
    for name, text in shapes.items():
        d = tmp_path / name
        d.mkdir()
        (d / "logins.json").write_text(text)
        assert find_inputs(d) == {"logins": [d / "logins.json"]}
        want = ["u0"] if name == "one" else ["u0", "u1", "u2"]
        li = read_input("logins", d / "logins.json", cfg)
        assert (li.frame["user_id"].to_list(), li.frame["_row"].to_list()) == (want, list(range(1, len(want) + 1)))
        for shards in (1, 2):
            res = scan(ScanInputs.from_folder(d), cfg, shards=shards)
            assert res.summary["inputs"]["logins"]["rows_used"] == len(want)
    (tmp_path / "wrap.json").write_text(json.dumps({"Records": rows}, indent=2))  # the pretty-printed wrapper
    assert read_input("logins", tmp_path / "wrap.json", cfg).frame.height == 3


def test_rows_apart_only_in_an_extra_column_are_no_duplicates_in_memory_and_in_slices(tmp_path, cfg):
    """30 failed logins in one second with their own request ids were read as one line written 30 times: 28
    rejected, the brute force unseen. Rows equal on every column, the extra ones too, still are duplicates."""
    from fraud.pipeline import ScanInputs, scan

    d = tmp_path / "in"
    d.mkdir()
    lines = [f"2024-03-01T08:00:0{i // 10}Z,u1,login,false,9.9.9.9,r{i}" for i in range(20)]
    lines += ["2024-03-01T08:00:05Z,u1,login,true,9.9.9.9,ok1", "2024-03-01T08:00:05Z,u1,login,true,9.9.9.9,ok1"]
    write(d / "logins.csv", "ts,user_id,event,success,ip,request_id\n" + "\n".join(lines) + "\n")
    li = read_input("logins", d / "logins.csv", cfg)
    assert (li.frame.height, li.rejected["reason"].to_list()) == (
        21, [f"duplicate of {d / 'logins.csv'} row 21 (every column equal)"])
    assert "__extra_hash" not in li.frame.columns
    for shards in (1, 2):
        res = scan(ScanInputs.from_folder(d), cfg, shards=shards)
        assert res.summary["inputs"]["logins"]["rows_rejected"] == 1
        f = res.findings.filter(pl.col("rule") == "account.login_failures")
        assert json.loads(f["evidence"][0])["failures"] == 20


def test_an_event_delivered_twice_is_one_event_whatever_its_delivery_columns_say(tmp_path, cfg):
    """An at-least-once pipeline delivered every row twice, the copies apart only in when each was ingested and its
    broker offset: 3 typos and a success, not 6 failures (a false account.login_failures). Another extra column
    that differs (a request id) still makes two events. In memory and in slices."""
    from fraud.pipeline import ScanInputs, scan

    d = tmp_path / "in"
    d.mkdir()
    rows = [f"2024-03-01T08:00:{s:02d}Z,u1,login,{ok},9.9.9.9,e{s}" for s, ok in ((0, "false"), (10, "false"),
                                                                                 (20, "false"), (50, "true"))]
    lines = [f"{r},2024-03-01T09:{n:02d}:00Z,{100 + n}" for n in (0, 30) for r in rows]
    write(d / "logins.csv", "ts,user_id,event,success,ip,event_id,ingested_at,Kafka Offset\n" + "\n".join(lines)
          + "\n")
    li = read_input("logins", d / "logins.csv", cfg)
    assert (li.frame.height, li.rejected.height) == (4, 4)
    for shards in (1, 2):
        res = scan(ScanInputs.from_folder(d), cfg, shards=shards)
        assert res.summary["inputs"]["logins"]["rows_rejected"] == 4
        assert res.findings.filter(pl.col("rule") == "account.login_failures").height == 0
    apart = write(tmp_path / "apart.csv", "ts,user_id,event_id,ingested_at\n2024-03-01T08:00:00Z,u1,a,1\n"
                                          "2024-03-01T08:00:00Z,u1,b,2\n")
    assert read_input("logins", apart, cfg).frame.height == 2


def test_one_export_written_as_csv_and_as_parquet_repeats_its_rows_whatever_the_extra_columns_types(tmp_path, cfg):
    """Overlapping exports of one log, one as CSV (a request id as the text 11) and one as Parquet (the integer 11,
    or the float 11.0 a pandas column with a gap holds): their rows are one log line each. The extra columns were
    hashed as typed, so the Parquet copy's rows counted again: 3 failures read as 6, an account.login_failures
    (-15) that the CSV copies alone never gave. So did a boolean written True/False by pandas' CSV writer and a
    date-time column (pandas' 2024-03-01 10:00:00+00:00 against a Parquet timestamp). Different request ids stay
    different rows."""
    from fraud.pipeline import ScanInputs, scan

    secs = (0, 20, 40, 59)
    rows = pl.DataFrame({"ts": [f"2024-03-01T10:00:{s:02d}Z" for s in secs], "user_id": ["u1"] * 4,
                         "event": ["login"] * 4, "success": ["false", "false", "false", "true"],
                         "ip": ["203.0.113.5"] * 4, "request_id": ["11", "12", "13", "14"],
                         "ok": ["True", "True", "False", "True"],
                         "server_time": [f"2024-03-01 18:00:{s:02d}+08:00" for s in secs]})
    stamps = [datetime(2024, 3, 1, 10, 0, s, tzinfo=timezone.utc) for s in secs]
    for name, typed in (("int", pl.Int64), ("float", pl.Float64)):
        d = tmp_path / name / "logins"
        d.mkdir(parents=True)
        rows.write_csv(d / "a.csv")
        rows.with_columns(pl.col("request_id").cast(typed), pl.col("ok") == "True",
                          pl.Series("server_time", stamps)).write_parquet(d / "b.parquet")
        for shards in (1, 2):
            res = scan(ScanInputs(logins=d), cfg, shards=shards)
            assert (res.summary["inputs"]["logins"]["rows_used"], res.summary["inputs"]["logins"]["rows_rejected"]) \
                == (4, 4), (name, shards)
            assert res.findings.filter(pl.col("rule") == "account.login_failures").height == 0
    d = tmp_path / "apart" / "logins"
    d.mkdir(parents=True)
    rows.write_csv(d / "a.csv")
    rows.with_columns(pl.col("request_id").cast(pl.Int64) + 100).write_parquet(d / "b.parquet")
    res = scan(ScanInputs(logins=d), cfg)
    assert (res.summary["inputs"]["logins"]["rows_used"], res.summary["inputs"]["logins"]["rows_rejected"]) == (8, 0)


def test_extra_columns_of_a_csv_and_a_parquet_copy_compare_by_value_and_only_equal_values_repeat(tmp_path, cfg):
    """pandas writes a float column with gaps as 11.0 and no value as an empty cell; pyarrow stores an all-None
    column as the Null type: those copies repeat (3 failures were read as 6). Values that only look alike stay
    apart: an id with a leading zero, 20-digit ids past a float's precision, instants a nanosecond apart, text
    shaped like the internal instant form."""
    from fraud.pipeline import ScanInputs, scan
    from fraud.duplicates import extra_hash

    def same(a: pl.DataFrame, b: pl.DataFrame) -> list[bool]:
        h = [df.select(extra_hash("logins", df.columns, df.schema)).to_series() for df in (a, b)]
        return (h[0] == h[1]).to_list()

    csv = pl.DataFrame({"rid": ["11.0", "12.5", "", "13"], "gap": ["", "", "", ""]})
    typed = pl.DataFrame({"rid": [11.0, 12.5, None, 13.0], "gap": pl.Series([None] * 4, dtype=pl.Null)})
    assert same(csv, typed) == [True, True, True, True]
    assert same(pl.DataFrame({"rid": ["", "x"]}), pl.DataFrame({"rid": [None, "x"]})) == [True, True]
    apart = pl.DataFrame({"rid": ["00123", "12345678901234567891", "2024-03-01T10:00:00.000000001Z",
                                  "@1709287200000000000"]})
    other = pl.DataFrame({"rid": ["123", "12345678901234567892", "2024-03-01T10:00:00.000000002Z",
                                  "2024-03-01T10:00:00Z"]})
    assert same(apart, other) == [False, False, False, False]
    d = tmp_path / "logins"
    d.mkdir()
    rows = pl.DataFrame({"ts": [f"2024-03-01T10:00:{s:02d}Z" for s in (0, 20, 40, 59)], "user_id": ["u1"] * 4,
                         "event": ["login"] * 4, "success": ["false", "false", "false", "true"],
                         "request_id": ["11.0", "12.0", "", "14.0"], "note": ["", "", "", ""]})
    rows.write_csv(d / "a.csv")
    rows.with_columns(pl.col("request_id").replace("", None).cast(pl.Float64),
                      pl.Series("note", [None] * 4, dtype=pl.Null)).write_parquet(d / "b.parquet")
    for shards in (1, 2):
        res = scan(ScanInputs(logins=d), cfg, shards=shards)
        assert (res.summary["inputs"]["logins"]["rows_used"], res.summary["inputs"]["logins"]["rows_rejected"]) \
            == (4, 4)


def test_empty_lines_of_a_csv_file_are_no_rows_and_keep_the_count_in_memory_and_in_slices(tmp_path, cfg):
    """An editor's final empty line, or a blank line between two pasted exports, was a rejected row of nulls
    ("missing required value ts"): a file of 3 records read "5 rows, 2 rejected". It is no record (as in NDJSON);
    the rows after it keep their numbers. A line of separators only (",,") is a record, and rejected."""
    from fraud.pipeline import ScanInputs, scan

    d = tmp_path / "in"
    d.mkdir()
    write(d / "logins.csv", "ts,user_id\r\n2024-01-01T00:00:00Z,u1\r\n\r\n2024-01-01T00:00:01Z,u2\r\n,\r\n"
          "2024-01-01T00:00:02Z,u3\r\n\r\n\r\n")
    li = read_input("logins", d / "logins.csv", cfg)
    assert (li.rows_read, li.frame["_row"].to_list(), li.rejected["row"].to_list()) == (4, [1, 3, 5], [4])
    for shards in (1, 2):
        res = scan(ScanInputs.from_folder(d), cfg, shards=shards)
        assert (res.summary["inputs"]["logins"]["rows_read"], res.summary["inputs"]["logins"]["rows_rejected"]) == (4, 1)
        assert res.rejected["row"].to_list() == [4]
    # the record-by-record reader (a stray quote sent the file there) skips them too
    write(d / "logins.csv", 'ts,user_id\n2024-01-01T00:00:00Z,u1\n\n2024-01-01T00:00:01Z,"u2\n2024-01-01T00:00:02Z,u3\n\n')
    li = read_input("logins", d / "logins.csv", cfg)
    assert (li.rows_read, li.frame["_row"].to_list(), li.rejected["row"].to_list()) == (3, [1, 4], [3])


def test_a_decompression_bomb_is_refused_in_memory_and_in_slices(tmp_path, cfg, monkeypatch):
    """A .csv.gz of a few KB that expands past the machine's memory (gzip reaches ~1030x) was decompressed whole
    and the process killed: it is refused with its ratio, as text and as blank lines; a real log (3-30x) is read."""
    from fraud import encoding
    from fraud.pipeline import ScanInputs, scan

    monkeypatch.setattr(encoding, "GZIP_FREE_BYTES", 1 << 20)  # the 256 MB of text any file may expand to, made small
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv.gz").write_bytes(gzip.compress(b"ts,user_id\n" + b"2024-01-01T00:00:00Z,u1\n" * 400_000))
    says = r"logins\.csv\.gz: expands more than 200 times when decompressed \([0-9,]+ bytes to over [0-9,]+\): a " \
           r"decompression bomb, not read"
    with pytest.raises(InputError, match=says):
        read_input("logins", d / "logins.csv.gz", cfg)
    with pytest.raises(InputError, match=says):
        scan(ScanInputs.from_folder(d), cfg, shards=2)
    (d / "logins.csv.gz").write_bytes(gzip.compress(b"\n" * (20 << 20)))  # blank lines only: the blank test reads it
    with pytest.raises(InputError, match=says):
        scan(ScanInputs.from_folder(d), cfg, shards=2)
    rows = "".join(f"2024-01-0{1 + i % 9}T{i % 24:02d}:{i % 60:02d}:00Z,u{i % 977},{i * 7919 % 100003}\n"
                   for i in range(60_000))
    (d / "logins.csv.gz").write_bytes(gzip.compress(("ts,user_id,amount\n" + rows).encode()))
    assert read_input("logins", d / "logins.csv.gz", cfg).rows_read == 60_000
    assert scan(ScanInputs.from_folder(d), cfg, shards=2).summary["inputs"]["logins"]["rows_read"] == 60_000


def test_compressed_data_under_a_text_name_is_read_through_the_guard_or_named(tmp_path, cfg, monkeypatch):
    """Polars' CSV reader decompresses gzip (and zstd) content in a file named .csv by itself, past the bomb guard:
    a 400 KB gzip named logins.csv took 6 GB and aborted. gzip data is read through the guard whatever its name;
    other compressed data is an error naming its format."""
    from fraud import encoding
    from fraud.pipeline import ScanInputs, scan

    monkeypatch.setattr(encoding, "GZIP_FREE_BYTES", 1 << 20)
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_bytes(gzip.compress(b"ts,user_id\n" + b"2024-01-01T00:00:00Z,u1\n" * 400_000))
    says = r"logins\.csv: expands more than 200 times when decompressed"
    with pytest.raises(InputError, match=says):
        read_input("logins", d / "logins.csv", cfg)
    with pytest.raises(InputError, match=says):
        scan(ScanInputs.from_folder(d), cfg, shards=2)
    (d / "logins.csv").write_bytes(gzip.compress(b"ts,user_id\n2024-01-01T00:00:00Z,u1\n2024-01-01T00:00:01Z,u2\n"))
    assert read_input("logins", d / "logins.csv", cfg).rows_used == 2
    assert scan(ScanInputs.from_folder(d), cfg, shards=2).summary["inputs"]["logins"]["rows_used"] == 2
    (d / "logins.csv").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 40)
    for shards in (1, 2):
        with pytest.raises(InputError, match=r"logins\.csv: holds zstd-compressed data; decompress it"):
            scan(ScanInputs.from_folder(d), cfg, shards=shards)


def test_a_local_time_the_clock_repeats_says_so_with_the_configs_formats_too(tmp_path):
    """US dates in New York local time: 11/03/2024 01:30 happens twice (the clocks go back), 03/10/2024 02:30
    never. Rejected, with that reason, not "matches none of timestamp_formats"."""
    from fraud.config import load_config

    (tmp_path / "c.toml").write_text('timestamp_formats = ["%m/%d/%Y %H:%M"]\ntimezone = "America/New_York"\n')
    p = write(tmp_path / "logins.csv", "ts,user_id\n11/03/2024 01:30,u1\n03/10/2024 02:30,u2\n11/03/2024 03:30,u3\n"
              "13/03/2024 03:30,u4\n")
    li = read_input("logins", p, load_config(tmp_path / "c.toml"))
    assert li.frame["user_id"].to_list() == ["u3"]
    assert li.rejected["reason"].to_list() == [
        "local time 11/03/2024 01:30 in column ts is repeated by a daylight-saving change in America/New_York "
        "(give an offset)",
        "local time 03/10/2024 02:30 in column ts is skipped by a daylight-saving change in America/New_York "
        "(give an offset)",
        "bad timestamp in column ts: 13/03/2024 03:30 (matches none of timestamp_formats)"]


def test_json_true_false_as_an_id_is_no_account_in_memory_and_in_slices(tmp_path, cfg):
    """NDJSON's fast reader read every field as text, so `"user_id": true` made the account "true" (a Parquet
    boolean id column is rejected). A column of JSON true/false keeps its type: an id of them is rejected, a flag
    reads as one."""
    from fraud.pipeline import ScanInputs, scan

    d = tmp_path / "in"
    d.mkdir()
    rows = [{"ts": "2024-01-01T00:00:00Z", "user_id": True, "success": False},
            {"ts": "2024-01-01T00:00:01Z", "user_id": False, "success": True}]
    (d / "logins.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    li = read_input("logins", d / "logins.jsonl", cfg)
    assert (li.frame.height, li.rejected["reason"].to_list()) == (
        0, ["user_id is true/false, not an id: true", "user_id is true/false, not an id: false"])
    for shards in (1, 2):
        res = scan(ScanInputs.from_folder(d), cfg, shards=shards)
        assert (res.summary["inputs"]["logins"]["rows_used"], res.summary["inputs"]["logins"]["rows_rejected"]) == (0, 2)
        assert res.rejected["reason"].to_list() == li.rejected["reason"].to_list()
    ok = [{"ts": "2024-01-01T00:00:00Z", "user_id": "u1", "success": False},
          {"ts": "2024-01-01T00:00:01Z", "user_id": "u2", "success": True}]
    (d / "logins.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ok))
    assert read_input("logins", d / "logins.jsonl", cfg).frame.select("user_id", "success").rows() == [
        ("u1", False), ("u2", True)]


def test_a_file_named_twice_or_through_a_link_loop_is_read_once(tmp_path, cfg):
    """A recursive glob through a link back up the tree (sub -> .) names one file at every depth, and a file
    given twice is one file: read once (it was read 41 times, every copy's rows rejected as duplicates)."""
    d = tmp_path / "d"
    d.mkdir()
    write(d / "logins.csv", "ts,user_id\n2024-01-01T00:00:00Z,u1\n2024-01-01T00:01:00Z,u2\n")
    (d / "sub").symlink_to(d, target_is_directory=True)
    assert resolve_specs(str(d / "**" / "*.csv")) == [d / "logins.csv"]
    li = read_input("logins", [str(d / "**" / "*.csv"), str(d / "logins.csv")], cfg)
    assert (li.rows_read, li.rows_rejected, li.files) == (2, 0, [str(d / "logins.csv")])
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(InputError, match=r"loop: file not found \(a symbolic link loop\)"):
        resolve_specs(tmp_path / "loop")


@pytest.mark.parametrize("ext", [".ndjson", ".json"])
def test_json_literals_among_an_id_columns_strings_are_no_ids(tmp_path, cfg, ext):
    """A user_id column of strings that also holds JSON true/false, NaN, Infinity or 1e400: each such row is
    rejected (they were the accounts "true", "false", "nan", "inf" and "-inf": one device behind "6 accounts");
    a boolean column's true and a string "true" elsewhere read as before."""
    recs = ['{"ts": "2024-01-01T00:00:00Z", "user_id": "u1", "success": true, "city": "true"}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": true, "success": false}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": false}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": NaN}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": 1e400}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": -Infinity}',
            '{"ts": "2024-01-01T00:00:00Z", "user_id": "true", "device_id": true}']
    p = tmp_path / f"logins{ext}"
    p.write_text("\n".join(recs) + "\n" if ext == ".ndjson" else "[" + ",\n".join(recs) + "]")
    li = read_input("logins", p, cfg)
    assert li.frame.select("user_id", "success", "city").rows() == [("u1", True, "true")]
    reasons = li.rejected.sort("row")["reason"].to_list()
    assert reasons[:5] == [f"user_id is a JSON true/false or non-finite number, not an id: {v}"
                           for v in ("true", "false", "nan", "inf", "-inf")]
    assert reasons[5] == "device_id is a JSON true/false or non-finite number, not an id: true"
    assert li.rejected.sort("row")["raw"][0].startswith('{"ts":"2024-01-01T00:00:00Z","user_id":"true"')


def test_a_repeated_json_key_keeps_its_first_value_in_every_reader(tmp_path, cfg):
    """NDJSON by the fast reader, NDJSON by the record reader (a bad line elsewhere sends the file to it) and a
    .json array read a repeated key alike: its first value (the record reader and arrays kept the last)."""
    rec = '{"ts": "2024-01-01T00:00:00Z", "user_id": "FIRST", "user_id": "LAST"}'
    (tmp_path / "a.ndjson").write_text(rec + "\n")
    (tmp_path / "b.ndjson").write_text(rec + "\nnot json\n")
    (tmp_path / "c.json").write_text("[" + rec + "]")
    for name in ("a.ndjson", "b.ndjson", "c.json"):
        assert read_input("logins", tmp_path / name, cfg).frame["user_id"].to_list() == ["FIRST"], name


def test_an_object_at_a_dotted_mapping_path_is_a_nested_value_not_an_account(tmp_path):
    """`user_id = "actor.alternateId"` on a record whose alternateId is an object or a list: a rejected row (it
    was the account '{"id":"mallory"}'); a braced GUID string stays an id."""
    from fraud.config import load_config

    (tmp_path / "c.toml").write_text('[columns]\nuser_id = "actor.alternateId"\n')
    cfg = load_config(tmp_path / "c.toml")
    ids = ["bob@x", {"id": "mallory"}, ["a", "b"], "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"]
    (tmp_path / "logins.ndjson").write_text("".join(json.dumps(
        {"ts": "2024-03-01T08:00:00Z", "actor": {"alternateId": u}}) + "\n" for u in ids))
    li = read_input("logins", tmp_path / "logins.ndjson", cfg)
    assert li.frame["user_id"].to_list() == ["bob@x", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"]
    assert li.rejected.sort("row")["reason"].to_list() == [
        'nested JSON value (object or list) in column actor.alternateId (user_id): {"id":"mallory"}',
        'nested JSON value (object or list) in column actor.alternateId (user_id): ["a","b"]']


def test_outcomes_table_maps_an_exports_own_success_values(tmp_path):
    """Entra's status.errorCode is 0 on success and an error code otherwise: with [outcomes] success = [0] and
    other = "failure" it reads so (0 read as false and every error code was a rejected row); an HTTP status alike.
    A "no value" word stays no value; without `other` an unlisted value is still a bad boolean."""
    from fraud.config import load_config as load

    c = tmp_path / "c.toml"
    c.write_text('[outcomes]\nsuccess = [0, "200"]\nfailure = ["Interrupted"]\nother = "failure"\n')
    rows = [("0", True), ("50126", False), ("200", True), ("401", False), ("interrupted", False), ("true", True),
            ("no", False), ("N/A", True)]  # N/A: no value, the default (true)
    p = write(tmp_path / "l.csv", "ts,user_id,success\n" + "".join(
        f"2024-03-01T08:00:00Z,u{i},{v}\n" for i, (v, _) in enumerate(rows)))
    li = read_input("logins", p, load(c))
    assert li.frame["success"].to_list() == [r[1] for r in rows] and li.rejected.height == 0
    # JSON numbers (an Entra export's errorCode) read alike
    nd = tmp_path / "l.ndjson"
    nd.write_text("".join(json.dumps({"ts": "2024-03-01T08:00:00Z", "user_id": f"u{i}", "success": code}) + "\n"
                          for i, code in enumerate([0, 50126, 0])))
    assert read_input("logins", nd, load(c)).frame["success"].to_list() == [True, False, True]
    c.write_text('[outcomes]\nsuccess = ["0"]\n')  # other: reject (the default)
    li = read_input("logins", p, load(c))
    assert li.frame["success"].to_list() == [True, True, False, True]  # 0, true, no, N/A
    assert li.rejected.select("row").to_series().to_list() == [2, 3, 4, 5]


def test_a_timestamp_outside_the_plausible_range_says_so(tmp_path, cfg):
    """A 1965 archive's rows were each a "bad timestamp", which reads as a parse failure: the range is named (in
    text, epoch and native Parquet datetimes alike); text that reads as no time at all stays a bad timestamp."""
    p = write(tmp_path / "l.csv", "ts,user_id\n1965-03-01T08:00:00Z,u1\n2024-03-01T08:00:00Z,u2\n0,u3\n"
                                  "2150-01-01 10:00:00,u4\njunk,u5\n")
    li = read_input("logins", p, cfg)
    assert li.rejected.select("row", "reason").rows() == [
        (1, "timestamp outside 1990-2099 in column ts: 1965-03-01T08:00:00Z"),
        (3, "timestamp outside 1990-2099 in column ts: 0"),
        (4, "timestamp outside 1990-2099 in column ts: 2150-01-01 10:00:00"), (5, "bad timestamp in column ts: junk")]
    q = tmp_path / "l.parquet"
    pl.DataFrame({"ts": [datetime(1965, 3, 1), datetime(2024, 3, 1)], "user_id": ["u1", "u2"]}).write_parquet(q)
    assert read_input("logins", q, cfg).rejected["reason"].to_list() == [
        "timestamp outside 1990-2099 in column ts: 1965-03-01 00:00:00.000000"]


def test_list_alternatives_the_file_has_side_by_side_are_taken_row_by_row(tmp_path):
    """Keycloak leaves userId null on a failed login for an account that does not exist and names the typed
    username in details.username; Auth0 has user_id and user_name alike. user_id = ["userId", "details.username"]
    read the first alternative for the whole file: every unknown-account failure was rejected, and a password spray
    over made-up names never reached ip.spray. Each row now takes the first alternative holding a value."""
    from fraud.config import load_config as load
    from fraud.pipeline import ScanInputs, scan

    c = tmp_path / "c.toml"
    c.write_text('[columns]\nts = "time"\nuser_id = ["userId", "details.username"]\nip = "ipAddress"\nevent = "type"\n'
                 '[events]\nfailed_login = ["LOGIN_ERROR"]\n')
    rows = [{"time": f"2024-03-01T08:{i:02d}:00Z", "type": "LOGIN_ERROR", "userId": None, "ipAddress": "45.1.2.3",
             "details": {"username": f"guess{i}"}} for i in range(12)]
    rows.append({"time": "2024-03-01T09:00:00Z", "type": "LOGIN", "userId": "kc-1", "ipAddress": "10.0.0.1",
                 "details": {"username": "alice"}})
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    li = read_input("logins", d / "logins.jsonl", load(c))
    assert li.rejected.height == 0 and li.frame["user_id"].to_list() == [f"guess{i}" for i in range(12)] + ["kc-1"]
    for shards in (1, 2):
        res = scan(ScanInputs.from_folder(d), load(c), shards=shards)
        assert res.findings.filter(pl.col("rule") == "ip.spray")["ip"].to_list() == ["45.1.2.3"]
    # text columns side by side in a CSV: a blank first alternative gives way to the second
    p = write(tmp_path / "l.csv", "ts,uid,username\n2024-03-01T08:00:00Z,,bob\n2024-03-01T08:01:00Z,u7,carol\n")
    c.write_text('[columns]\nuser_id = ["uid", "username"]\n')
    assert read_input("logins", p, load(c)).frame["user_id"].to_list() == ["bob", "u7"]
