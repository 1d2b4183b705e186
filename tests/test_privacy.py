"""--pseudonymize: identifiers are replaced as whole values, never inside numbers, dates or other identifiers."""
import json
import re

import polars as pl
import pytest

from fraud.config import load_config
from fraud.pipeline import ScanInputs, scan
from fraud.privacy import RAW_WITHHELD, Pseudonymizer, token
from fraud.runner import pseudonymize_result
from fraud.synth import generate

KEY = b"k"


def t(v: str) -> str:
    return token(v, KEY)


@pytest.fixture
def p():
    frames = {"logins": pl.LazyFrame({"user_id": ["7", "u1", "day"], "device_id": ["d-1", "7", "x"],
                                      "ip": ["1.2.3.4", "5.6.7.8", None]}),
              "devices": pl.LazyFrame({"user_id": ["u1"], "imei": ["unknown"], "mac": ["-"]})}
    return Pseudonymizer("k", frames)


def test_json_string_values_are_replaced_whole(p):
    ev = '{"n":7,"day":"7","users":["7","u1","u12"],"v":0.75,"when":"2024-07-01","nested":[{"device_id":"d-1"}]}'
    out = p.apply(pl.DataFrame({"evidence": [ev, None]}))["evidence"].to_list()
    assert json.loads(out[0]) == {"n": 7, "day": t("7"), "users": [t("7"), t("u1"), "u12"], "v": 0.75,
                                  "when": "2024-07-01", "nested": [{"device_id": t("d-1")}]}
    assert out[1] is None


def test_json_keys_and_non_identifier_strings_stay(p):
    ev = '{"day":"2024-07-01","x1":"u1x","ip":"1.2.3.45","k":"7 days"}'  # "day" and "x" are identifiers
    assert p.apply(pl.DataFrame({"evidence": [ev]}))["evidence"].item() == ev


def test_escaped_values_match_their_json_form():
    q = Pseudonymizer("k", {"logins": pl.LazyFrame({"user_id": ['a"b', "c\\d", "é1"]})})
    ev = json.dumps({"a": 'a"b', "b": "c\\d", "c": "é1"}, ensure_ascii=False, separators=(",", ":"))
    out = q.apply(pl.DataFrame({"evidence": [ev]}))["evidence"].item()
    assert json.loads(out) == {"a": t('a"b'), "b": t("c\\d"), "c": t("é1")}


def test_summary_replaces_the_rows_own_device_and_ip_as_words(p):
    f = pl.DataFrame({"user_id": ["u1", "u1", "7"], "device_id": ["7", "d-1", None], "ip": ["1.2.3.4", None, None],
                      "summary": ["Device 7 seen 0.75 days, 7a and 17 times from IP 1.2.3.4.",
                                  "new device d-1, not d-12 or xd-1", "user 7 made 7 logins"]})
    out = p.apply(f)
    assert out["summary"].to_list() == [
        f"Device {t('7')} seen 0.75 days, 7a and 17 times from IP {t('1.2.3.4')}.",
        f"new device {t('d-1')}, not d-12 or xd-1",
        "user 7 made 7 logins"]  # a summary never names the user: user ids are left alone in it
    assert out["user_id"].to_list() == [t("u1"), t("u1"), t("7")]
    assert out["device_id"].to_list() == [t("7"), t("d-1"), None]


def test_placeholders_and_punctuation_are_not_identifiers(p):
    ev = '{"imei":"unknown","mac":"-","s":"a-b"}'
    assert p.apply(pl.DataFrame({"evidence": [ev]}))["evidence"].item() == ev
    assert p.map["value"].to_list() == ["1.2.3.4", "5.6.7.8", "7", "d-1", "day", "u1", "x"]


def test_raw_previews_json_truncated_and_unsplit(p):
    raw = ['{"ts":"bad","user_id":"u1","ip":"5.6.7', '{"user_id":"7","ip":"5.6.7.8"}', "2024,7,u1,5.6.7.8"]
    out = p.apply(pl.DataFrame({"raw": raw, "reason": ["r"] * 3}))["raw"].to_list()
    assert out == [
        f'{{"ts":"bad","user_id":"{t("u1")}","ip":',  # the cut-off string goes: its prefix cannot be matched
        f'{{"user_id":"{t("7")}","ip":"{t("5.6.7.8")}"}}',
        RAW_WITHHELD]  # a line that could not be split: its ids were never read, so it is withheld


