"""The CLI: every error path gives one line on stderr and the documented exit code."""
import json
import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from fraud.cli.main import app

runner = CliRunner()
LOGINS = (
    "ts,user_id,event,success,ip,user_agent,device_id,lat,lon,city,country\n"
    "2024-03-01T08:00:00+08:00,u1,login,true,1.2.3.4,Mozilla/5.0 (iPhone),d1,31.23,121.47,Shanghai,CN\n"
    "2024-03-01T08:40:00+08:00,u1,login,true,1.2.3.4,Mozilla/5.0 (iPhone),d1,39.90,116.40,Beijing,CN\n"
    "2024-03-01T09:00:00Z,u2,login,true,5.6.7.8,python-requests/2.31.0,d2,,,,\n"
    "not-a-time,u3,login,true,,,,,,,\n"
)


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text(LOGINS)
    (d / "scores.csv").write_text("user_id,score\nu1,700\nu2,500\n")
    return d


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def input_dir(tmp_path, **files: str | bytes):
    """``tmp_path / "in"`` holding ``files`` (name with "." for "_": ``logins_csv="..."``), text or bytes."""
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    for name, content in files.items():
        f = d / name.replace("_", ".")
        f.write_bytes(content) if isinstance(content, bytes) else f.write_text(content)
    return d


def test_scan_writes_every_output(data, tmp_path):
    out = tmp_path / "out"
    r = run("scan", data, "--out", out)
    assert r.exit_code == 0, r.stderr
    for name in ("findings.parquet", "findings.csv", "scores.parquet", "scores.csv", "profiles.parquet",
                 "profiles.csv", "summary.json", "rejected.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    assert s["inputs"]["logins"] | {"files": None} == {"files": None, "rows_read": 4, "rows_used": 3,
                                                       "rows_rejected": 1, "extra_columns": [],
                                                       "rejection_reasons": {"bad timestamp in column ts": 1}}
    assert s["findings"]["by_rule"] == {"device.bot_agent": 1, "geo.impossible_travel": 1}
    rej = pl.read_csv(out / "rejected.csv")
    assert rej.select("input", "row", "reason").rows() == [("logins", 4, "bad timestamp in column ts: not-a-time")]
    sc = pl.read_parquet(out / "scores.parquet").select("user_id", "score_before", "score_after").rows()
    assert sc == [("u1", 700, 670), ("u2", 500, 440), ("u3", 600, 600)] or sc == [("u1", 700, 670), ("u2", 500, 440)]
    assert "report:" in r.stdout


