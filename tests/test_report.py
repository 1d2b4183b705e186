"""The review report: case data, overview aggregates, escaping, report.md and the scan_to integration.

The browser test (Chromium via playwright) is in tests/report/test_browser.py."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timezone

import polars as pl
import pytest

from fraud.config import load_config
from fraud.context import ScanContext
from fraud.pipeline import ScanInputs
from fraud.report import (case_data, case_queue, decode_payload, load_user_case, render_markdown, render_report,
                          report_data, review_commands, user_case)
from fraud.report.markdown import code, md
from fraud.runner import scan_to
from fraud.schema import FINDINGS_SCHEMA
from tests.report.fixtures import UA_IPHONE, XSS_CITY, XSS_DEVICE, XSS_UA, make_result, ts, write_inputs


@pytest.fixture(scope="module")
def res():
    return make_result()


@pytest.fixture(scope="module")
def html(res):
    return render_report(res, load_config(), "my decisions.csv")


def test_queue_ranks_by_penalty_then_worst_severity(res):
    q = case_queue(res.findings, res.scores)
    pen = q["penalty"].to_list()
    assert pen == sorted(pen)
    for (p1, w1), (p2, w2) in zip(q.select("penalty", "worst").rows(), q.select("penalty", "worst").rows()[1:]):
        assert p1 < p2 or w1 >= w2
    assert q["user_id"][0] == "user029" and q.filter(pl.col("user_id") == "u_xss")["worst_severity"][0] == "critical"
    assert "u_clean" not in q["user_id"].to_list()  # no findings, no case
    assert q["user_id"].null_count() == 0  # IP-only findings are not cases


def test_a_dismissed_finding_no_longer_makes_its_case_severe():
    """u_travel: the high impossible trip dismissed, the medium new-device finding left: the case ranks and filters
    as medium; with every finding dismissed it is a reviewed case (no worst severity), still in the queue."""
    from datetime import datetime, timezone

    from tests.report.fixtures import make_result

    when = datetime(2024, 5, 2, tzinfo=timezone.utc)

    def queue(ids):
        dec = pl.DataFrame({"finding_id": ids, "decision": ["dismiss"] * len(ids), "decided_at": [when] * len(ids)})
        r = make_result(decisions=dec)
        return case_queue(r.findings, r.scores).filter(pl.col("user_id") == "u_travel").row(0, named=True)

    row = queue(["f-travel-1"])
    assert (row["worst_severity"], row["severities"]) == ("medium", [0, 2])  # info (the bonus) and medium
    row = queue(["f-travel-1", "f-travel-2", "f-travel-3"])
    assert (row["worst"], row["worst_severity"], row["severities"]) == (None, None, [])


def test_case_cards_hold_findings_profile_events_devices_positions(res):
    cases = case_data(res.findings, res.scores, res.profiles, 500, "d.csv", res.context)
    by = {c["user_id"]: c for c in cases}
    assert len(cases) == case_queue(res.findings, res.scores).height
    t = by["u_travel"]
    assert [f["rule"] for f in t["findings"]][0] == "geo.impossible_travel"  # largest penalty first
    jump = t["findings"][0]
    assert jump["evidence"]["to_lat"] == pytest.approx(39.9042) and jump["first_ts"] == "2024-03-14T10:00:00Z"
    assert jump["review"] == {"confirm": "fraud review f-travel-1 --confirm --decisions d.csv",
                              "dismiss": "fraud review f-travel-1 --dismiss --decisions d.csv"}
    assert t["profile"]["home_city"] == "Shanghai" and t["profile"]["main_device_days"] == 190
    ev = t["events"]  # as columns
    assert set(ev["event"]) >= {"login", "withdraw"} and len(ev["ts"]) == len(ev["ip"]) == len(ev["ua"])
    assert all(abs(_days(x) - 10.45) <= 3.5 for x in ev["ts"])  # near the penalty findings only
    assert ev["uas"] == [UA_IPHONE] and set(ev["ua"]) == {0}  # each distinct user agent once
    pos = t["positions"]
    assert pos["ts"] and len(pos["lat"]) == len(pos["lon"]) == len(pos["source"]) == len(pos["ts"])
    devs = {d["device_id"]: d for d in t["devices"]}
    assert devs["dev-u_travel"]["main"] and devs["dev-u_travel"]["model"] == "iPhone14,2"
    assert devs["dev-u_travel"]["device_lock"] is True and devs["dev-travel-2"]["first_seen"] == "2024-03-14T10:41:00Z"
    x = by["u_xss"]["devices"][0]
    assert x["device_id"] == XSS_DEVICE and x["is_emulator"] and x["is_rooted"] and x["user_agent"] == XSS_UA


def _days(iso: str) -> float:
    from datetime import datetime
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) - ts()).total_seconds() / 86400


def test_case_payload_is_limited_per_user():
    cfg = load_config()
    n = 3000
    logins = pl.DataFrame({"ts": [ts(minutes=5 * i) for i in range(n)], "user_id": ["heavy"] * n,
                           "lat": [31.0] * n, "lon": [121.0] * n})
    ctx = ScanContext.from_frames(cfg, logins=logins)
    f = pl.DataFrame([{"finding_id": "h1", "user_id": "heavy", "rule": "device.bot_agent", "family": "fingerprint",
                       "severity": "high", "points": -60, "first_ts": ts(days=5), "last_ts": ts(days=5),
                       "evidence": "{}", "summary": "x"}], schema=FINDINGS_SCHEMA)
    scores = pl.DataFrame({"user_id": ["heavy"], "score_before": [600], "penalty": [-60], "bonus": [0],
                           "score_after": [540], "tier_before": ["good"], "tier_after": ["fair"], "n_findings": [1],
                           "top_rule": ["device.bot_agent"]})
    prof = pl.DataFrame({"user_id": ["heavy"], "main_device_id": [None]}, schema={"user_id": pl.String,
                                                                                  "main_device_id": pl.String})
    (c,) = case_data(f, scores, prof, 10, context=ctx, max_events=50, max_positions=80)
    assert len(c["events"]["ts"]) == 50 and len(c["positions"]["ts"]) == 80
    assert all(abs(_days(x) - 5) <= 50 * 5 / 60 / 24 for x in c["events"]["ts"])  # the 50 nearest
    assert c["events"]["ts"] == sorted(c["events"]["ts"]) and c["events"]["uas"] == []


def test_case_findings_are_limited_per_rule_keeping_counted_ones_and_totals():
    # one account with 7 findings of a rule: the report embeds the first 3 (rank order) plus the counted one
    rows = [{"finding_id": f"t{i}", "user_id": "hop", "rule": "geo.impossible_travel", "family": "geo",
             "severity": "high", "points": -30, "counted": i == 5, "first_ts": ts(days=i), "last_ts": ts(days=i),
             "evidence": "{}", "summary": "x"} for i in range(7)]
    rows.append({"finding_id": "b1", "user_id": "hop", "rule": "device.bot_agent", "family": "fingerprint",
                 "severity": "high", "points": -60, "counted": True, "first_ts": ts(), "last_ts": ts(),
                 "evidence": "{}", "summary": "y"})
    f = pl.DataFrame(rows, schema=FINDINGS_SCHEMA).with_columns(  # counted: added by the scoring
        pl.Series("counted", [r["counted"] for r in rows]))
    scores = pl.DataFrame({"user_id": ["hop"], "score_before": [600], "penalty": [-90], "bonus": [0],
                           "score_after": [510], "tier_before": ["good"], "tier_after": ["fair"], "n_findings": [8],
                           "top_rule": ["device.bot_agent"]})
    prof = pl.DataFrame({"user_id": ["hop"], "main_device_id": [None]}, schema={"user_id": pl.String,
                                                                                "main_device_id": pl.String})
    (c,) = case_data(f, scores, prof, 10, max_findings_per_rule=3)
    assert [x["finding_id"] for x in c["findings"]] == ["b1", "t0", "t1", "t2", "t5"]
    assert c["rule_totals"] == {"device.bot_agent": 1, "geo.impossible_travel": 7}
    (full,) = case_data(f, scores, prof, 10)  # fraud show: every finding
    assert len(full["findings"]) == 8 and full["rule_totals"] == c["rule_totals"]


def test_review_commands_are_shell_quoted():
    cmd = review_commands("abc'1", "my decisions.csv")
    assert cmd["dismiss"] == "fraud review 'abc'\"'\"'1' --dismiss --decisions 'my decisions.csv'"


def test_report_data_overview_and_queue(res):
    cfg = load_config()
    d = report_data(res, cfg, top_n=5)
    ov = d["overview"]
    assert ov["users"] == res.scores.height and ov["findings"] == res.findings.height and ov["ip_findings"] == 1
    assert sum(map(sum, ov["migration"]["matrix"])) == res.scores.height
    assert ov["migration"]["tiers"] == ["watch", "fair", "good", "excellent", "exceptional"]
    sh = ov["shift"]
    assert sum(sh["counts"]) + sh["unchanged"] == res.scores.height
    br = ov["by_rule"]
    assert sum(map(sum, br["counts"])) == res.findings.height
    assert br["counts"][br["rules"].index("geo.impossible_travel")][3] == 1  # one 'high'
    assert ov["ip_list"][0]["ip"] == "192.0.2.200"
    assert ov["ip_list"][0]["accounts"] == [] and ov["ip_list"][0]["decision"] is None  # evidence counts, no list
    q = d["queue"]
    assert len(q["u"]) == d["meta"]["queue_total"] == ov["users_flagged"]
    assert len(d["cases"]) == 5 and [c["user_id"] for c in d["cases"]] == q["u"][:5]
    i = q["u"].index("u_travel")
    assert d["meta"]["rules"][q["top"][i]] == "geo.impossible_travel"
    assert {d["meta"]["rules"][r] for r in q["rs"][i]} == {"geo.impossible_travel", "device.new_device_sensitive",
                                                           "device.stable_main"}
    small = report_data(res, cfg, queue_limit=3, top_n=2)
    assert len(small["queue"]["u"]) == 3 and small["meta"]["queue_total"] == q["u"].__len__()


def test_html_is_self_contained_and_hostile_strings_never_reach_the_markup(res, html):
    assert "plotly.js (basic" in html  # the charting library is inlined
    markup = re.sub(r"<script>.*?</script>", "<script></script>", html, flags=re.S)  # without the two programs
    assert "<script>alert" not in markup and "onerror" not in markup and "<b>Par" not in markup
    assert not re.search(r"""(src|href)\s*=\s*"(?!#)""", markup)  # nothing loaded from anywhere
    data = decode_payload(html)
    u = next(c for c in data["cases"] if c["user_id"] == "u_xss")
    assert u["events"]["uas"] == [XSS_UA] and u["profile"]["home_city"] == XSS_CITY
    assert u["findings"][0]["review"]["dismiss"].endswith("--decisions 'my decisions.csv'")
    # only the report's own scripts may run: their hashes are the CSP's script-src
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == 2
    for js in scripts:
        h = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
        assert f"'sha256-{h}'" in csp