def test_a_rejected_rows_reason_quotes_no_clear_identifier():
    """A rejected row's reason quotes its bad value, cut to 40 characters (``device_id holds a control character
    ...: alice-phone<TAB>1``): its raw preview was tokenised while the reason kept the clear id. The reason is
    rewritten by substring, a long id by its 40-character cut too; a reason without an id stays as it is."""
    long_id = "device-" + "x" * 50 + "\x1b"
    frames = {"logins": pl.LazyFrame({"user_id": ["alice"], "device_id": ["alice-phone"]})}
    reasons = ["device_id holds a control character (U+0000-U+001F, U+007F): alice-phone\t1",
               f"device_id holds a control character (U+0000-U+001F, U+007F): {long_id[:40]}",
               "bad timestamp in column ts: 2024-13-01"]
    raws = [json.dumps({"device_id": v}) for v in ("alice-phone\t1", long_id, "alice-phone")]
    rejected = pl.DataFrame({"reason": reasons, "raw": raws})
    out = Pseudonymizer("k", frames, rejected).apply(rejected)["reason"].to_list()
    assert out == [f"device_id holds a control character (U+0000-U+001F, U+007F): {t('alice-phone' + chr(9) + '1')}",
                   f"device_id holds a control character (U+0000-U+001F, U+007F): {t(long_id)}",
                   "bad timestamp in column ts: 2024-13-01"]


def test_lazy_in_lazy_out(p):
    lf = pl.LazyFrame({"user_id": ["u1"], "summary": ["x"]})
    out = p.apply(lf)
    assert isinstance(out, pl.LazyFrame) and out.collect().to_dicts() == [{"user_id": t("u1"), "summary": "x"}]


def test_empty_key_is_an_error():
    from fraud.errors import FraudError

    with pytest.raises(FraudError, match="non-empty key"):
        Pseudonymizer("", {})


def _swap(v, ids: set[str]):
    if isinstance(v, dict):
        return {k: _swap(x, ids) for k, x in v.items()}
    if isinstance(v, list):
        return [_swap(x, ids) for x in v]
    return t(v) if isinstance(v, str) and v in ids else v


def _own_words(text: str, values: list, ids: set[str]) -> str:
    """The oracle: ``v`` not next to a word character, nor to a joiner that a letter or digit continues."""
    for v in values:
        if v in ids:
            text = re.sub(rf"(?<!\w)(?<![^\W_][.:/@-]){re.escape(v)}(?!\w)(?![.:/@-][^\W_])", t(v), text)
    return text


def test_demo_scan_with_short_numeric_ids(tmp_path):
    """Numeric identifiers ("7") next to the numbers of every rule's evidence and summary: each evidence is the
    clear one with exactly its identifier values swapped, each summary has exactly its device and IP swapped."""
    data = tmp_path / "data"
    generate(data, users=200, seed=5)
    users = pl.read_csv(data / "logins.csv", infer_schema=False)["user_id"].drop_nulls().unique().sort()
    devices = pl.read_csv(data / "devices.csv", infer_schema=False)["device_id"].drop_nulls().unique().sort()
    renum = {**{u: str(i + 1) for i, u in enumerate(users.to_list())},
             **{d: str(i + 1) for i, d in enumerate(devices.to_list())}}
    for name in ("logins", "devices", "locations", "scores"):
        df = pl.read_csv(data / f"{name}.csv", infer_schema=False)
        df.with_columns(pl.col(c).replace(renum) for c in ("user_id", "device_id", "main_device_id")
                        if c in df.columns).write_csv(data / f"{name}.csv")
    res = scan(ScanInputs.from_folder(data), load_config())
    clear, rejected = res.findings, res.rejected
    ids = set(Pseudonymizer("k", res.context.frames, rejected).map["value"].to_list())
    assert {"7", "42"} <= ids and res.findings["rule"].n_unique() >= 18
    pseudonymize_result(res, "k")
    assert res.findings.select("finding_id", "points").equals(clear.select("finding_id", "points"))
    for a, b in zip(clear.iter_rows(named=True), res.findings.iter_rows(named=True)):
        assert json.loads(b["evidence"]) == _swap(json.loads(a["evidence"]), ids), a["rule"]
        assert b["summary"] == _own_words(a["summary"], [a["device_id"], a["ip"]], ids), a["rule"]
        assert b["user_id"] == (t(a["user_id"]) if a["user_id"] else None)


