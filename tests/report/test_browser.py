"""The review report in a real browser: Debian's Chromium, headless, driven by playwright.

Skips when /usr/bin/chromium or the playwright package is missing, unless FRAUD_REQUIRE_BROWSER=1 (CI), where a
missing browser is a failure. CI: `apt-get install -y chromium` and `pip install playwright` (never a downloaded
browser: the test always launches /usr/bin/chromium)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest

from fraud.config import load_config
from fraud.report import render_report, report_data
from tests.report.fixtures import XSS_CITY, XSS_DEVICE, XSS_UA, make_result

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def _need_browser():
    missing = [] if CHROMIUM.exists() else [str(CHROMIUM)]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        msg = f"browser test needs {' and '.join(missing)} (apt-get install -y chromium; pip install playwright)"
        if os.environ.get("FRAUD_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(make_result(), load_config(), "decisions.csv"), encoding="utf-8")
    return path


@pytest.fixture
def page():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1100})
        pg.problems = []  # console errors, page errors, dialogs, requests that are not the file itself
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(f"console: {m.text}"))
        pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
        pg.on("dialog", lambda d: (pg.problems.append(f"dialog: {d.message}"), d.dismiss()))
        pg.on("request", lambda r: r.url.startswith("file://") or pg.problems.append(f"request: {r.url}"))
        yield pg
        browser.close()


def _rows(page) -> list[str]:
    return page.locator("#queue-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.user)")


def test_report_in_chromium(page, report_file, tmp_path):
    t0 = time.perf_counter()
    page.goto(report_file.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    load_s = time.perf_counter() - t0
    assert load_s < 10, f"report took {load_s:.1f} s to open"

    # overview: key figures, charts drawn by plotly, the tier migration matrix
    assert page.locator("#kpis .kpi").count() >= 6
    for plot in ("#plot-rules", "#plot-shift", "#plot-timings"):
        assert page.locator(f"{plot} .main-svg").count() >= 1, plot
    # no chart offers to share itself with plotly's cloud (it would post the chart's data, a case map's positions
    # and home among them, to cloud.plotly.com): the toolbar keeps only zoom, pan, reset and the PNG download
    assert page.locator(".modebar-btn").count() >= 3
    titles = page.locator(".modebar-btn").evaluate_all("bs => bs.map(b => b.dataset.title || '')")
    assert not [t for t in titles if "Share" in t or "Studio" in t or "cloud" in t.lower()], titles
    assert page.locator("#migration tbody tr").count() == 5
    assert page.locator("#ip-findings").is_visible()

    # queue: ranked, filterable by rule, severity, tier and text, sortable
    n_all = len(_rows(page))
    assert n_all == 33 and _rows(page)[0] == "user029"
    page.select_option("#f-rule", "geo.impossible_travel")
    assert _rows(page) == ["u_travel"]
    page.select_option("#f-rule", "")
    page.select_option("#f-sev", "critical")
    crit = _rows(page)
    assert "u_xss" in crit and "u_travel" not in crit and 0 < len(crit) < n_all
    page.select_option("#f-sev", "")
    page.select_option("#f-tier", "excellent")
    assert _rows(page) == ["u_travel"]
    page.select_option("#f-tier", "")
    page.fill("#f-text", "dev-travel-2")  # text search reaches into the case cards (devices, IPs, summaries)
    assert _rows(page) == ["u_travel"]
    page.fill("#f-text", "user01")
    assert all(u.startswith("user01") for u in _rows(page)) and _rows(page)
    page.fill("#f-text", "")
    assert page.locator("#f-count").inner_text().startswith(f"{n_all} of {n_all}")
    page.click("#queue-table th[data-k='u']")
    users = _rows(page)
    assert users == sorted(users)
    page.click("#queue-table th[data-k='u']")
    assert _rows(page) == sorted(users, reverse=True)

    # a case card: findings with review commands, map with home/work/ellipse/jump, timeline, devices
    page.click("#queue-table tr[data-user='u_travel']")
    card = page.locator("#case")
    assert card.locator(".finding").count() == 3
    assert "fraud review f-travel-1 --dismiss --decisions decisions.csv" in card.inner_text()
    page.wait_for_selector("#case-map .main-svg")
    page.wait_for_selector("#case-timeline .main-svg")
    names = page.evaluate("document.getElementById('case-map').data.map(t => t.name)")
    assert {"positions", "home", "work", "impossible travel"} <= set(names)
    assert any(n.startswith("commute ellipse") for n in names)
    assert page.locator("#case-devices tbody tr").count() == 2
    page.screenshot(path=str(tmp_path / "case-u_travel.png"))
    rows = _rows(page)
    page.keyboard.press("j")  # next case of the (sorted, filtered) queue
    assert page.locator("#case .uid").inner_text() == rows[rows.index("u_travel") + 1]
    page.keyboard.press("k")
    assert page.locator("#case .uid").inner_text() == "u_travel"

    # hostile strings from the logs render as text and run nothing
    page.click("#queue-table tr[data-user='u_xss']")
    page.wait_for_selector("#case-timeline .main-svg")
    events = page.locator("#case-events").inner_text()
    assert XSS_UA in events and XSS_DEVICE in events and XSS_CITY in events
    assert XSS_UA in page.locator("#case .finding").first.inner_text()
    assert page.evaluate("window.__xss") is None
    assert page.locator("#case img, #case script").count() == 0
    assert page.locator("script").count() == 3
    legend = page.locator("#case-timeline .legendtext").evaluate_all("ts => ts.map(t => t.textContent)")
    assert any(t.startswith("<img src=x") for t in legend)  # chart labels are text as well
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert page.problems == []


def test_case_beyond_top_n_points_to_fraud_show(page, tmp_path):
    cfg = load_config()
    res = make_result(cfg)
    path = tmp_path / "report.html"
    path.write_text(render_report(res, cfg, data=report_data(res, cfg, top_n=3)), encoding="utf-8")
    page.goto(path.as_uri() + "#case=u_travel")  # ranked below the top 3
    page.wait_for_selector("#case .uid")
    text = page.locator("#case").inner_text()
    assert "top 3 cases" in text and "fraud show u_travel --out DIR" in text  # no scan folder given here
    assert page.locator("#case-map").count() == 0 and page.problems == []
    page.fill("#f-text", "dev-travel-2")  # a device of a finding is found beyond the case cards too
    assert _rows(page) == ["u_travel"]


def test_case_link_opens_the_case_card(page, report_file):
    page.goto(report_file.as_uri() + "#case=u_xss")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector("#case .uid")
    assert page.locator("#case .uid").inner_text() == "u_xss"
    assert page.locator("#queue-table tr.selected").get_attribute("data-user") == "u_xss"
    page.goto(report_file.as_uri() + "#case=%3Cscript%3E")  # unknown user: said so, never another user's card
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector("#case .uid")
    assert page.locator("#case .uid").inner_text() == "<script>"
    assert "not in this report's queue" in page.locator("#case").inner_text()
    assert page.locator("#queue-table tr.selected").count() == 0
    assert page.problems == []


def test_sorting_keeps_rank_order_among_ties(page, report_file):
    """Sorting by the worst severity (descending) keeps equal severities in rank order: the riskiest first."""
    page.goto(report_file.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.click("#queue-table th[data-k='w']")
    rows = page.locator("#queue-table tbody tr").evaluate_all(
        "rs => rs.map(r => [r.children[6].innerText, Number(r.children[0].innerText)])")
    assert len(rows) > 5 and len({sev for sev, _ in rows}) > 1
    for (sev_a, rank_a), (sev_b, rank_b) in zip(rows, rows[1:]):
        assert sev_a != sev_b or rank_a < rank_b, rows
    assert page.problems == []


def test_bidi_controls_in_ids_are_shown(page, tmp_path):
    import polars as pl

    cfg = load_config()
    res = make_result(cfg)
    ids = {"u_travel": "u_‮travel", "u_bot": "u_\u200bbot\ufeff"}
    res.findings = res.findings.with_columns(pl.col("user_id").replace(ids))
    res.scores = res.scores.with_columns(pl.col("user_id").replace(ids))
    path = tmp_path / "report.html"
    path.write_text(render_report(res, cfg, "decisions.csv"), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    cells = page.locator("#queue-table td.user").evaluate_all("cs => cs.map(c => c.innerText)")
    assert any(c.startswith("u_⟨U+202E⟩travel") for c in cells)
    assert any(c.startswith("u_⟨U+200B⟩bot⟨U+FEFF⟩") for c in cells)  # zero-width characters and a BOM too


def test_tier_migration_stays_inside_its_card_on_a_laptop_screen(page, report_file):
    page.set_viewport_size({"width": 1024, "height": 900})
    page.goto(report_file.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    # the card holds its table (a wider table scrolls inside it instead of running past the card's edge)
    assert page.eval_on_selector("#migration", "e => e.scrollWidth <= e.clientWidth")
    assert page.problems == []


def test_a_decided_finding_shows_who_decided_it_when_and_why(page, tmp_path):
    from datetime import datetime, timezone

    dec = pl.DataFrame({"finding_id": ["f-travel-1"], "decision": ["dismiss"],
                        "decided_at": [datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)],
                        "reviewer": [XSS_DEVICE], "note": ["known traveller <b>"]})
    path = tmp_path / "report.html"
    path.write_text(render_report(make_result(decisions=dec), load_config(), "decisions.csv"), encoding="utf-8")
    page.goto(path.as_uri() + "#case=u_travel")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    card = page.locator("#case .finding[data-finding='f-travel-1']")
    assert card.locator(".trail").inner_text() == f"dismissed by {XSS_DEVICE} on 2024-05-02: known traveller <b>"
    assert page.evaluate("window.__xss") is None and page.problems == []


def test_a_decision_before_the_findings_last_evidence_says_it_was_seen_again(page, tmp_path):
    from datetime import datetime, timezone

    dec = pl.DataFrame({"finding_id": ["f-travel-1"], "decision": ["confirm"],
                        "decided_at": [datetime(2024, 3, 11, 10, 20, tzinfo=timezone.utc)], "reviewer": ["ana"],
                        "note": [None]}, schema_overrides={"note": pl.String})
    path = tmp_path / "report.html"
    path.write_text(render_report(make_result(decisions=dec), load_config(), "decisions.csv"), encoding="utf-8")
    page.goto(path.as_uri() + "#case=u_travel")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    card = page.locator("#case .finding[data-finding='f-travel-1']")
    assert card.locator(".trail").inner_text() == "confirmed by ana on 2024-03-11; seen again since, last 2024-03-14"
    assert page.problems == []