def test_markdown_summary_escapes_log_text(res):
    text = render_markdown(res, load_config(), "decisions.csv")
    assert text.startswith("# fraud review report")
    assert "## Top 20 cases" in text and "## Tier migration" in text and "## Findings per rule and severity" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Par\\|is" in text  # a '|' from the logs cannot break a table
    assert "`fraud review f-xss-1 --dismiss --decisions decisions.csv`" in text
    assert text.count("\n### ") == 20


def test_md_helpers():
    assert md("a|b <i>x</i> *y*") == "a\\|b &lt;i&gt;x&lt;/i&gt; \\*y\\*"
    assert md("device.lock_enabled _em_ [l](u)") == "device.lock_enabled \\_em\\_ \\[l\\](u)"
    assert md(None) == "" and md("two\nlines") == "two lines"
    assert code("a`b") == "``a`b``" and code("`x") == "`` `x ``"


def test_user_case_for_fraud_show(res):
    c = user_case(res.findings, res.scores, res.profiles, "u_travel", context=res.context)
    assert c["user_id"] == "u_travel" and c["findings"][0]["rule"] == "geo.impossible_travel" and c["events"]["ts"]
    clean = user_case(res.findings, res.scores, res.profiles, "u_clean")
    assert clean["findings"] == [] and clean["score_after"] == clean["score_before"] and "events" not in clean
    assert user_case(res.findings, res.scores, res.profiles, "nobody") is None