def test_scan_is_byte_identical_twice(data, tmp_path):
    for name in ("a", "b"):
        assert run("scan", data, "--out", tmp_path / name).exit_code == 0
    for f in ("findings.parquet", "scores.parquet", "findings.csv", "scores.csv", "profiles.parquet"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_fail_on(data, tmp_path):
    r = run("scan", data, "--out", tmp_path / "o", "--fail-on", "high")
    assert r.exit_code == 3
    assert "findings at severity high or above" in r.stderr
    assert run("scan", data, "--out", tmp_path / "o", "--fail-on", "critical").exit_code == 0


def test_fail_on_never_passes_a_batch_no_rule_could_look_at_without_a_word(tmp_path):
    """Only ts and user_id (valid input: the contract requires no more): every check is "not evaluated", and
    --fail-on info passed silently over no judgement. It still exits 0, as the contract's exit codes say, and says so
    on stderr."""
    d = input_dir(tmp_path, logins_csv="ts,user_id\n2024-03-01T08:00:00Z,u1\n2024-03-02T08:00:00Z,u2\n")
    r = run("scan", d, "--out", tmp_path / "o", "--fail-on", "info")
    assert r.exit_code == 0
    assert ("warning: --fail-on info passes on no judgement: no rule could look at these inputs (every check is not "
            "evaluated or disabled") in " ".join(r.stderr.split())
    assert "--fail-on" not in run("scan", d, "--out", tmp_path / "o").stderr  # no gate, no word


@pytest.mark.parametrize("args, message", [
    (["scan", "--logins", "{tmp}/nope.csv"], "error: {tmp}/nope.csv: file not found"),
    (["scan", "--logins", "{tmp}/logins.xlsx"], "error: {tmp}/logins.xlsx: unknown input format (expected .csv, "
                                                ".tsv, .csv.gz, .parquet, .jsonl, .ndjson, .json or one of them .gz)"),
    (["scan", "--logins", "{tmp}/nouser.csv"], "error: {tmp}/nouser.csv: missing required column 'user_id'"),
    (["scan", "--logins", "{tmp}/broken.parquet"], "error: {tmp}/broken.parquet: cannot parse as parquet"),
    (["scan", "--logins", "{tmp}/ok.csv", "--config", "{tmp}/bad.toml"],
     "error: {tmp}/bad.toml: unknown rule id 'geo.teleport'"),
    (["scan", "--logins", "{tmp}/ok.csv", "--fail-on", "dire"],
     "error: --fail-on must be one of info, low, medium, high, critical, got 'dire'"),
    (["scan", "{tmp}/empty"], "error: no logins input given (use --logins FILE or a folder holding logins.*)"),
    (["rules", "--config", "{tmp}/bad.toml"], "error: {tmp}/bad.toml: unknown rule id 'geo.teleport'"),
    (["review", "abc", "--decisions", "{tmp}/d.csv"], "error: give exactly one of --confirm or --dismiss"),
    (["review", "abc", "--dismiss", "--decisions", "{tmp}/d.csv", "--out", "{tmp}/scan"],
     "error: unknown finding id 'abc' (not in the scan's findings; use --force to record it anyway)"),
    (["show", "u1", "--out", "{tmp}/empty"], "error: {tmp}/empty/findings.parquet: no findings here (run `fraud scan "
                                             "--out {tmp}/empty` first)"),
    (["evaluate", "--labels", "{tmp}/nolabels.csv", "--out", "{tmp}/scan"], "error: {tmp}/nolabels.csv: labels file "
                                                                            "not found"),
])
def test_error_paths(tmp_path, args, message):
    (tmp_path / "nouser.csv").write_text("ts,account\n2024-01-01T00:00:00Z,u1\n")
    (tmp_path / "broken.parquet").write_bytes(b"garbage")
    (tmp_path / "ok.csv").write_text(LOGINS)
    (tmp_path / "bad.toml").write_text('[rules."geo.teleport"]\npoints = 1\n')
    (tmp_path / "empty").mkdir()
    (tmp_path / "logins.xlsx").write_bytes(b"x")
    assert run("scan", "--logins", tmp_path / "ok.csv", "--out", tmp_path / "scan").exit_code == 0
    r = run(*[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2
    assert r.stderr.strip().startswith(message.format(tmp=tmp_path))
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_review_show_and_rescan_with_decision(data, tmp_path):
    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    f = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "device.bot_agent")
    fid = f["finding_id"][0]
    dec = data / "decisions.csv"
    r = run("show", "u2", "--out", out)
    assert "  device d2  ip 5.6.7.8\n" in r.stdout  # which device and IP the bot agent came from
    r = run("review", fid, "--dismiss", "--note", "QA script", "--reviewer", "ana", "--decisions", dec, "--out", out)
    assert r.exit_code == 0 and f"dismiss {fid}" in r.stdout
    rows = pl.read_csv(dec)
    assert rows.select("finding_id", "decision", "note").rows() == [(fid, "dismiss", "QA script")]
    assert run("scan", data, "--out", out).exit_code == 0  # the folder's decisions.csv is picked up
    s = pl.read_parquet(out / "scores.parquet").filter(pl.col("user_id") == "u2").row(0, named=True)
    assert (s["penalty"], s["score_after"]) == (0, 500)
    assert s["observation_until"] is not None
    r = run("show", "u2", "--out", out)
    assert r.exit_code == 0 and "device.bot_agent" in r.stdout and "not counted" in r.stdout
    # the review trail: who dismissed it, when and why, in the terminal, report.md and the findings
    day = pl.read_csv(dec)["decided_at"][0][:10]
    assert f"  dismissed by ana on {day}: QA script\n" in r.stdout
    md = (out / "report.md").read_text()
    assert f"dismissed by ana on {day}: QA script" in md and "  - device d2, ip 5.6.7.8\n" in md
    assert "| 0 | 1 | reviewed | |" in md.replace("|  |", "| |")  # the case's every finding dismissed
    assert pl.read_parquet(out / "findings.parquet").filter(pl.col("finding_id") == fid).select(
        "decision", "reviewer", "note").row(0) == ("dismiss", "ana", "QA script")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["decisions"]["findings_not_in_scan"] == 0


def test_review_without_decisions_writes_where_the_next_scan_reads(data, tmp_path, monkeypatch):
    """`fraud review ID --out DIR` wrote ./decisions.csv (the current folder), which a re-scan of the input folder
    never read: the dismissal was lost without a word. It now takes the file the scan's report names; another
    --decisions file is written as asked, with a note that the next scan reads it only when given."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    fid = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "device.bot_agent")["finding_id"][0]
    r = run("review", fid, "--dismiss", "--out", out)
    assert r.exit_code == 0 and r.stdout.strip().endswith(f"in {data.resolve() / 'decisions.csv'}")
    assert r.stderr == "" and not (tmp_path / "decisions.csv").exists()
    assert run("scan", data, "--out", out).exit_code == 0
    assert pl.read_parquet(out / "scores.parquet").filter(pl.col("user_id") == "u2")["penalty"].to_list() == [0]
    r = run("review", fid, "--confirm", "--decisions", "elsewhere.csv", "--out", out)
    assert r.exit_code == 0 and (tmp_path / "elsewhere.csv").exists()
    assert r.stderr.strip() == (f"note: the scan in {out} takes its decisions from {data.resolve() / 'decisions.csv'}; "
                                "the next scan reads elsewhere.csv only when given --decisions elsewhere.csv")


def test_review_of_a_scan_given_its_files_says_the_next_scan_needs_decisions(data, tmp_path):
    """A scan given --logins FILE reads decisions only when given --decisions: `fraud review --out` said nothing,
    and the dismissal was lost one scan later. It now says how to make it count; a folder scan needs no note."""
    out = tmp_path / "out"
    assert run("scan", "--logins", data / "logins.csv", "--out", out).exit_code == 0
    fid = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "device.bot_agent")["finding_id"][0]
    r = run("review", fid, "--dismiss", "--out", out)
    dec = data.resolve() / "decisions.csv"
    assert r.exit_code == 0 and r.stdout.strip().endswith(f"in {dec}")
    assert r.stderr.strip() == (f"note: the scan in {out} was given its input files one by one: run it again with "
                                f"--decisions {dec} for this decision to count")
    assert run("scan", data, "--out", out).exit_code == 0  # the folder scan reads the same file
    r = run("review", fid, "--confirm", "--out", out)
    assert r.exit_code == 0 and r.stderr == ""


def test_review_into_a_folder_or_a_file_that_is_no_decisions_file_is_one_error_line(data, tmp_path):
    (tmp_path / "dec.csv").mkdir()
    for target, says in ((tmp_path, "decisions are appended to a CSV file (.csv)"),
                         (tmp_path / "dec.csv", "cannot write decisions (Is a directory)"),
                         (data / "logins.csv", "not a decisions file: its header has no finding_id, decision, "
                                               "decided_at column")):
        r = run("review", "0123456789abcdef0123", "--dismiss", "--decisions", target)
        assert r.exit_code == 2 and r.stderr.strip().startswith("error: ") and says in r.stderr
        assert "Traceback" not in r.stdout + r.stderr
    assert (data / "logins.csv").read_text() == LOGINS


def test_a_decisions_file_no_review_has_written_yet_is_no_decisions_and_said(data, tmp_path):
    """A nightly job passes --decisions F from its first night on, before anyone has reviewed anything: F not
    existing yet is no decisions (said), not an error; the next night reads what `fraud review` wrote there. A path
    in a folder that does not exist is a typo: an error, as before."""
    dec = tmp_path / "decisions.csv"
    r = run("scan", "--logins", data / "logins.csv", "--decisions", dec, "--out", tmp_path / "o1")
    assert r.exit_code == 0, r.stdout
    assert f"decisions: {dec} does not exist yet: no decisions applied (fraud review writes it)" in " ".join(
        r.stdout.split())
    summary = json.loads((tmp_path / "o1" / "summary.json").read_text())
    assert summary["inputs"]["decisions"]["file_not_written_yet"] == str(dec)
    assert summary["inputs"]["decisions"]["rows_read"] == 0 and not dec.exists()
    fid = pl.read_csv(tmp_path / "o1" / "findings.csv")["finding_id"][0]
    assert run("review", fid, "--dismiss", "--out", tmp_path / "o1", "--decisions", dec).exit_code == 0
    r = run("scan", "--logins", data / "logins.csv", "--decisions", dec, "--out", tmp_path / "o2")
    assert r.exit_code == 0 and "does not exist yet" not in r.stdout
    assert pl.read_csv(tmp_path / "o2" / "findings.csv").filter(pl.col("finding_id") == fid)["decision"][0] == "dismiss"
    r = run("scan", "--logins", data / "logins.csv", "--decisions", tmp_path / "nowhere" / "d.csv", "--out",
            tmp_path / "o3")
    assert r.exit_code == 2 and "d.csv: file not found" in r.stderr


def test_review_without_out_refuses_what_is_no_finding_id(tmp_path):
    """`fraud review ID --dismiss true` read "true" as a second finding id and recorded it: without --out nothing
    checks the ids, so one must at least have a finding id's shape (or --force)."""
    dec = tmp_path / "d.csv"
    r = run("review", "0123456789abcdef0123", "--dismiss", "true", "--decisions", dec)
    assert r.exit_code == 2 and not dec.exists()
    assert r.stderr.startswith("error: 'true' is no finding id (20 hex digits, as findings.csv lists them; "
                               "--confirm and --dismiss take no value)")
    assert run("review", "0123456789abcdef0123", "--dismiss", "--decisions", dec).exit_code == 0
    assert run("review", "TICKET-7", "--dismiss", "--force", "--decisions", dec).exit_code == 0
    assert pl.read_csv(dec)["finding_id"].to_list() == ["0123456789abcdef0123", "TICKET-7"]


def test_decisions_on_findings_the_scan_did_not_make_are_counted_and_said(data, tmp_path):
    """A review of a finding whose evidence has since changed (or one from another scan) is not applied: the
    summary counts it and the scan says so, instead of ignoring it silently."""
    (data / "decisions.csv").write_text("finding_id,decision,decided_at,reviewer,note\n"
                                        "0123456789abcdef0123,dismiss,2024-03-02T00:00:00Z,r,\n"
                                        "0123456789abcdef0123,confirm,2024-03-03T00:00:00Z,r,\n"
                                        "fedcba9876543210fedc,maybe,2024-03-02T00:00:00Z,r,\n"
                                        "00000000000000000000,dismiss,2024-03-05T00:00:00Z,r,\n")
    r = run("scan", data, "--out", tmp_path / "out")
    assert r.exit_code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["decisions"]["findings_not_in_scan"] == 2  # the "maybe" row is a rejected row
    # which ones, with their latest decision, the latest decided first: a count alone gave nothing to look up
    assert summary["inputs"]["decisions"]["not_in_scan"] == [
        {"finding_id": "00000000000000000000", "decision": "dismiss", "decided_at": "2024-03-05T00:00:00Z"},
        {"finding_id": "0123456789abcdef0123", "decision": "confirm", "decided_at": "2024-03-03T00:00:00Z"}]
    assert ("decisions not applied: 2 decided findings not among this scan's findings (00000000000000000000, "
            "0123456789abcdef0123; their "
            "evidence changed or left the scan's period, or they come from another scan; listed in summary.json)"
            ) in " ".join(r.stdout.split())
    # the rejected decision rows say why, as the inputs' do (it was a bare count)
    reasons = summary["inputs"]["decisions"]["rejection_reasons"]
    assert list(reasons.values()) == [1] and "maybe" not in next(iter(reasons))
    assert f"rejected decisions rows, most often: {next(iter(reasons))} (1)" in " ".join(r.stdout.split())


def test_rules_lists_every_rule():
    r = run("rules", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert len(d) == 23 and d["geo.impossible_travel"]["max_speed_kmh"] == 900
    table = run("rules").stdout  # not a terminal: the table is widened, never cut
    assert "device.new_device_sensitive" in table and "…" not in table
    assert 'sensitive_events = ["password_change", "phone_change",' in table
    # the monthly rules' point window is the calendar month, the others' a number of days
    row = {ln.split("│")[1].strip(): [c.strip() for c in ln.split("│")[2:7]] for ln in table.splitlines()
           if ln.startswith("│") and ln.split("│")[1].strip()}
    assert row["geo.remote_logins"][3] == row["geo.away_from_home"][3] == "month"
    assert row["geo.impossible_travel"][3] == "30" and row["behavior.sigma"][3] == "1"


def test_evaluate_prints_precision_recall(data, tmp_path):
    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    (tmp_path / "labels.csv").write_text("user_id,rule,ip\nu2,device.bot_agent,\nu3,device.bot_agent,\n"
                                         ",ip.spray,9.9.9.9\n")
    r = run("evaluate", "--labels", tmp_path / "labels.csv", "--out", out)
    assert r.exit_code == 0, r.stderr
    ev = json.loads((out / "eval.json").read_text())
    assert ev["rules"]["device.bot_agent"] == {"labelled": 2, "flagged": 1, "tp": 1, "fp": 0, "fn": 1,
                                               "precision": 1.0, "recall": 0.5}
    assert ev["rules"]["ip.spray"]["recall"] == 0.0
    assert ev["rules"]["geo.impossible_travel"]["precision"] == 0.0
    assert "device.bot_agent" in r.stdout and "…" not in r.stdout  # not a terminal: widened, never cut


def test_fit_then_scan_with_model(tmp_path):
    from fraud.synth import generate

    data = tmp_path / "data"
    generate(data, users=200, seed=5)
    model = tmp_path / "m.joblib"
    r = run("fit", data, "--model", model)
    assert r.exit_code == 0, r.stderr
    assert "fitted on 200 users" in r.stdout and model.exists()
    r2 = run("scan", data, "--model", model, "--out", tmp_path / "out")
    assert r2.exit_code == 0, r2.stderr
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["checks"]["behavior.outlier"]["status"] == "ok"
    # the fit counts the features as the scan's summary does (it said 22 where the summary says 20: the missing-value
    # indicators apart)
    n = s["checks"]["behavior.outlier"]["features"]
    assert f"fitted on 200 users x {n} features" in r.stdout
    f = pl.read_parquet(tmp_path / "out" / "findings.parquet").filter(pl.col("rule") == "behavior.outlier")
    assert all(json.loads(e)["model"] == "given model" for e in f["evidence"])
    # what the fit read, rejected and learnt the window of; what the scan scored against
    # (the data set's history goes back to 2021 for a few accounts: the users' median span is the window)
    assert ("history: 2021-09-29..2024-06-01 (users over 89 days); later batches are scored when their users span "
            "45-178 days (median; max_span_ratio)") in r.stdout
    rejected = json.loads((tmp_path / "out" / "summary.json").read_text())["inputs"]["logins"]["rows_rejected"]
    assert f"logins: {rejected:,} of " in r.stdout and "rows rejected, not fitted on" in r.stdout
    assert ("behavior.outlier: scored against the model fitted on 2021-09-29..2024-06-01 (users over 89 days), 200 "
            "users") in " ".join(r2.stdout.split())
    # the rule disabled: the model file is not read (a pickle runs code as it loads), and the scan says so
    off = tmp_path / "off.toml"
    off.write_text('[rules."behavior.outlier"]\nenabled = false\n')
    junk = tmp_path / "junk.joblib"
    junk.write_text("not a model")
    r3 = run("scan", data, "--model", junk, "--config", off, "--out", tmp_path / "out3")
    assert r3.exit_code == 0 and f"behavior.outlier is disabled in the config: {junk} not read" in " ".join(
        r3.stdout.split())


@pytest.mark.parametrize("args, message", [
    (["scan", "--logins", "{tmp}/ok.csv", "--model", "{tmp}/ok.csv"],
     "error: {tmp}/ok.csv: not a behaviour model file"),
    (["scan", "--logins", "{tmp}/ok.csv", "--model", "{tmp}/none.joblib"],
     "error: {tmp}/none.joblib: model file not found"),
    (["fit", "--logins", "{tmp}/ok.csv", "--model", "{tmp}/m.joblib"],
     "error: cannot fit: 2 users with account events; fitting the behaviour ensemble needs at least 50"),
])
def test_model_error_paths(tmp_path, args, message):
    (tmp_path / "ok.csv").write_text(LOGINS)
    r = run(*[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2
    assert r.stderr.strip().startswith(message.format(tmp=tmp_path)), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_report_review_command_runs_as_written(data, tmp_path):
    import shlex

    from fraud.report import decode_payload

    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    payload = json.dumps(decode_payload((out / "report.html").read_text()))
    cmd = next(c for c in (out / "report.md").read_text().split("`") if c.startswith("fraud review "))
    assert cmd.split()[2] in payload  # the same command is in the HTML's case data
    assert f"--out {out}" in cmd and f"--decisions {data / 'decisions.csv'}" in cmd
    r = run(*shlex.split(cmd)[1:])
    assert r.exit_code == 0, r.stderr
    assert (data / "decisions.csv").exists()


def test_dismissed_findings_do_not_trip_fail_on_and_show_names_the_reports_decisions(data, tmp_path,
                                                                                      monkeypatch):
    """The review commands are absolute (pasted from a report opened anywhere); `fraud show` prints the same ones
    (the scan's decisions file, from summary.json), with the observation date; a dismissed finding no longer fails
    --fail-on."""
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    assert run("scan", "in", "--out", "out").exit_code == 0
    assert json.loads((out / "summary.json").read_text())["review"] == {
        "decisions": str(data / "decisions.csv"), "scan_dir": str(out), "decisions_unread": False,
        "next_scan_reads": True}
    # `fraud show --out` with a relative folder prints the absolute one too
    fid0 = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "device.bot_agent")["finding_id"][0]
    assert f"--out {out}" in run("show", "u2", "--out", "out").stdout
    assert f"{fid0} --dismiss" in run("show", "u2", "--out", "out").stdout
    fid = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "device.bot_agent")["finding_id"][0]
    shown = run("show", "u2", "--out", out).stdout
    assert f"dismiss: fraud review {fid} --dismiss --decisions {data / 'decisions.csv'} --out {out}" in shown
    assert f"confirm: fraud review {fid} --confirm" in shown
    assert run("review", fid, "--dismiss", "--decisions", data / "decisions.csv", "--out", out).exit_code == 0
    r = run("scan", data, "--out", out, "--fail-on", "high")
    assert r.exit_code == 3 and "1 finding at severity high or above (dismissed ones aside)" in r.stderr
    assert run("scan", data, "--out", out, "--fail-on", "critical").exit_code == 0
    assert "under observation until" in run("show", "u2", "--out", out).stdout
    # dismiss the impossible trip as well: nothing at high or above remains
    trip = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "geo.impossible_travel")
    assert run("review", trip["finding_id"][0], "--dismiss", "--decisions", data / "decisions.csv").exit_code == 0
    assert run("scan", data, "--out", out, "--fail-on", "high").exit_code == 0


def test_show_prints_markup_in_ids_as_text(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text(LOGINS.replace("u2", "x[/bold]y[link=https://e.example]z"))
    assert run("scan", d, "--out", tmp_path / "out").exit_code == 0
    r = run("show", "x[/bold]y[link=https://e.example]z", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("x[/bold]y[link=https://e.example]z: 600")


def test_scan_and_show_print_escape_sequences_from_the_logs_inert(tmp_path):
    """An escape sequence in a user agent or event name (clear the screen, print a green ALL CLEAR, hide the rest)
    reaches the terminal as text: no ESC byte is printed; a bidi override in a user id is made visible. (A device id
    holding a bidi override, an id holding a control character, is a rejected row: its reason is printed inert.)"""
    esc = "\x1b[2J\x1b[H\x1b[32mALL CLEAR\x1b[8m"
    d = tmp_path / "in"
    d.mkdir()
    rows = ["ts,user_id,event,user_agent,device_id"] + [
        f"2024-03-0{i}T08:00:00Z,u0,login,Scrapy/2.11{esc},d1" for i in range(1, 4)] + [
        f"2024-03-0{i}T09:00:00Z,u0,view{esc},Mozilla/5.0,d1" for i in range(1, 4)] + [
        "2024-03-04T09:00:00Z,u\u202e1,login,Mozilla/5.0,d\u202e1", "2024-03-04T09:00:00Z,u\u202e1,login,Mozilla/5.0,d2"]
    (d / "logins.csv").write_text("\n".join(rows) + "\n")
    scan = run("scan", d, "--out", tmp_path / "out")
    assert scan.exit_code == 0 and "\x1b" not in scan.stdout
    # event names are read lower-cased, with spaces as "_"
    assert "events no rule reads: view\\x1b[2j\\x1b[h\\x1b[32m_all_clear\\x1b[8m (3)" in scan.stdout
    r = run("show", "u0", "--out", tmp_path / "out")
    assert r.exit_code == 0 and "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert "user_agent: Scrapy/2.11\\x1b[2J" in r.stdout and "main device d1" in r.stdout
    assert "\u202e" not in scan.stdout
    r = run("show", "u\u202e1", "--out", tmp_path / "out")
    assert r.exit_code == 0 and "\u202e" not in r.stdout and "u⟨U+202E⟩1" in r.stdout
    md = (tmp_path / "out" / "report.md").read_text()
    assert "\x1b" not in md and "\u202e" not in md


def test_show_limits_findings_per_rule(data, tmp_path):
    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    r = run("show", "u1", "--out", out, "--limit", "1")
    assert r.exit_code == 0 and "geo.impossible_travel" in r.stdout and "not shown" not in r.stdout


def test_show_limit_never_hides_a_counted_finding(tmp_path):
    """Four impossible trips: those of days 1, 10 and 25 fall in the first 30-day window (the first counts),
    the one on day 36 starts a new window (counted). With --limit 1 the counted one of day 35 is still printed,
    so the -60 of the score can be traced; the two not counted are what is left out."""
    sh, bj = "31.23,121.47", "39.90,116.40"
    rows = ["ts,user_id,lat,lon"]
    for day, hops in ((1, (sh, bj)), (10, (sh, bj)), (25, (sh, bj)), (36, (sh, bj))):
        rows += [f"2024-01-{day:02d}T10:{m:02d}:00Z,u1,{p}" if day <= 31 else f"2024-02-{day - 31:02d}T10:{m:02d}:00Z,u1,{p}"
                 for m, p in zip((0, 30, 59), hops)]
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert run("scan", d, "--out", out).exit_code == 0
    f = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "geo.impossible_travel").sort("first_ts")
    assert f["counted"].to_list() == [True, False, False, True]
    r = run("show", "u1", "--out", out, "--limit", "1")
    assert r.exit_code == 0
    printed = [fid for fid in f["finding_id"] if fid in r.stdout]
    assert printed == [f["finding_id"][0], f["finding_id"][3]]
    assert "2 more geo.impossible_travel findings not shown (--limit 1; --limit 0 shows all)" in r.stdout


def test_progress_lines_without_a_terminal(data, tmp_path):
    r = run("scan", data, "--out", tmp_path / "o", "--progress")
    stages = [ln.split(" …")[0] for ln in r.stderr.splitlines() if ln.startswith("fraud: ")]
    assert stages[:2] == ["fraud: read", "fraud: checks (fingerprint, geo, behavior)"] and "fraud: write" in stages
    assert run("scan", data, "--out", tmp_path / "o").stderr == ""  # no terminal, no --progress: quiet


@pytest.mark.parametrize("argv, message", [
    (["scan", "--bogus"], "error: No such option: --bogus"),
    (["evaluate"], "error: Missing option '--labels'."),
    (["nosuchcmd"], "error: No such command 'nosuchcmd'."),
])
def test_wrong_arguments_are_one_line(monkeypatch, capsys, argv, message):
    from fraud.cli.main import main

    monkeypatch.setattr("sys.argv", ["fraud", *argv])
    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_main_passes_exit_codes_through(data, tmp_path, monkeypatch):
    from fraud.cli.main import main

    for argv, code in ((["scan", str(data), "--out", str(tmp_path / "o")], 0),
                       (["scan", str(data), "--out", str(tmp_path / "o"), "--fail-on", "high"], 3),
                       (["show", "nobody", "--out", str(tmp_path / "o")], 2)):
        monkeypatch.setattr("sys.argv", ["fraud", *argv])
        with pytest.raises(SystemExit) as ex:
            main()
        assert ex.value.code == code, argv


@pytest.mark.parametrize("argv, code, out, err", [
    (["--version"], 0, "fraud ", ""),
    (["scan", "/nonexistent-folder", "--out", "o"], 2, "", "error: /nonexistent-folder: not a folder"),
    (["scan", "--bogus"], 2, "", "error: No such option: --bogus"),
])
def test_the_command_skips_teardown_but_keeps_exit_codes_output_and_exit_handlers(tmp_path, argv, code, out, err):
    # run() ends the process with os._exit: what it printed is flushed and exit handlers (a temporary folder's
    # removal) still run first
    script = ("import atexit, sys; atexit.register(lambda: print('handler ran'))\n"
              f"sys.argv = ['fraud', *{argv!r}]\nfrom fraud.cli.main import run\nrun()\n"
              "print('not reached')")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == code and p.stdout.startswith(out) and p.stderr.startswith(err), p
    assert p.stdout.rstrip().endswith("handler ran") and "not reached" not in p.stdout, p.stdout


def test_review_every_finding_of_a_user_or_rule(data, tmp_path):
    out, dec = tmp_path / "out", tmp_path / "d.csv"
    assert run("scan", data, "--out", out).exit_code == 0
    f = pl.read_parquet(out / "findings.parquet")
    u1 = f.filter(pl.col("user_id") == "u1")["finding_id"].to_list()
    r = run("review", "--user", "u1", "--dismiss", "--decisions", dec, "--out", out, "--note", "known traveller")
    assert r.exit_code == 0 and (f"dismiss {u1[0]}" if len(u1) == 1 else f"{len(u1)} findings") in r.stdout
    assert pl.read_csv(dec).select("finding_id", "decision", "note").rows() == [(i, "dismiss", "known traveller")
                                                                                 for i in u1]
    r = run("review", "--user", "u2", "--rule", "device.bot_agent", "--confirm", "--decisions", dec, "--out", out)
    assert r.exit_code == 0 and pl.read_csv(dec).height == len(u1) + 1
    for args, message in ((["--user", "u2", "--rule", "geo.remote_logins"],
                           "error: no findings of user 'u2' for rule 'geo.remote_logins' in the scan"),
                          (["--user", "u2"], None), ([u1[0], "--user", "u2"], "error: give finding ids or --user"),
                          (["--rule", "device.bot_agent", u1[0]], "error: --rule needs --user")):
        r = run("review", *args, "--dismiss", "--decisions", dec, *(["--out", out] if args != ["--user", "u2"]
                                                                      else []))
        assert r.exit_code == 2
        assert r.stderr.startswith(message or "error: --user needs --out"), r.stderr
    two = f["finding_id"].to_list()[:2]
    assert run("review", *two, "--confirm", "--decisions", dec, "--out", out).exit_code == 0
    assert pl.read_csv(dec).height == len(u1) + 3


def test_out_folder_that_would_overwrite_an_input_is_refused(data, tmp_path):
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    for out in (data, data / ".." / data.name):  # compared as resolved paths
        r = run("scan", data, "--out", out)
        assert r.exit_code == 2
        assert r.stderr.strip() == (f"error: {data / 'scores.csv'}: is an input of this scan; writing the outputs "
                                    f"to {out} would overwrite it (choose another --out)")
        assert {p.name: p.read_bytes() for p in data.iterdir()} == before  # nothing written, nothing replaced
    prev = tmp_path / "prev"  # a previous scan's scores table given as this scan's scores input
    assert run("scan", data, "--out", prev).exit_code == 0
    kept = (prev / "scores.parquet").read_bytes()
    r = run("scan", "--logins", data / "logins.csv", "--scores", prev / "scores.parquet", "--out", prev)
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {prev / 'scores.parquet'}: is an input of this scan")
    assert (prev / "scores.parquet").read_bytes() == kept


def test_the_input_folder_without_scores_is_refused_as_out(data, tmp_path):
    """`fraud scan DIR --out DIR` on a folder with no scores file yet wrote scores.csv into it: every later scan of
    the folder then failed on that file ("missing required column 'score'")."""
    (data / "scores.csv").unlink()
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    for args in ((data,), ("--logins", data / "logins.csv")):
        r = run("scan", *args, "--out", data)
        assert r.exit_code == 2
        assert r.stderr.strip() == (f"error: {data}: holds this scan's input logins.csv; the scores.csv written there "
                                    "would be read as the scores input of the next scan of that folder (choose "
                                    "another --out)")
        assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    assert run("scan", data, "--out", data / "results").exit_code == 0  # a folder inside it is fine


def test_out_through_a_link_to_the_input_folder_is_refused(data, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    r = run("scan", "--logins", data / "logins.csv", "--scores", data / "scores.csv", "--out", link)
    assert r.exit_code == 2 and "is an input of this scan" in r.stderr
    assert (data / "scores.csv").read_text() == "user_id,score\nu1,700\nu2,500\n"


@pytest.mark.parametrize("option", ["--logins", "--devices", "--locations", "--scores", "--decisions"])
@pytest.mark.parametrize("value", ["", "  "])
def test_empty_input_option_is_an_error(data, tmp_path, option, value):
    args = ["--logins", data / "logins.csv"] if option != "--logins" else []
    r = run("scan", *args, option, value, "--out", tmp_path / "out")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {option}: empty path"
    assert not (tmp_path / "out").exists()


def test_empty_input_option_of_fit_is_an_error(data, tmp_path):
    r = run("fit", data, "--locations", "", "--model", tmp_path / "m.joblib")
    assert r.exit_code == 2 and r.stderr.strip() == "error: --locations: empty path"


def test_an_error_naming_a_file_with_a_line_break_stays_one_line(tmp_path):
    bad = tmp_path / "two\nlines.csv"
    r = run("scan", "--logins", str(bad), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and r.stderr.strip() == f"error: {str(bad).replace(chr(10), chr(92) + 'n')}: file not found"


def test_summary_has_cpu_seconds_per_stage(tmp_path):
    # cpu_s / timings_s is how many cores a stage kept busy (bench/run.py prints it)
    (tmp_path / "ok.csv").write_text(LOGINS)
    assert run("scan", "--logins", tmp_path / "ok.csv", "--out", tmp_path / "scan").exit_code == 0
    s = json.loads((tmp_path / "scan" / "summary.json").read_text())
    # the check families run side by side: each has its wall seconds, their CPU seconds are the "checks" stage's
    side_by_side = {"fingerprint", "geo", "behavior"}
    assert list(s["cpu_s"]) == [k for k in s["timings_s"] if k not in side_by_side]
    assert all(v >= 0 for v in s["cpu_s"].values()) and side_by_side <= set(s["timings_s"])
    assert {"read", "checks", "total", "write", "report"} <= set(s["cpu_s"])
    assert s["timings_s"]["checks"] >= max(s["timings_s"][f] for f in side_by_side)


def test_review_commands_of_a_logins_folder_scan_write_beside_the_folder(tmp_path):
    """With --logins a folder, decisions.csv inside it would be read as a logins file by the next scan (exit 2):
    the review commands write it beside the folder."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "part1.csv").write_text(LOGINS)
    out = tmp_path / "out"
    assert run("scan", "--logins", folder, "--out", out).exit_code == 0
    decisions = json.loads((out / "summary.json").read_text())["review"]["decisions"]
    assert decisions == str(tmp_path.resolve() / "decisions.csv")
    fid = pl.read_parquet(out / "findings.parquet")["finding_id"][0]
    assert run("review", fid, "--dismiss", "--decisions", decisions, "--out", out).exit_code == 0
    # without --decisions the next scan of the folder does not read them: it says so
    again = run("scan", "--logins", folder, "--out", out)
    assert again.exit_code == 0 and f"decisions not applied: {decisions} holds reviews" in again.stdout
    applied = run("scan", "--logins", folder, "--decisions", decisions, "--out", out)
    assert applied.exit_code == 0 and "decisions not applied" not in applied.stdout


def test_show_an_ip_lists_its_findings_about_the_ip_alone(tmp_path):
    """ip.spray findings name no account: `fraud show IP` lists them with their review commands; an unknown id is
    still an error."""
    d = tmp_path / "in"
    d.mkdir()
    rows = ["ts,user_id,event,success,ip"] + [f"2024-03-01T08:{i:02d}:00Z,v{i},login,false,6.6.6.6" for i in range(10)]
    (d / "logins.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert run("scan", d, "--out", out).exit_code == 0
    fid = pl.read_parquet(out / "findings.parquet").filter(pl.col("rule") == "ip.spray")["finding_id"][0]
    r = run("show", "6.6.6.6", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "IP 6.6.6.6: 1 finding about the IP alone" in r.stdout and "ip.spray" in r.stdout
    assert f"fraud review {fid} --dismiss" in r.stdout and '"v0"' in r.stdout
    missing = run("show", "7.7.7.7", "--out", out)
    assert missing.exit_code == 2 and "user '7.7.7.7' not found" in missing.stderr


def test_show_an_ipv6_address_finds_its_networks_spray(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    rows = ["ts,user_id,event,success,ip"] + [
        f"2024-03-01T08:{i:02d}:00Z,v{i},login,false,2001:db8:1:2::{i + 1:x}" for i in range(10)]
    (d / "logins.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    assert run("scan", d, "--out", out).exit_code == 0
    for typed in ("2001:db8:1:2::/64", "2001:DB8:1:2:0::5"):
        r = run("show", typed, "--out", out)
        assert r.exit_code == 0, r.stderr
        assert "1 finding about the IP alone" in r.stdout
        assert "IPv6 network 2001:db8:1:2::/64 failed logins on 10 accounts" in r.stdout
    assert run("show", "2001:db8:1:3::5", "--out", out).exit_code == 2


def test_scan_says_which_events_no_rule_reads(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,event\n2024-03-01T08:00:00Z,u1,view_page\n"
                                  "2024-03-01T08:01:00Z,u1,login\n")
    r = run("scan", d, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert "events no rule reads: view_page (1) (see the README on event names)" in r.stdout


def test_show_explains_a_penalty_kept_by_the_dismissal_cap(data, tmp_path):
    (data / "scores.csv").write_text("user_id,score\nu1,700\nu2,300\n")  # 15% of 300: 45 of the 60 points back
    out = tmp_path / "out"
    assert run("scan", data, "--out", out).exit_code == 0
    assert run("review", "--user", "u2", "--rule", "device.bot_agent", "--dismiss", "--out", out).exit_code == 0
    assert run("scan", data, "--out", out).exit_code == 0
    shown = run("show", "u2", "--out", out).stdout
    assert "penalty -15 (-15 of it kept by the cap on what dismissals give back), bonus +0" in shown


def test_a_scan_whose_every_logins_row_is_rejected_fails_and_says_why(tmp_path):
    """A first export in an unread shape (US dates) was 100% rejected and the scan exited 0, a
    --fail-on gate passing on nothing; the terminal never said why. The outputs are still written to look at."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,success\n03/01/2024 08:00:00,u1,true\n"
                                  "03/01/2024 09:00:00,u2,maybe\n")
    out = tmp_path / "out"
    r = run("scan", d, "--out", out, "--fail-on", "high")
    assert r.exit_code == 2
    assert ("rejected logins rows, most often: bad timestamp in column ts (2); bad boolean in column success (1) "
            f"(every one in {out / 'rejected.csv'})") in r.stdout
    assert r.stderr.strip() == f"error: no logins row could be used: all 2 were rejected (see {out / 'rejected.csv'})"
    assert pl.read_csv(out / "rejected.csv").height == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["logins"]["rejection_reasons"] == {"bad timestamp in column ts": 2,
                                                                "bad boolean in column success": 1}


@pytest.mark.parametrize("name, content", [("logins.csv", ""), ("logins.csv", "ts,user_id\n"),
                                           ("logins.json", "{}"), ("logins.jsonl", "\n\n")])
def test_a_scan_of_an_empty_logins_input_fails_like_one_whose_rows_were_all_rejected(tmp_path, name, content):
    """A 0-byte logins file (a failed export job), a header-only one or a JSON {} scanned nothing and exited 0: a
    --fail-on gate passed on it. It is "no logins row could be used" (exit 2), outputs written."""
    d = input_dir(tmp_path, **{name.replace(".", "_"): content},
                  locations_csv="ts,user_id,lat,lon\n2024-03-01T08:00:00Z,u1,31.23,121.47\n")
    out = tmp_path / "out"
    r = run("scan", d, "--out", out, "--fail-on", "critical")
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: no logins row could be used: the logins input holds no rows (an empty or "
                                "header-only file)")
    assert json.loads((out / "summary.json").read_text())["inputs"]["logins"]["rows_used"] == 0


def test_a_logins_input_with_one_usable_row_passes_the_gate(tmp_path):
    # (one sign-in with a device: device.many_devices can look at it; a row of ts and user_id alone gives no rule
    # anything to look at, which the gate says: test_fail_on_never_passes_a_batch_no_rule_could_look_at_without_a_word)
    d = input_dir(tmp_path, logins_csv="ts,user_id,event,success,device_id\n2024-03-01T08:00:00Z,u1,login,true,d1\n")
    r = run("scan", d, "--out", tmp_path / "out", "--fail-on", "critical")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""


def test_scan_says_which_files_are_not_utf8_and_how_they_were_read(tmp_path):
    d = input_dir(tmp_path, logins_csv="ts,user_id,city\n2024-03-01T08:00:00Z,u1,Zürich\n".encode("cp1252"),
                  locations_csv="ts,user_id,lat,lon\n2024-03-01T08:00:00Z,zoé,46.2,6.1\n".encode()
                  + "2024-03-01T09:00:00Z,jörg,46.2,6.1\n".encode("latin-1"))
    r = run("scan", d, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert (f"logins file {d / 'logins.csv'}: not UTF-8 (no UTF-8 multi-byte sequence in it): read as Windows-1252 "
            "(cp1252)\n") in r.stdout
    # the locations' only text column is user_id, whose row is rejected with its reason: 0 other values
    assert (f"locations file {d / 'locations.csv'}: holds bytes that are not UTF-8: read as U+FFFD in 0 values; a "
            "user_id so is rejected; re-encode the file as UTF-8\n") in r.stdout
    (d / "locations.csv").unlink()
    (d / "logins.csv").write_text("ts,user_id,city\n2024-03-01T08:00:00Z,u1,Zürich\n")
    assert "UTF-8" not in run("scan", d, "--out", tmp_path / "out").stdout


def test_scan_warns_of_an_optional_column_given_under_another_name(tmp_path):
    d = input_dir(tmp_path, logins_csv="ts,user_id,latitude,lon\n2024-03-01T08:00:00Z,u1,31.2,121.5\n")
    r = run("scan", d, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert ("warning: no lat column in the logins, none read ('latitude' looks like it: map it in the config's "
            '[columns.logins] table, lat = "latitude")\n') in r.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["logins"]["optional_columns_under_other_names"] == {"lat": "latitude"}
    (d / "logins.csv").write_text("ts,user_id,lat,lon\n2024-03-01T08:00:00Z,u1,31.2,121.5\n")
    assert "warning" not in run("scan", d, "--out", tmp_path / "out").stdout
    # a status column may hold codes: the hint names [outcomes] too
    (d / "logins.csv").write_text("ts,user_id,status\n2024-03-01T08:00:00Z,u1,200\n")
    assert ('(\'status\' looks like it: map it in the config\'s [columns.logins] table, success = "status"; a code '
            "there (an HTTP status, an error code) also needs [outcomes] to say which values succeed)") in " ".join(
        run("scan", d, "--out", tmp_path / "out").stdout.split())


def test_scan_says_how_many_users_only_have_a_score(tmp_path):
    (tmp_path / "logins.csv").write_text(LOGINS)
    (tmp_path / "scores.csv").write_text("user_id,score\nnobody_else,700\nnor_this_one,650\n")
    r = run("scan", tmp_path, "--out", tmp_path / "scan")
    assert r.exit_code == 0
    assert ("2 users only in the scores input (no logins, devices or locations rows): no rule looked at them; their "
            "score passes through") in r.stdout.replace("\n", " ")
    assert json.loads((tmp_path / "scan" / "summary.json").read_text())["users_without_events"] == 2
    r = run("scan", "--logins", tmp_path / "logins.csv", "--out", tmp_path / "alone")
    assert r.exit_code == 0 and "only in the scores input" not in r.stdout


@pytest.mark.parametrize("command", [[], ["scan"], ["fit"], ["demo"], ["rules"], ["review"], ["show"], ["evaluate"]])
def test_help_shows_no_value_placeholder_for_flags(command):
    r = run(*command, "--help")
    assert r.exit_code == 0
    assert "--help" in r.stdout
    assert "<bool>" not in r.stdout


def test_version_prints_the_packages_version_which_the_metadata_reads():
    from importlib.metadata import version

    import fraud
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"fraud {fraud.__version__}"
    assert version("fraud") == fraud.__version__  # pyproject.toml reads the version from the package


def test_python_dash_m_runs_the_command():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "fraud", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("fraud ")


def test_scan_summary_line_counts_in_singular_and_plural(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id\n2024-03-01T08:00:00Z,u1\n")
    r = run("scan", d, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert "1 user, 1 row read, 0 rejected, 0 findings in " in r.stdout


def test_scan_says_when_a_bare_http_stack_agent_may_be_the_operators_own_app(tmp_path):
    """okhttp/4.9.2 on 2 of 3 users (a React Native app that never set an agent): flagged, and the command names
    the config key that exempts it; a bare stack on too few users is not named."""
    rows = ["ts,user_id,event,user_agent"] + [f"2024-03-01T0{i}:00:00Z,u{i},login,okhttp/4.9.2" for i in (1, 2)] + [
        '2024-03-01T03:00:00Z,u3,login,"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/126.0.0.0 Safari/537.36"']
    d = input_dir(tmp_path, logins_csv="\n".join(rows) + "\n")
    r = run("scan", d, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.stderr
    notes = json.loads((tmp_path / "o" / "summary.json").read_text())["checks"]["device.bot_agent"]
    assert (notes["bare_app_stack_users"], notes["users_with_successful_events"]) == ({"okhttp/4.9.2": 2}, 3)
    assert ("device.bot_agent: 'okhttp/4.9.2', an HTTP stack's bare agent, is on 2 of 3 users; if it is your own "
            'app\'s, list it in [rules."device.bot_agent"] allowed_agents') in " ".join(r.stdout.split())
    (d / "logins.csv").write_text("\n".join(rows[:2] + [rows[3].replace("u3", f"u{i}") for i in range(3, 40)]) + "\n")
    r = run("scan", d, "--out", tmp_path / "o2")
    assert r.exit_code == 0 and "allowed_agents" not in r.stdout
