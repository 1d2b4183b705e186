"""``report.md``: the overview and the top cases as Markdown, for tickets and terminals.

Log-derived text is escaped so that it renders as text in any Markdown viewer (no HTML, links or tables
broken by a ``|``), with control and invisible characters shown inert (:func:`fraud.inert.inert`: a terminal
that shows the file runs no escape sequence from the logs)."""
from __future__ import annotations

import re
from typing import Any

from fraud.inert import inert
from fraud.report.cases import cap_note, decision_trail, device_and_ip, status_tag

# Characters that could start markup anywhere in a line ('_' only where it can open or close emphasis: not inside a
# word, so rule ids such as device.lock_enabled stay readable in a terminal).
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
FINDINGS_PER_RULE = 3  # per case and rule, the rest is counted


def md(s: Any) -> str:
    """Text safe in a Markdown paragraph, list item or table cell (``<``, ``>`` and ``&`` as entities)."""
    if s is None:
        return ""
    t = inert(" ".join(str(s).split()))
    t = t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", t)


def code(s: str) -> str:
    """An inline code span that holds ``s`` verbatim, whatever backticks it contains."""
    s = inert(" ".join(str(s).split()))
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def _table(head: list[str], rows: list[list[Any]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def _pts(p: int | None) -> str:
    return "" if p is None else (f"+{p}" if p > 0 else str(p))


def render_markdown_data(data: dict[str, Any], top: int = 20) -> str:
    ov, meta = data["overview"], data["meta"]
    s = ov["summary"]
    lines = ["# fraud review report", "",
             f"Generated {meta['generated_at']} (config: {md(meta['config'])}). "
             f"{ov['users']:,} users scanned, {ov['findings']:,} findings, "
             f"{ov['users_flagged']:,} users with findings, "
             f"{ov['users_penalised']:,} penalised, {ov['tier_changed']:,} changed tier. "
             f"Mean score {ov['mean_before']} → {ov['mean_after']}.", "", "## Inputs", ""]
    lines += _table(["input", "rows read", "used", "rejected"],
                    [[md(k), *(f"{v.get(c, 0):,}" for c in ("rows_read", "rows_used", "rows_rejected"))]
                     for k, v in s.get("inputs", {}).items()], {1, 2, 3})
    br = ov["by_rule"]
    lines += ["## Findings per rule and severity", ""]
    lines += _table(["rule", *br["severities"], "total", "users", "points counted"],
                    [[md(r), *(c or "" for c in cnt), sum(cnt), br["users"][i], _pts(br["points"][i])]
                     for i, (r, cnt) in enumerate(zip(br["rules"], br["counts"]))],
                    set(range(1, len(br["severities"]) + 4)))
    mig = ov["migration"]
    lines += ["## Tier migration (rows: before, columns: after)", ""]
    lines += _table(["before \\ after", *mig["tiers"]],
                    [[t, *(f"{n:,}" for n in row)] for t, row in zip(mig["tiers"], mig["matrix"])],
                    set(range(1, len(mig["tiers"]) + 1)))
    sh = ov["shift"]
    lines += ["## Score shift", "",
              f"{sh['down']:,} users down, {sh['up']:,} up, {sh['unchanged']:,} unchanged; mean {sh['mean']:+}, "
              f"range {sh['min']:+} .. {sh['max']:+}.", ""]
    tm = s.get("timings_s", {})
    if tm:
        lines += ["## Time per stage (s)", ""]
        lines += _table(["stage", "seconds"], [[md(k), f"{v:.2f}"] for k, v in tm.items()], {1})
    ips = ov.get("ip_list") or []
    if ips:  # no account carries these (ip.spray): they are in no case below
        lines += [f"## Findings about IPs ({ov['ip_findings']:,}, no account penalised)", ""]
        for f in ips:
            accounts = f.get("accounts") or []
            named = ", ".join(md(a) for a in accounts[:10]) + (f" … ({len(accounts):,} in all)"
                                                                if len(accounts) > 10 else "")
            lines.append(f"- **{md(f['rule'])}** {f['severity']} {md(f['ip'])}{status_tag(f)}, "
                         f"{f.get('first_ts') or ''}: {md(f.get('summary'))}")
            if accounts:
                lines.append(f"  - accounts: {named}")
            if trail := decision_trail(f):
                lines.append(f"  - {md(trail)}")
            lines.append(f"  - dismiss: {code(f['review']['dismiss'])}")
            lines.append(f"  - confirm: {code(f['review']['confirm'])}")
        if ov["ip_findings"] > len(ips):
            lines.append(f"- … and {ov['ip_findings'] - len(ips):,} more (report.html, findings.csv)")
        lines.append("")
    cases = data["cases"][:top]
    lines += [f"## Top {len(cases)} cases (of {meta['queue_total']:,} users with findings)", ""]
    lines += _table(["#", "user", "score", "tier", "penalty", "bonus", "findings", "worst", "top rule"],
                    [[i + 1, md(c["user_id"]), f"{c['score_before']} → {c['score_after']}",
                      f"{c['tier_before']} → {c['tier_after']}", _pts(c["penalty"]), _pts(c["bonus"]),
                      c["n_findings"], c.get("worst_severity") or "reviewed", md(c.get("top_rule"))]
                     for i, c in enumerate(cases)], {0, 4, 5, 6})
    for i, c in enumerate(cases):
        p = c.get("profile") or {}
        lines += [f"### {i + 1}. {md(c['user_id'])}: {c['score_before']} → {c['score_after']} "
                  f"({c['tier_before']} → {c['tier_after']})", ""]
        where = []
        if p.get("home_city") or p.get("home_lat") is not None:
            where.append(f"home {md(p.get('home_city') or '')} {_ll(p.get('home_lat'), p.get('home_lon'))}".strip())
        if p.get("work_city") or p.get("work_lat") is not None:
            where.append(f"work {md(p.get('work_city') or '')} {_ll(p.get('work_lat'), p.get('work_lon'))}".strip())
        if p.get("main_device_id"):
            where.append(f"main device {md(p['main_device_id'])} ({p.get('main_device_days') or 0} days)")
        if where:
            lines += ["; ".join(where) + ".", ""]
        if c["cap_kept"]:
            lines += [f"Penalty {_pts(c['penalty'])}{cap_note(c, meta.get('dismiss_cap_share'))}.", ""]
        shown: dict[str, int] = {}
        for f in c["findings"]:
            shown[f["rule"]] = shown.get(f["rule"], 0) + 1
            if shown[f["rule"]] > FINDINGS_PER_RULE:
                continue
            tag = status_tag(f)
            lines.append(f"- **{md(f['rule'])}** {f['severity']} {_pts(f['points'])}{tag}, "
                         f"{f.get('first_ts') or ''}: {md(f.get('summary'))}")
            if where := device_and_ip(f, ", ", md):  # which device or IP, as the card and `fraud show` say
                lines.append(f"  - {where}")
            if trail := decision_trail(f):
                lines.append(f"  - {md(trail)}")
            lines.append(f"  - dismiss: {code(f['review']['dismiss'])}")
            lines.append(f"  - confirm: {code(f['review']['confirm'])}")
        totals = c.get("rule_totals") or {}
        for rule, n in shown.items():
            n = totals.get(rule, n)  # the report embeds only the first findings of a rule
            if n > FINDINGS_PER_RULE:
                lines.append(f"- … and {n - FINDINGS_PER_RULE} more {md(rule)} findings (report.html, `fraud show`)")
        lines.append("")
    rest = meta["queue_total"] - len(cases)
    if rest > 0:
        lines += [f"{rest:,} more users with findings: see report.html, scores.csv and `fraud show USER_ID`.", ""]
    return "\n".join(lines)


def _ll(lat: float | None, lon: float | None) -> str:
    return f"({lat:.4f}, {lon:.4f})" if lat is not None and lon is not None else ""