def test_a_reviewers_note_is_withheld_when_pseudonymized(tmp_path):
    """A note may name the customer ("same person as u2"): with --pseudonymize it is withheld (decision, reviewer
    and time stay), not searched for identifiers."""
    from datetime import datetime, timezone

    from fraud.privacy import NOTE_WITHHELD

    (tmp_path / "logins.csv").write_text("ts,user_id,user_agent\n2024-03-01T09:00:00Z,u1,curl/8.0\n"
                                         "2024-03-01T09:00:00Z,u2,Mozilla/5.0\n")
    fid = scan(ScanInputs.from_folder(tmp_path), load_config()).findings.filter(
        pl.col("rule") == "device.bot_agent")["finding_id"][0]
    # the second row's decision word is a typo: a rejected row, whose raw text holds its note
    pl.DataFrame({"finding_id": [fid, fid, "0" * 20], "decision": ["dismiss", "dismis", "confirm"],
                  "decided_at": [datetime(2024, 5, d, tzinfo=timezone.utc) for d in (1, 2, 3)],
                  "reviewer": ["ana", "ana", "bo"],
                  "note": ["same person as u2", "u2 \"again\", see u2", None]}).write_csv(tmp_path / "decisions.csv")
    res = scan(ScanInputs.from_folder(tmp_path), load_config())
    assert res.findings.filter(pl.col("finding_id") == fid)["note"].to_list() == ["same person as u2"]
    assert "see u2" in res.rejected.filter(pl.col("input") == "decisions")["raw"][0]
    pseudonymize_result(res, "k")
    row = res.findings.filter(pl.col("rule") == "device.bot_agent").row(0, named=True)
    assert (row["decision"], row["reviewer"], row["note"]) == ("dismiss", "ana", NOTE_WITHHELD)
    assert not any("u2" in str(v) for r in res.findings.iter_rows() for v in r)
    raw = res.rejected.filter(pl.col("input") == "decisions")["raw"][0]
    assert "u2" not in raw and json.loads(raw)["note"] == NOTE_WITHHELD and json.loads(raw)["reviewer"] == "ana"


@pytest.mark.parametrize("shards", [1, 3])
def test_rejected_rows_keyed_by_the_files_own_headers_are_pseudonymized(tmp_path, shards):
    """A rejected row's raw JSON is keyed by the file's own headers: under a [columns] mapping (uid, dev) or a header
    in another case (User_ID), its ids were left in clear by --pseudonymize. Its reason's quoted id too."""
    from fraud.runner import scan_to

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "logins.csv").write_text(
        "login_time, UID ,evt,dev\n2025-01-01T10:00:00Z,alice_secret,login,d1\nnot-a-time,bob_secret,login,dev_bob\n"
        '2025-01-01T10:00:00Z,carol_secret,login,"dev\tcarol"\n')
    (tmp_path / "in" / "devices.csv").write_text("ts,device_id,User_ID\nnot-a-time,d9_secret,dave_secret\n")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[columns]\nts = "login_time"\nuser_id = "uid"\nevent = "evt"\ndevice_id = ["dev", "device_id"]\n'
                        '[columns.devices]\nts = "ts"\n')
    scan_to(ScanInputs.from_folder(tmp_path / "in"), tmp_path / "out", load_config(cfg_file), pseudonymize="k",
            shards=shards)
    rejected = (tmp_path / "out" / "rejected.csv").read_text()
    assert rejected.count("p_") >= 6
    for clear in ("bob_secret", "dev_bob", "carol_secret", "dev\\tcarol", "d9_secret", "dave_secret"):
        assert clear not in rejected, clear


def test_rejected_rows_with_headers_in_another_style_are_pseudonymized(tmp_path):
    """userId, Device-ID, IP: the id columns' names in another style read as the columns; a rejected row keyed by
    them is pseudonymized too."""
    from fraud.runner import scan_to

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "logins.csv").write_text(
        "ts,userId,Device-ID,IP\n2025-01-01T10:00:00Z,alice_secret,d1,1.2.3.4\nnot-a-time,bob_secret,dev_bob,5.6.7.8\n")
    scan_to(ScanInputs.from_folder(tmp_path / "in"), tmp_path / "out", load_config(), pseudonymize="k")
    rejected = (tmp_path / "out" / "rejected.csv").read_text()
    assert rejected.count("p_") >= 2
    for clear in ("bob_secret", "dev_bob", "5.6.7.8"):
        assert clear not in rejected, clear


def test_a_rejected_line_that_could_not_be_split_is_withheld(tmp_path):
    """A line with a quote never closed is rejected as text: an account only in that line is in no table, so no
    substring rewriting can be trusted; under --pseudonymize its raw text is withheld."""
    from fraud.privacy import RAW_WITHHELD
    from fraud.runner import scan_to

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "logins.csv").write_text("ts,user_id,device_id\n2025-01-01T10:00:00Z,alice,d1\n"
                                                '2025-01-01T10:00:00Z,"eve_secret,dev_eve\n')
    res = scan_to(ScanInputs.from_folder(tmp_path / "in"), tmp_path / "out", load_config(), pseudonymize="k")
    assert res.rejected["raw"].to_list() == [RAW_WITHHELD]
    assert "eve_secret" not in (tmp_path / "out" / "rejected.csv").read_text()