def test_scan_to_writes_report_html_and_md(tmp_path):
    data = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    res = scan_to(ScanInputs.from_folder(data), out, load_config())
    html = (out / "report.html").read_text()
    d = decode_payload(html)
    assert d["overview"]["users"] == res.scores.height
    assert d["overview"]["summary"]["inputs"]["logins"]["rows_rejected"] == 1
    assert "report" not in d["overview"]["summary"]["timings_s"] and "write" in d["overview"]["summary"]["timings_s"]
    assert "<script>alert" not in html
    md_text = (out / "report.md").read_text()
    assert md_text.startswith("# fraud review report") and "## Inputs" in md_text
    summary = json.loads((out / "summary.json").read_text())
    assert "report" in summary["timings_s"]
    c = load_user_case(out, "u_travel")
    assert c is not None and c["user_id"] == "u_travel" and c["score_before"] == 712
    assert load_user_case(out, "nobody") is None


def test_empty_scan_renders(tmp_path):
    cfg = load_config()
    res = make_result(cfg, n_filler=0)
    res.findings = res.findings.clear()
    res.scores = res.scores.with_columns(pl.lit(0, pl.Int64).alias("penalty"))
    d = report_data(res, cfg)
    assert d["cases"] == [] and d["queue"]["u"] == [] and d["overview"]["by_rule"]["rules"] == []
    assert decode_payload(render_report(res, cfg, data=d))["meta"]["queue_total"] == 0
    assert "## Top 0 cases" in render_markdown(res, cfg, data=d)


