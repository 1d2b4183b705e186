"""Case data for the review report and ``fraud show``: the ranked queue and one record per user.

Everything here is vectorised Polars: the top-N users are picked once, then each input is filtered to them,
limited and grouped per user, and turned into Python objects with a single ``to_dicts`` per frame.
"""
from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from fraud.context import ScanContext
from fraud.schema import SEVERITY_ORDER

SEV_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
ISO = "%Y-%m-%dT%H:%M:%SZ"
# Per case: events and positions kept within this many days of a finding, at most these many of each.
WINDOW_DAYS = 3
MAX_EVENTS = 200
MAX_POSITIONS = 200
MAX_DEVICES = 25
# Per case and rule, the findings the report embeds (every counted one besides): an account whose events jump
# between cities all day has a flagged pair per event, 185k of them in one skewed benchmark (a 35 MB report).
MAX_FINDINGS_PER_RULE = 200
UA_CHARS = 400  # a user agent is cut to this many characters in the report


def _cut_agent(e: pl.Expr) -> pl.Expr:
    """A user agent cut to ``UA_CHARS``, with "…" when it was longer (the reader sees it is not all)."""
    return pl.when(e.str.len_chars() > UA_CHARS).then(e.str.slice(0, UA_CHARS) + "…").otherwise(e)
EVENT_COLUMNS = ["ts", "event", "success", "device_id", "ip", "ua", "city", "country", "lat", "lon", "amount"]
POSITION_COLUMNS = ["ts", "lat", "lon", "accuracy_m", "source"]
EMPTY = {"events": {**{c: [] for c in EVENT_COLUMNS}, "uas": []}, "positions": {c: [] for c in POSITION_COLUMNS},
         "devices": []}


def _iso(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).dt.convert_time_zone("UTC").dt.strftime(ISO).alias(c) for c in cols]


def _sev() -> pl.Expr:
    return pl.col("severity").replace_strict(SEV_RANK, default=0, return_dtype=pl.Int8).alias("_sev")


def _open_sev(findings: pl.DataFrame) -> pl.Expr:
    """A finding's severity rank, null once it is dismissed: a cleared finding no longer makes its case severe."""
    if "decision" not in findings.columns:
        return _sev()
    return pl.when(pl.col("decision").fill_null("") != "dismiss").then(_sev()).alias("_sev")