def test_pseudonymized_scans_key_their_finding_ids_and_tokenise_what_the_checks_derive(tmp_path):
    """A privacy audit: ip.spray's IPv6 /64 network (a value no input holds) was written in clear, and finding ids
    were plain SHA-1 of the clear user, device and IP beside their own timestamps (a spray IP brute-forced back in
    0.1 s; the same ids under every key). Ids are now keyed: the same under one key (decisions carry over), others
    under another key or none; the network is a token; values read from data cells are withheld in summary.json."""
    from fraud.decisions import append_decision
    from fraud.runner import scan_to

    rows = [f"2024-03-26T08:{m:02d}:00Z,V6VICTIM_{m},login,false,2400:cb00:7777:4321::a{m:02d},XX" for m in range(12)]
    rows.append("2024-03-26T09:00:00Z,bob,login,true,198.51.100.7,ALICE_RAW_7731")
    d = tmp_path / "in"
    d.mkdir()
    (d / "logins.csv").write_text("ts,user_id,event,success,ip,country\n" + "\n".join(rows) + "\n")

    def run(name, key=None, decisions=None):
        scan_to(ScanInputs(logins=d / "logins.csv", decisions=decisions), tmp_path / name, load_config(),
                pseudonymize=key)
        return pl.read_parquet(tmp_path / name / "findings.parquet")

    k1, k1b, k2, clear = run("k1", "k1"), run("k1b", "k1"), run("k2", "k2"), run("clear")
    assert k1["finding_id"].to_list() == k1b["finding_id"].to_list() and k1.height == clear.height >= 1
    assert set(k1["finding_id"]).isdisjoint(k2["finding_id"]) and set(k1["finding_id"]).isdisjoint(
        clear["finding_id"])
    spray = k1.filter(pl.col("rule") == "ip.spray").row(0, named=True)
    assert spray["ip"] == token("2400:cb00:7777:4321::/64", b"k1")
    assert "2400:cb00" not in json.dumps(k1.to_dicts(), default=str)
    assert "2400:cb00" not in (tmp_path / "k1" / "report.md").read_text()
    summary = (tmp_path / "k1" / "summary.json").read_text()
    assert "ALICE_RAW_7731" not in summary and "(withheld: --pseudonymize)" in summary
    assert "ALICE_RAW_7731" in (tmp_path / "clear" / "summary.json").read_text()
    # a decision on a pseudonymised scan's finding holds on the next scan with that key
    dec = tmp_path / "decisions.csv"
    append_decision(dec, spray["finding_id"], "dismiss")
    again = run("k1c", "k1", dec)
    assert again.filter(pl.col("finding_id") == spray["finding_id"])["decision"].to_list() == ["dismiss"]


def test_an_empty_key_in_the_environment_is_an_error_not_clear_outputs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fraud.cli.main import app

    (tmp_path / "logins.csv").write_text("ts,user_id\n2024-03-01T09:00:00Z,u1\n")
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", "")
    r = CliRunner().invoke(app, ["scan", "--logins", str(tmp_path / "logins.csv"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "FRAUD_PSEUDO_KEY is set but empty" in r.stderr and not (tmp_path / "o").exists()


def test_a_pseudonymised_scan_says_so_and_is_not_evaluated_against_clear_labels(tmp_path):
    """Its findings name tokens, the labels clear ids: every rule read 0 precision and 0 recall, with no word."""
    from typer.testing import CliRunner

    from fraud.cli.main import app

    (tmp_path / "logins.csv").write_text("ts,user_id,user_agent\n2024-03-01T09:00:00Z,u1,curl/8.0\n")
    (tmp_path / "labels.csv").write_text("user_id,rule\nu1,device.bot_agent\n")
    runner = CliRunner()
    r = runner.invoke(app, ["scan", "--logins", str(tmp_path / "logins.csv"), "--pseudonymize", "k", "--out",
                            str(tmp_path / "o")])
    assert r.exit_code == 0 and "ids pseudonymised: user, device and network ids and finding ids are keyed" in \
        " ".join(r.stdout.split())
    e = runner.invoke(app, ["evaluate", "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "o")])
    assert e.exit_code == 2 and "the scan was written with --pseudonymize" in e.stderr
    assert not (tmp_path / "o" / "eval.json").exists()
    r = runner.invoke(app, ["scan", "--logins", str(tmp_path / "logins.csv"), "--out", str(tmp_path / "c")])
    assert "ids pseudonymised" not in r.stdout
    e = runner.invoke(app, ["evaluate", "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "c")])
    assert e.exit_code == 0 and "device.bot_agent" in e.stdout