def test_evidence_that_is_not_an_object_is_kept(res):
    f = res.findings.with_columns(pl.when(pl.col("finding_id") == "f-bot-1").then(pl.lit("not json"))
                                  .otherwise(pl.col("evidence")).alias("evidence"))
    c = user_case(f, res.scores, res.profiles, "u_bot")
    assert c["findings"][0]["evidence"] == {"raw": "not json"}


def test_findings_without_timestamps_keep_latest_events(res):
    f = res.findings.with_columns(pl.when(pl.col("user_id") == "u_bot").then(None).otherwise(pl.col("first_ts"))
                                  .alias("first_ts"),
                                  pl.when(pl.col("user_id") == "u_bot").then(None).otherwise(pl.col("last_ts"))
                                  .alias("last_ts"))
    c = user_case(f, res.scores, res.profiles, "u_bot", context=res.context)
    assert len(c["events"]["ts"]) == 3 and c["findings"][0]["first_ts"] is None


def test_markdown_folds_a_rule_past_three_findings(res):
    extra = pl.concat([res.findings.filter(pl.col("finding_id") == "f-bot-1")
                       .with_columns(pl.lit(f"f-bot-x{i}").alias("finding_id")) for i in range(4)])
    r = make_result()
    r.findings = pl.concat([res.findings, extra])
    text = render_markdown(r, load_config())
    block = text.split(". u_bot:")[1].split("\n### ")[0]
    assert block.count("**device.bot_agent**") == 3 and "… and 2 more device.bot_agent findings" in block


