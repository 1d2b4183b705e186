import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import polars as pl
import pytest

import fraud.runner
from fraud.config import load_config
from fraud.outputs import csv_safe, csv_text, staged_output, write_table
from fraud.pipeline import ScanInputs
from fraud.runner import scan_to

LOGINS = ("ts,user_id,user_agent\n2024-03-01T08:00:00Z,u1,curl/8.4.0\n2024-03-01T09:00:00Z,u2,Mozilla/5.0 (X11)\n")


def test_csv_form_neutralises_formulas_and_writes_utc_z():
    df = pl.DataFrame({"s": ["=cmd()", "+1+1", "-2+3", "@x(1)", "ok", None, "{\"a\": 1}"],
                       "t": [datetime(2024, 1, 1, 8, tzinfo=timezone.utc)] * 7, "n": [-30] * 7})
    out = csv_safe(df)
    assert out["s"].to_list() == ["'=cmd()", "'+1+1", "'-2+3", "'@x(1)", "ok", None, "{\"a\": 1}"]
    assert out["t"][0] == "2024-01-01T08:00:00Z" and out["n"][0] == -30


def test_csv_form_leaves_plain_numbers_and_guards_formulas():
    """A phone-number or negative numeric id is a number to a spreadsheet, a handle or id such as @alice or -bob a
    bare name, not a formula: the CSV keeps it as the Parquet form does; anything else starting with = + - @ (or a
    tab, a carriage return) is still guarded."""
    plain = ["+8613800000001", "-1001", "+1", "-2", "-2.5", "+1.5e3", "-7E-2", "1001", "-0", "@alice", "-bob",
             "@dev-1", "@jürgen.m", "-1e", "+.5", "--1", "-", "+", "-0x10", "@a_b@c"]
    formulas = ["-2+3+cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1:A2)",
                "-1001 ", "+86 138", "-1;=1", "-1\n=cmd()", "\t=1", "\r-1", "=1", "=alice", "+1+1", "@a!A1",
                "-a|b", "@x y", "-a=b", "@a,b", "-a&b", "@a*b", "-a/b", "@a^b", "-a%", "@a\"b", "-a'b", "+a:b"]
    out = csv_safe(pl.DataFrame({"s": plain + formulas}))["s"].to_list()
    assert out[:len(plain)] == plain
    assert out[len(plain):] == ["'" + f for f in formulas]
    # the row-by-row form (decisions.csv) follows the same rule, a final line break included
    assert [csv_text(v) for v in plain + formulas + ["-1\n", "@a\n"]] == out + ["'-1\n", "'@a\n"]


def test_csv_outputs_keep_phone_number_and_negative_ids(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,device_id,user_agent\n"
                                  + "".join(f"2024-03-0{i}T08:00:00Z,+8613800000001,dev{i},python-requests/2.31\n"
                                            for i in range(1, 7))
                                  + "2024-03-01T08:00:00Z,-1001,devX,=cmd|' /C calc'!A0\n"
                                  + "".join(f"2024-03-0{i}T08:00:00Z,@alice,@dev-{i},curl/8.0\n" for i in range(1, 7)))
    out = tmp_path / "out"
    scan_to(ScanInputs.from_folder(d), out, load_config())
    for stem in ("scores", "profiles", "findings"):
        pq = pl.read_parquet(out / f"{stem}.parquet")["user_id"].to_list()
        csv = pl.read_csv(out / f"{stem}.csv", infer_schema=False)["user_id"].to_list()
        assert csv == pq, stem
    assert sorted(pl.read_csv(out / "scores.csv", infer_schema=False)["user_id"]) == ["+8613800000001", "-1001",
                                                                                     "@alice"]
    f = pl.read_csv(out / "findings.csv", infer_schema=False)
    assert "@dev-1" in f["device_id"].to_list() and "'@alice" not in f["user_id"].to_list()
    assert "'+86" not in (out / "findings.csv").read_text()


def test_failed_write_leaves_previous_outputs(tmp_path, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text(LOGINS)
    out = tmp_path / "out"
    scan_to(ScanInputs.from_folder(d), out, load_config())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (d / "logins.csv").write_text(LOGINS.replace("u2,Mozilla/5.0 (X11)", "u2,python-requests/2.31"))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(fraud.runner, "render_report", boom)
    with pytest.raises(OSError):
        scan_to(ScanInputs.from_folder(d), out, load_config())
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging folder left, nothing changed


def test_staged_output_moves_all_files_at_the_end(tmp_path):
    with staged_output(tmp_path) as stage:
        write_table(pl.DataFrame({"a": [1]}), stage, "t")
        assert not (tmp_path / "t.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]


def test_killed_scan_leaves_previous_outputs_intact(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text(LOGINS)
    out = tmp_path / "out"
    scan_to(ScanInputs.from_folder(d), out, load_config())
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    n = 400_000  # big enough that the scan is still reading when killed
    big = pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * n, "user_id": [f"u{i % 5000}" for i in range(n)],
                        "user_agent": ["curl/8.4.0"] * n})
    big.write_csv(d / "logins.csv")
    p = subprocess.Popen([sys.executable, "-m", "fraud.cli.main", "scan", str(d), "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_pseudonymize_replaces_identifiers_everywhere(tmp_path):
    from fraud.privacy import token

    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,user_agent,ip,device_id\n"
                                  "2024-03-01T08:00:00Z,alice,curl/8.4.0,9.8.7.6,dev-1\n"
                                  "bad-time,bob,x,9.8.7.5,dev-2\n")
    out = tmp_path / "out"
    scan_to(ScanInputs.from_folder(d), out, load_config(), pseudonymize="s3cret")
    from fraud.report import decode_payload

    text = "".join(p.read_text(errors="replace") for p in out.iterdir() if p.suffix in (".csv", ".md", ".json"))
    text += json.dumps(decode_payload((out / "report.html").read_text()))  # the HTML itself inlines plotly.js
    text += "".join(str(pl.read_parquet(p).to_dicts()) for p in out.glob("*.parquet"))
    for clear in ("alice", "bob", "9.8.7.6", "9.8.7.5", "dev-1", "dev-2"):
        assert clear not in text, clear
    f = pl.read_parquet(out / "findings.parquet")
    assert f["user_id"].to_list() == [token("alice", b"s3cret")]
    assert f["ip"].to_list() == [token("9.8.7.6", b"s3cret")]
