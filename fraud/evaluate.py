"""Precision and recall per rule of a scan against a labels file (``user_id, rule`` and, for IP rules, ``ip``;
IP-rule labels without an ``ip`` judge whether the rule fired at all)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from fraud.config import rule_ids
from fraud.errors import InputError, first_line

IP_RULES = ("ip.spray",)


ANY_IP = "*"  # the subject of an IP-rule label that names no IP: the rule fired on some IP


def _subject(df: pl.DataFrame, any_ip_rules: frozenset[str] = frozenset()) -> pl.DataFrame:
    """(rule, subject): the user for account rules, the IP for IP rules (:data:`ANY_IP` for the IP rules in
    ``any_ip_rules``, whose labels name no IP)."""
    ip = pl.col("ip") if "ip" in df.columns else pl.lit(None, pl.String)
    subject = (pl.when(pl.col("rule").is_in(list(any_ip_rules))).then(pl.lit(ANY_IP))
               .when(pl.col("rule").is_in(IP_RULES)).then(ip).otherwise(pl.col("user_id")))
    return df.select(pl.col("rule"), subject.alias("subject")).filter(
        pl.col("subject").is_not_null() & (pl.col("subject") != "")).unique()


def load_labels(path: str | Path) -> pl.DataFrame:
    """The labels file: ``user_id, rule`` (and ``ip`` for IP rules), values trimmed. A rule id that is no rule of
    the contract is an error naming its row (a typo would read as a rule never flagged)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: labels file not found")
    try:
        df = pl.read_csv(p, infer_schema=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{p}: cannot read labels ({first_line(e)})") from None
    for c in ("user_id", "rule"):
        if c not in df.columns:
            raise InputError(f"{p}: missing required column {c!r}")
    df = df.with_columns(pl.col(c).str.strip_chars() for c in ("user_id", "rule", "ip") if c in df.columns)
    known = rule_ids()
    rows = df.with_row_index("_line", offset=1)  # the data row, header not counted (as rejected.csv numbers rows)
    empty = pl.col("rule").is_null() | (pl.col("rule") == "")
    bad = rows.filter(empty | ~pl.col("rule").is_in(known))
    if bad.height:
        what = "no rule" if bad["rule"][0] in (None, "") else f"unknown rule {bad['rule'][0]!r}"
        raise InputError(f"{p}: row {bad['_line'][0]}: {what} in column 'rule'")
    # an account rule's label names its user (an IP rule's may name an IP instead, or nothing: see evaluate)
    anon = rows.filter(~pl.col("rule").is_in(IP_RULES) & (pl.col("user_id").is_null() | (pl.col("user_id") == "")))
    if anon.height:
        raise InputError(f"{p}: row {anon['_line'][0]}: no user_id for the account rule {anon['rule'][0]!r}")
    return df


def load_findings(out: str | Path) -> pl.DataFrame:
    p = Path(out) / "findings.parquet"
    if not p.exists():
        raise InputError(f"{p}: no findings here (run `fraud scan --out {out}` first)")
    return pl.read_parquet(p)


def load_checks(out: str | Path) -> dict[str, dict[str, Any]]:
    """The scan's status per rule (``summary.json``'s ``checks``); empty when the folder has no summary. A scan
    written with ``--pseudonymize`` is refused: its findings name keyed tokens, the labels clear ids, and every rule
    read 0 precision and 0 recall."""
    p = Path(out) / "summary.json"
    try:
        summary = json.loads(p.read_text(encoding="utf-8"))
        checks = dict(summary.get("checks", {}))
    except (OSError, ValueError, AttributeError):
        return {}
    if summary.get("pseudonymized"):
        raise InputError(f"{out}: the scan was written with --pseudonymize: its findings name keyed tokens, the "
                         "labels clear ids (evaluate a scan of the same inputs without --pseudonymize)")
    return checks


def evaluate(findings: pl.DataFrame, labels: pl.DataFrame,
             checks: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per rule: true/false positives, false negatives, precision and recall (null when undefined); their micro
    average over the rules with at least one label, and the rules that have none (``rules_without_labels``).
    ``checks``: the scan's status per rule (:func:`load_checks`); a labelled rule the scan could not evaluate is
    marked with its reason (``not_evaluated``), listed in ``rules_not_evaluated`` and left out of the micro average:
    its labels are not the detector's misses (a recall of 0 said so)."""
    # An IP rule labelled without IPs (a labels file of the contract's two columns) is judged on whether it fired.
    ip = pl.col("ip") if "ip" in labels.columns else pl.lit(None, pl.String)
    any_ip = frozenset(labels.filter(pl.col("rule").is_in(IP_RULES) & (ip.is_null() | (ip == "")))["rule"])
    pred = _subject(findings, any_ip)
    truth = _subject(labels, any_ip)
    rules = sorted(set(pred["rule"]) | set(truth["rule"]))
    out: dict[str, Any] = {}
    for r in rules:
        p = set(pred.filter(pl.col("rule") == r)["subject"])
        t = set(truth.filter(pl.col("rule") == r)["subject"])
        tp, fp, fn = len(p & t), len(p - t), len(t - p)
        out[r] = {"labelled": len(t), "flagged": len(p), "tp": tp, "fp": fp, "fn": fn,
                  "precision": round(tp / (tp + fp), 4) if p else None,
                  "recall": round(tp / (tp + fn), 4) if t else None}
        st = (checks or {}).get(r, {})
        if st.get("status") in ("not evaluated", "disabled"):
            out[r]["not_evaluated"] = st.get("reason") or st["status"]
    # The micro average covers the rules the labels speak of: a labels file of fraud cases says nothing of a rule
    # it never names (the device-lock bonus's 77 "false positives" took an analyst's precision to 0.021).
    judged = {r: v for r, v in out.items() if v["labelled"] and "not_evaluated" not in v}
    tp = sum(v["tp"] for v in judged.values())
    fp = sum(v["fp"] for v in judged.values())
    fn = sum(v["fn"] for v in judged.values())
    return {"rules": out, "micro": {"tp": tp, "fp": fp, "fn": fn,
                                    "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                                    "recall": round(tp / (tp + fn), 4) if tp + fn else None},
            "rules_without_labels": sorted(r for r, v in out.items() if not v["labelled"]),
            "rules_not_evaluated": sorted(r for r, v in out.items() if v["labelled"] and "not_evaluated" in v)}