def test_ip_findings_list_their_accounts_and_decision():
    import polars as pl

    from fraud.report.overview import ip_findings

    f = pl.DataFrame({"finding_id": ["a1"], "rule": ["ip.spray"], "severity": ["high"], "ip": ["192.0.2.9"],
                      "first_ts": [datetime(2024, 3, 1, tzinfo=timezone.utc)], "summary": ["IP 192.0.2.9 ..."],
                      "evidence": ['{"accounts": ["u1", "u2"], "n_accounts": 2}'], "user_id": [None],
                      "points": [0], "decision": ["dismiss"]}, schema_overrides={"user_id": pl.String})
    assert ip_findings(f) == [{"finding_id": "a1", "rule": "ip.spray", "severity": "high", "ip": "192.0.2.9",
                               "first_ts": "2024-03-01T00:00:00Z", "summary": "IP 192.0.2.9 ...",
                               "decision": "dismiss", "accounts": ["u1", "u2"]}]


def test_events_at_one_instant_keep_one_order_however_the_inputs_are_ordered():
    """A case's events near its findings are ordered by time and then by every other column: two events of one
    user at the same instant no longer follow the input's row order (a shuffled input changed report.html)."""
    from datetime import datetime, timezone

    from fraud.report.cases import _near_findings

    t = datetime(2024, 3, 1, 8, tzinfo=timezone.utc)
    rows = pl.DataFrame({"user_id": ["u1"] * 3, "ts": [t, t, t], "event": ["payment", "login", "login"],
                         "ip": ["9.9.9.9", "1.1.1.1", None]})
    anchors = pl.DataFrame({"user_id": ["u1"], "_t": [t]})
    a = _near_findings(rows.lazy(), anchors.lazy(), 10, 1.0).collect()
    b = _near_findings(rows.reverse().lazy(), anchors.lazy(), 10, 1.0).collect()
    assert a.equals(b) and a["event"].to_list() == ["login", "login", "payment"] and a["ip"][0] == "1.1.1.1"


def test_report_md_lists_the_findings_about_ips():
    """report.md showed ip.spray findings only as a count: no IP, summary or review command (report.html lists
    them in its overview)."""
    text = render_markdown(make_result(), load_config(), "decisions.csv")
    block = text.split("## Findings about IPs (1, no account penalised)\n\n")[1].split("\n## ")[0]
    assert block.splitlines() == [
        "- **ip.spray** medium 192.0.2.200, 2024-03-05T02:00:00Z: IP 192.0.2.200 failed logins on 14 accounts "
        "within 40 min",
        "  - dismiss: `fraud review f-ip-1 --dismiss --decisions decisions.csv`",
        "  - confirm: `fraud review f-ip-1 --confirm --decisions decisions.csv`"]
    assert text.index("## Findings about IPs") < text.index("## Top 20 cases")


def test_a_penalty_kept_by_the_dismissal_cap_is_explained_in_show_and_report_md():
    """u_xss (655) dismissed both its findings (-140): 15% of 655 is 98, so -42 stays in the penalty with no counted
    finding behind it; fraud show and report.md said nothing of the cap (report.html did)."""
    from fraud.report.cases import cap_kept, cap_note
    from fraud.scoring import score_users

    cfg = load_config()
    r = make_result(cfg)
    dec = pl.DataFrame({"finding_id": ["f-xss-1", "f-xss-2"], "decision": ["dismiss", "dismiss"],
                        "decided_at": [datetime(2024, 4, 1, tzinfo=timezone.utc)] * 2, "reviewer": ["r", "r"],
                        "note": ["", ""]})
    r.scores, r.findings = score_users(r.findings.drop("counted", "decision", strict=False), r.context.users().collect(),
                                       pl.DataFrame({"user_id": ["u_travel", "u_xss"], "score": [712, 655]}), cfg, dec)
    c = user_case(r.findings, r.scores, r.profiles, "u_xss")
    assert c["penalty"] == -42 and cap_kept(c) == -42
    assert cap_note(c) == " (-42 of it kept by the cap on what dismissals give back)"
    block = render_markdown(r, cfg, top=100).split(". u_xss:")[1].split("\n### ")[0]
    assert "Penalty -42 (-42 of it kept by the cap on what dismissals give back: 15% of the score before)." in block
    assert cap_kept(user_case(r.findings, r.scores, r.profiles, "u_travel")) == 0
    # the report's cards read the same figure from their case record (report.js capNote)
    cards = {c["user_id"]: c for c in report_data(r, cfg, top_n=100)["cases"]}
    assert cards["u_xss"]["cap_kept"] == -42 and cards["u_travel"]["cap_kept"] == 0