def ranked_users(findings: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """The scores rows of users with findings, ranked by penalty (most negative first), then worst severity of
    the findings not dismissed (``worst``, a rank in SEVERITY_ORDER; null when every one is dismissed: a reviewed
    case), then user id."""
    per = (findings.filter(pl.col("user_id").is_not_null()).select("user_id", _open_sev(findings))
           .group_by("user_id").agg(pl.col("_sev").max().alias("worst")))
    return (scores.join(per, on="user_id", how="inner")
            .sort(["penalty", "worst", "user_id"], descending=[False, True, False], nulls_last=True))


def with_rule_lists(findings: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
    """``ranked`` plus ``worst_severity``, ``rules`` (sorted unique rule ids) and ``severities`` (sorted unique
    severity ranks of the findings not dismissed) of each user's findings."""
    lists = (findings.join(ranked.select("user_id"), on="user_id", how="semi")
             .select("user_id", "rule", _open_sev(findings))
             .group_by("user_id").agg(pl.col("rule").unique().sort().alias("rules"),
                                      pl.col("_sev").drop_nulls().unique().sort().alias("severities")))
    inv = {v: k for k, v in SEV_RANK.items()}
    return (ranked.join(lists, on="user_id", how="left", maintain_order="left")
            .with_columns(pl.col("worst").replace_strict(inv, return_dtype=pl.String).alias("worst_severity")))


def case_queue(findings: pl.DataFrame, scores: pl.DataFrame, limit: int | None = None) -> pl.DataFrame:
    """Users with findings, ranked by penalty (most negative first), then worst severity, then user id (the
    first ``limit`` when given).

    Columns: the scores columns plus ``worst`` (severity rank), ``worst_severity``, ``rules`` (sorted unique
    rule ids) and ``severities`` (sorted unique severity ranks)."""
    ranked = ranked_users(findings, scores)
    return with_rule_lists(findings, ranked if limit is None else ranked.head(limit))


def status_tag(finding: dict[str, Any]) -> str:
    """`` (dismissed, not counted)``-style suffix for a finding record ('' when it counts and is undecided)."""
    state = []
    if finding.get("decision"):
        state.append(f"{finding['decision']}ed")
    if finding.get("counted") is False:
        state.append("not counted")
    return f" ({', '.join(state)})" if state else ""


def device_and_ip(finding: dict[str, Any], sep: str = "  ", show=str) -> str:
    """``device d1  ip 1.2.3.4`` for a finding record (the parts it has; '' for neither), values through ``show``."""
    return sep.join(f"{k.removesuffix('_id')} {show(finding[k])}" for k in ("device_id", "ip") if finding.get(k))


def seen_since_decision(finding: dict[str, Any]) -> bool:
    """Whether a decided finding's evidence runs past its decision (``last_ts`` after ``decided_at``, both ISO text
    in a case record): the emulator a reviewer dismissed was seen again, its finding (the same id: the rule's
    identity, :func:`fraud.findings.id_key`) still decided."""
    last, decided = finding.get("last_ts"), finding.get("decided_at")
    return bool(finding.get("decision") and last and decided and str(last) > str(decided))


def decision_trail(finding: dict[str, Any]) -> str:
    """Who decided a finding, when and why (``dismissed by ana on 2024-03-11: known traveller``), and whether its
    evidence was seen again since (``; seen again since, last 2024-05-09``); '' when undecided."""
    if not finding.get("decision"):
        return ""
    out = f"{finding['decision']}ed"
    if finding.get("reviewer"):
        out += f" by {finding['reviewer']}"
    if finding.get("decided_at"):
        out += f" on {str(finding['decided_at'])[:10]}"
    out += f": {finding['note']}" if finding.get("note") else ""
    return out + (f"; seen again since, last {str(finding['last_ts'])[:10]}" if seen_since_decision(finding) else "")


def cap_kept(case: dict[str, Any]) -> int:
    """The part of a case's penalty (points, negative) that no counted finding explains: what the cap on what
    dismissals give back kept (README, scoring); 0 when every point is traced. A case record holds every counted
    finding, so the sum is whole."""
    counted = sum(f["points"] for f in case.get("findings") or [] if f.get("counted") and f["points"] < 0)
    return min(0, case["penalty"] - counted)


def cap_note(case: dict[str, Any], share: float | None = None) -> str:
    """`` (-3 of it kept by the cap …)`` after a case's penalty when its ``cap_kept`` is not 0, else ''."""
    kept = case["cap_kept"]
    if not kept:
        return ""
    of = f": {round(100 * share)}% of the score before" if share is not None else ""
    return f" ({kept} of it kept by the cap on what dismissals give back{of})"


def review_commands(finding_id: str, decisions_path: str, scan_dir: str | None = None) -> dict[str, str]:
    """The exact ``fraud review`` command lines for one finding (with ``--out`` when the scan folder is known,
    so that ``fraud review`` checks the id against the scan's findings)."""
    dp = _shell_quote(decisions_path)
    out = f" --out {_shell_quote(scan_dir)}" if scan_dir else ""
    return {d: f"fraud review {_shell_quote(finding_id)} --{d} --decisions {dp}{out}" for d in ("confirm", "dismiss")}


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(str(s))


def _finding_records(findings: pl.DataFrame, users: pl.DataFrame, decisions_path: str,
                     scan_dir: str | None = None, per_rule: int | None = None
                     ) -> tuple[dict[str, list[dict]], dict[str, dict[str, int]]]:
    """Per user, the finding records in rank order (with ``per_rule``, the first that many of each rule plus
    every counted one), and per user the number of findings of each rule."""
    f = findings.join(users.select("user_id"), on="user_id", how="semi")
    keep = [c for c in ("finding_id", "user_id", "rule", "family", "severity", "points", "counted", "decision",
                        "decided_at", "reviewer", "note", "first_ts", "last_ts", "device_id", "ip", "summary",
                        "evidence") if c in f.columns]
    f = (f.select(keep).with_columns(_sev())
         .sort(["user_id", "points", "_sev", "first_ts", "rule"], descending=[False, False, True, False, False],
               nulls_last=True)
         .drop("_sev"))
    totals: dict[str, dict[str, int]] = {}
    for u, rule, n in f.group_by("user_id", "rule").len().sort("user_id", "rule").iter_rows():
        totals.setdefault(u, {})[rule] = n
    if per_rule is not None:
        counted = pl.col("counted").fill_null(False) if "counted" in f.columns else pl.lit(False)
        f = f.filter((pl.int_range(pl.len()).over("user_id", "rule") < per_rule) | counted)
    out: dict[str, list[dict]] = {}
    for r in _records(f, decisions_path, scan_dir):
        out.setdefault(r.pop("user_id"), []).append(r)
    return out, totals


def _records(f: pl.DataFrame, decisions_path: str, scan_dir: str | None) -> list[dict]:
    """Finding rows as the report and ``fraud show`` list them: ISO times, the evidence parsed into a dict, and the
    review commands."""
    rows = f.with_columns(_iso(*[c for c in ("first_ts", "last_ts", "decided_at") if c in f.columns])).to_dicts()
    for r in rows:
        try:
            ev = json.loads(r["evidence"]) if r.get("evidence") else {}
        except ValueError:
            ev = {"raw": r["evidence"]}
        r["evidence"] = ev if isinstance(ev, dict) else {"value": ev}
        r["review"] = review_commands(r["finding_id"], decisions_path, scan_dir)
    return rows


def _anchors(findings: pl.DataFrame, users: pl.DataFrame) -> pl.LazyFrame:
    """Per user, the instants the events are ranked by: first and last timestamp of each penalty finding (of
    every finding when the user has no penalty)."""
    f = findings.lazy().join(users.lazy().select("user_id"), on="user_id", how="semi")
    f = f.filter((pl.col("points") < 0) | ~(pl.col("points") < 0).any().over("user_id"))
    return (pl.concat([f.select("user_id", pl.col("first_ts").alias("_t")),
                       f.select("user_id", pl.col("last_ts").alias("_t"))])
            .drop_nulls().unique().sort("_t"))


def _near_findings(lf: pl.LazyFrame, anchors: pl.LazyFrame, limit: int, window_days: float) -> pl.LazyFrame:
    """Rows of ``lf`` (``user_id``, ``ts``) within ``window_days`` of one of their user's anchors, at most
    ``limit`` per user (the nearest); a user without anchors keeps the latest ``limit`` rows."""
    # every column as a tie-break: events of one user at one instant keep one order however the inputs are ordered
    order = ["ts", *[c for c in lf.collect_schema().names() if c not in ("ts", "user_id")]]
    lf = lf.filter(pl.col("ts").is_not_null()).sort(order, nulls_last=True)
    j = lf.join_asof(anchors, left_on="ts", right_on="_t", by="user_id", strategy="nearest",
                     check_sortedness=False)
    win = timedelta(days=window_days)
    has_anchor = pl.col("_t").is_not_null().any().over("user_id")
    dist = (pl.col("ts") - pl.col("_t")).abs()
    j = j.filter(~has_anchor | (dist <= win))
    key = pl.when(has_anchor).then(dist.dt.total_microseconds()).otherwise(
        (pl.col("ts").max().over("user_id") - pl.col("ts")).dt.total_microseconds())
    return (j.with_columns(key.rank("ordinal").over("user_id").alias("_r")).filter(pl.col("_r") <= limit)
            .drop("_t", "_r").sort(["user_id", *order], nulls_last=True))


def _columns(lf: pl.LazyFrame, cols: list[str], extra: list[pl.Expr] | None = None) -> dict[str, dict[str, list]]:
    """Per user, the rows of ``lf`` as columns (``{"ts": [...], "lat": [...]}``): compact in the report."""
    df = lf.group_by("user_id", maintain_order=True).agg(*[pl.col(c) for c in cols], *(extra or [])).collect()
    return {r.pop("user_id"): r for r in df.to_dicts()}


def _rows(lf: pl.LazyFrame, cols: list[str], name: str) -> dict[str, list[dict]]:
    df = lf.group_by("user_id", maintain_order=True).agg(pl.struct(cols).alias(name)).collect()
    return {r["user_id"]: r[name] for r in df.to_dicts()}


def _of(users: pl.DataFrame) -> pl.Expr:
    # A filter (not a semi join) so that a partitioned scan's Parquet working files are read for these users only.
    return pl.col("user_id").is_in(users["user_id"].implode())


def _events(ctx: ScanContext, users: pl.DataFrame, anchors: pl.LazyFrame, limit: int, window_days: float):
    lg = ctx.logins.filter(_of(users))
    lg = _near_findings(lg.select("user_id", "ts", "event", "success", "device_id", "ip", "user_agent", "city",
                                  "country", "lat", "lon", "amount"), anchors, limit, window_days)
    # user agents are long and repeat: each case lists its distinct ones once (``uas``), events point into it
    lg = lg.with_columns(*_iso("ts"), pl.col("lat", "lon").round(5), _cut_agent(pl.col("user_agent")))
    lg = lg.with_columns((pl.col("user_agent").rank("dense").over("user_id") - 1).cast(pl.Int32).alias("ua"))
    return _columns(lg, EVENT_COLUMNS, [pl.col("user_agent").drop_nulls().unique().sort().alias("uas")])


def _positions(ctx: ScanContext, users: pl.DataFrame, anchors: pl.LazyFrame, limit: int, window_days: float):
    pings = ctx.locations.filter(_of(users)).select(
        "user_id", "ts", "lat", "lon", pl.col("accuracy_m").cast(pl.Float64), pl.lit("ping").alias("source"))
    evs = ctx.logins.filter(_of(users) & pl.col("lat").is_not_null() & pl.col("lon").is_not_null()).select(
        "user_id", "ts", "lat", "lon", pl.lit(None, pl.Float64).alias("accuracy_m"),
        pl.col("event").fill_null("event").alias("source"))
    pos = _near_findings(pl.concat([pings, evs], how="vertical_relaxed"), anchors, limit, window_days)
    pos = pos.with_columns(*_iso("ts"), pl.col("lat", "lon").round(5), pl.col("accuracy_m").round(0))
    return _columns(pos, POSITION_COLUMNS)


# Snapshot columns that order a device's snapshots at one instant (the values shown are the latest's).
SNAPSHOT_ORDER = ("model", "os", "os_version", "device_lock", "is_emulator", "is_rooted", "has_hook", "user_id")


def _devices(ctx: ScanContext, users: pl.DataFrame, profiles: pl.DataFrame, limit: int):
    lg = ctx.logins.filter(_of(users) & pl.col("device_id").is_not_null())
    # Whatever the rows' order (a sliced scan reads its working files, a shuffled input): the latest agent in
    # time (ties: the last in text order), the latest snapshot values the same way, devices ordered to the id.
    seen_l = lg.group_by("user_id", "device_id").agg(
        pl.col("ts").min().alias("_fl"), pl.col("ts").max().alias("_ll"), pl.len().alias("events"),
        ((pl.col("event") == "login") & pl.col("success").fill_null(True)).sum().alias("sign_ins"),
        pl.col("ip").n_unique().alias("ips"),
        # nulls sort first, so the last non-null agent in (time, text) order is the latest
        _cut_agent(pl.col("user_agent").sort_by("ts", "user_agent").drop_nulls().last()).alias("user_agent"))
    dv = ctx.devices
    seen_d = dv.filter(_of(users)).select("user_id", "device_id").unique()
    pairs = pl.concat([seen_l.select("user_id", "device_id"), seen_d]).unique()
    ids = pairs.select("device_id").unique().collect()["device_id"]
    order = ["ts", *(c for c in SNAPSHOT_ORDER if c in dv.collect_schema().names())]
    snap = dv.filter(pl.col("device_id").is_in(ids.implode())).sort(order, nulls_last=True).group_by(
        "device_id").agg(
        pl.col("ts").min().alias("_fs"), pl.col("ts").max().alias("_ls"),
        pl.col("model").drop_nulls().last(), pl.col("os").drop_nulls().last(),
        pl.col("os_version").drop_nulls().last(),
        *[pl.col(c).fill_null(False).any().alias(c) for c in ("is_emulator", "is_rooted", "has_hook")],
        pl.col("device_lock").drop_nulls().last())
    accounts = (pl.concat([ctx.logins.filter(pl.col("device_id").is_in(ids.implode())).select("device_id", "user_id"),
                           dv.filter(pl.col("device_id").is_in(ids.implode())).select("device_id", "user_id")])
                .drop_nulls().group_by("device_id").agg(pl.col("user_id").n_unique().alias("accounts")))
    main = profiles.lazy().select("user_id", pl.col("main_device_id").alias("device_id"),
                                  pl.lit(True).alias("main")).drop_nulls("device_id")
    d = (pairs.join(seen_l, on=["user_id", "device_id"], how="left").join(snap, on="device_id", how="left")
         .join(accounts, on="device_id", how="left").join(main, on=["user_id", "device_id"], how="left")
         .with_columns(pl.min_horizontal("_fl", "_fs").alias("first_seen"), pl.max_horizontal("_ll", "_ls")
                       .alias("last_seen"), pl.col("main").fill_null(False),
                       pl.col("events", "sign_ins").fill_null(0))
         .sort(["user_id", "last_seen", "device_id"], descending=[False, True, False], nulls_last=True)
         .with_columns(pl.int_range(pl.len()).over("user_id").alias("_r"))
         .filter(pl.col("main") | (pl.col("_r") < limit))
         .sort(["user_id", "main", "last_seen", "device_id"], descending=[False, True, True, False], nulls_last=True)
         .with_columns(_iso("first_seen", "last_seen")))
    cols = ["device_id", "main", "model", "os", "os_version", "first_seen", "last_seen", "events", "sign_ins", "ips",
            "accounts", "is_emulator", "is_rooted", "has_hook", "device_lock", "user_agent"]
    return _rows(d, cols, "devices")


def case_data(findings: pl.DataFrame, scores: pl.DataFrame, profiles: pl.DataFrame, top_n: int,
              decisions_path: str = "decisions.csv", context: ScanContext | None = None, *,
              users: list[str] | None = None, queue: pl.DataFrame | None = None,
              window_days: float = WINDOW_DAYS, max_events: int = MAX_EVENTS, max_positions: int = MAX_POSITIONS,
              max_devices: int = MAX_DEVICES, scan_dir: str | None = None,
              max_findings_per_rule: int | None = None) -> list[dict[str, Any]]:
    """Full case records for the top ``top_n`` of the queue (or for the given ``users``, in that order).

    A record holds the score row, ``worst_severity``, ``rules``, ``profile``, ``findings`` (each with its parsed
    ``evidence`` and the ``review`` command lines) and, when the scan ``context`` is given, ``events`` and
    ``positions`` (near the findings, limited; as columns: ``{"ts": [...], "lat": [...], ...}``, events' user agents
    as indices ``ua`` into the case's list ``uas``) and the ``devices`` seen (a list of rows). ``queue``: the
    result of :func:`case_queue`, when already computed. ``max_findings_per_rule``: keep only the first that many
    findings of each rule (and every counted one); ``rule_totals`` counts them all per rule."""
    if users is None:
        q = (queue if queue is not None else case_queue(findings, scores, top_n)).head(top_n)
    else:
        q = with_rule_lists(findings, ranked_users(findings, scores.filter(pl.col("user_id").is_in(users))))
        order = pl.DataFrame({"user_id": users, "_o": range(len(users))}, schema={"user_id": pl.String,
                                                                                  "_o": pl.Int64})
        rest = scores.join(q.select("user_id"), on="user_id", how="anti").with_columns(
            pl.lit(None, pl.Int8).alias("worst"), pl.lit([], pl.List(pl.String)).alias("rules"),
            pl.lit([], pl.List(pl.Int8)).alias("severities"), pl.lit(None, pl.String).alias("worst_severity"))
        q = (pl.concat([q, rest.select(q.columns)]).join(order, on="user_id", how="inner").sort("_o").drop("_o"))
    top = q.select("user_id")
    by_user, totals = _finding_records(findings, top, decisions_path, scan_dir, max_findings_per_rule)
    prof = {r["user_id"]: r for r in profiles.join(top, on="user_id", how="semi").to_dicts()}
    extra: dict[str, dict[str, Any]] = {}
    if context is not None and top.height:
        anchors = _anchors(findings, top).collect().lazy()
        extra["events"] = _events(context, top, anchors, max_events, window_days)
        extra["positions"] = _positions(context, top, anchors, max_positions, window_days)
        extra["devices"] = _devices(context, top, profiles, max_devices)
    cases = []
    qd = q.drop("worst", "severities").with_columns(
        [pl.col(c).dt.strftime(ISO) for c, t in q.schema.items() if isinstance(t, pl.Datetime)])
    for row in qd.to_dicts():
        u = row["user_id"]
        row["findings"] = by_user.get(u, [])
        row["rule_totals"] = totals.get(u, {})
        row["cap_kept"] = cap_kept(row)  # read by fraud show, report.md and the HTML card alike
        p = prof.get(u, {})
        p.pop("user_id", None)
        row["profile"] = p
        for k, m in extra.items():
            row[k] = m.get(u) or copy.deepcopy(EMPTY[k])
        cases.append(row)
    return cases


def user_case(findings: pl.DataFrame, scores: pl.DataFrame, profiles: pl.DataFrame, user_id: str,
              decisions_path: str = "decisions.csv", context: ScanContext | None = None,
              scan_dir: str | None = None) -> dict[str, Any] | None:
    """One user's case record (the same dict as a report case card), or None when the user was not scanned."""
    out = case_data(findings, scores, profiles, 1, decisions_path, context, users=[user_id], scan_dir=scan_dir)
    return out[0] if out else None


def load_ip_findings(out: str | Path, ip: str, decisions_path: str = "decisions.csv") -> list[dict[str, Any]]:
    """The findings about an IP alone (``ip.spray``: no account) of a scan's output folder, oldest first, each with
    its parsed evidence and review commands (as the report's "Findings about IPs" lists them). An IPv6 address
    (in any written form) also finds its /64 network's findings."""
    from fraud.exprs import ip_address, ipv6_net64

    out = Path(out)
    forms = pl.DataFrame({"ip": [ip]}).select(ip_address(pl.col("ip")).alias("a")).with_columns(
        ipv6_net64(pl.col("a")).alias("n")).row(0)
    names = {ip, *(f for f in forms if f is not None)}
    f = (pl.read_parquet(out / "findings.parquet")
         .filter(pl.col("user_id").is_null() & pl.col("ip").is_in(sorted(names)))
         .sort("first_ts", "finding_id"))
    return _records(f, decisions_path, str(out.resolve()))


def load_user_case(out: str | Path, user_id: str, decisions_path: str = "decisions.csv") -> dict[str, Any] | None:
    """One user's case record read from a scan's output folder (findings, scores, profiles; no events)."""
    out = Path(out)
    findings = pl.read_parquet(out / "findings.parquet")
    scores = pl.read_parquet(out / "scores.parquet")
    pp = out / "profiles.parquet"
    profiles = pl.read_parquet(pp) if pp.exists() else pl.DataFrame(schema={"user_id": pl.String,
                                                                            "main_device_id": pl.String})
    return user_case(findings, scores, profiles, user_id, decisions_path, scan_dir=str(out.resolve()))