def test_a_cases_devices_do_not_depend_on_the_rows_order():
    """Devices last seen at one instant were listed in row order (a repeated scan, a sliced one or a shuffled
    input listed them differently), and a device's agent was the last one in the file, not the latest in time."""
    from fraud.report.cases import _devices

    t = [datetime(2024, 3, d, 9, tzinfo=timezone.utc) for d in (1, 2)]
    logins = pl.DataFrame({"ts": [t[1], t[1], t[1], t[1], t[1], t[0]], "user_id": ["u1"] * 6,
                           "event": ["login"] * 6, "success": [True] * 6, "ip": ["1.1.1.1"] * 6,
                           "device_id": ["d3", "d1", "d4", "d2", "d5", "d5"],
                           "user_agent": ["A"] * 4 + ["MyApp/1.0", "python-requests/2.31"]})
    devices = pl.DataFrame({"ts": [t[1], t[1]], "device_id": ["d1", "d1"], "user_id": ["u1", "u1"],
                            "model": ["Pixel 8", "Pixel 7"], "os": ["Android", "Android"]})
    profiles = pl.DataFrame({"user_id": ["u1"], "main_device_id": [None]}, schema_overrides={"main_device_id": pl.String})
    users = pl.DataFrame({"user_id": ["u1"]})
    shown = []
    for seed in (None, 1, 2):
        lg = logins if seed is None else logins.sample(fraction=1.0, shuffle=True, seed=seed)
        dv = devices if seed is None else devices.reverse()
        ctx = ScanContext.from_frames(load_config(), logins=lg, devices=dv)
        shown.append(_devices(ctx, users, profiles, 4)["u1"])
    assert shown[0] == shown[1] == shown[2]
    assert [d["device_id"] for d in shown[0]] == ["d1", "d2", "d3", "d4"]  # d5 is the oldest: past the limit
    d1 = shown[0][0]
    assert (d1["model"], d1["user_agent"]) == ("Pixel 8", "A")  # ties: the last in text order
    five = _devices(ScanContext.from_frames(load_config(), logins=logins.reverse()), users, profiles, 5)["u1"]
    assert [(d["device_id"], d["user_agent"]) for d in five][-1] == ("d5", "MyApp/1.0")  # the latest agent


def test_a_decision_trail_says_when_the_evidence_was_seen_again_after_the_decision():
    """A dismissed emulator keeps its id as tomorrow's logs extend its window (the rule's identity): the trail says
    the decision predates evidence seen since, so the reviewer can look again."""
    from fraud.report.cases import decision_trail

    f = {"decision": "dismiss", "reviewer": "ana", "decided_at": "2024-05-02T09:30:00Z", "note": "test rig",
         "last_ts": "2024-05-09T08:00:00Z"}
    assert decision_trail(f) == "dismissed by ana on 2024-05-02: test rig; seen again since, last 2024-05-09"
    assert decision_trail({**f, "last_ts": "2024-05-02T09:29:59Z"}) == "dismissed by ana on 2024-05-02: test rig"
    assert decision_trail({**f, "decided_at": None}) == "dismissed by ana: test rig"
    assert decision_trail({**f, "decision": None}) == ""
