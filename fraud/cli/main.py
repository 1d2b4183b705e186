"""The ``fraud`` command line: thin commands that parse options, call one library function and render.

Exit codes: 0 success, 2 a :class:`~fraud.errors.FraudError` (one line on stderr), 3 ``--fail-on`` tripped.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from fraud.config import SEVERITIES, load_config
from fraud.errors import FraudError, InputError
from fraud.inert import inert

def _bare_help(option):
    """The help flag without typer's ``<bool>`` placeholder (a flag takes no value; the others have none either)."""
    if option is not None:
        option.metavar = ""
    return option


class _Group(typer.core.TyperGroup):
    def get_help_option(self, ctx):
        return _bare_help(super().get_help_option(ctx))


class _Command(typer.core.TyperCommand):
    def get_help_option(self, ctx):
        return _bare_help(super().get_help_option(ctx))


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Device and fraud risk detection: scan login, device and location logs into findings and "
                       "credit scores.")


def _version(value: bool) -> None:
    if value:
        from fraud import __version__
        out_console.print(f"fraud {__version__}", highlight=False)  # the imported code's, installed or not
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", help="print the version and exit", metavar="",
                                                callback=_version, is_eager=True)] = False) -> None:
    pass


class _InertConsole(Console):
    """A console whose printed text shows control and invisible characters inert (:func:`fraud.inert.inert`):
    values from the logs (ids, user agents, event and place names) are printed in many lines. A line's own
    leading line breaks stay."""

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        def clean(o):
            if not isinstance(o, str):
                return o
            body = o.lstrip("\n")
            return o[:len(o) - len(body)] + inert(body)
        super().print(*(clean(o) for o in objects), **kwargs)


out_console = _InertConsole(soft_wrap=True)  # lines are never broken: commands and paths stay copyable
err_console = _InertConsole(stderr=True, soft_wrap=True)


def _count(n: int, word: str) -> str:
    """``1 finding`` / ``2,004 findings``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def fail(e: FraudError) -> typer.Exit:
    # one line: a file name with a line break in it is shown escaped
    err_console.print("error: " + str(e).replace("\n", "\\n"), markup=False, highlight=False)
    return typer.Exit(2)


def _input_options(**specs: str | None) -> dict[str, str | None]:
    """The input options as given, refusing an empty or blank value (``--devices ""``, an unset shell variable):
    read as a path it would name the current folder, so every supported file there would be read as that input."""
    for name, value in specs.items():
        if value is not None and not value.strip():
            raise InputError(f"--{name}: empty path")
    return specs


def _progress(show: bool | None = None):
    """Stage progress on stderr: a live line on a terminal (``show`` None or True); ``show=True`` without a terminal
    (a CI log, ``2> file``) prints one plain line per stage instead; ``show=False`` prints nothing."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    tty = err_console.is_terminal
    live = tty and show is not False
    prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                    transient=True, disable=not live)
    task = prog.add_task("starting")
    start = time.perf_counter()

    def stage(name: str) -> None:
        if live:
            prog.update(task, description=f"{name} …")
        elif show:
            print(f"fraud: {name} … ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return prog, stage


# A bare HTTP stack's agent (okhttp/4.12.0) on this share of the users is likely the operator's own app
OWN_APP_HINT_SHARE = 0.05


def _print_summary(summary: dict, out: Path) -> None:
    t = Table(title="scan summary", show_header=True)
    t.add_column("rule")
    t.add_column("findings", justify="right")
    for rule, n in sorted(summary["findings"]["by_rule"].items(), key=lambda kv: -kv[1]):
        t.add_row(rule, str(n))
    out_console.print(t)
    rows_read = summary["rows_read"]
    out_console.print(f"{_count(summary['users'], 'user')}, {_count(rows_read, 'row')} read, "
                      f"{summary['rows_rejected']:,} rejected, {_count(summary['findings']['total'], 'finding')} in "
                      f"{summary['timings_s'].get('total', 0):.1f}s"
                      + (f" ({summary['shards']} slices)" if summary.get("shards", 1) > 1 else ""),
                      highlight=False)
    if summary.get("pseudonymized"):  # said: a key typed wrong gives other tokens, which nothing else shows
        out_console.print("ids pseudonymised: user, device and network ids and finding ids are keyed tokens (the same "
                          "key gives the same tokens)", highlight=False)
    for kind, info in summary["inputs"].items():
        if info.get("rejection_reasons"):
            most = "; ".join(f"{r} ({n:,})" for r, n in list(info["rejection_reasons"].items())[:3])
            out_console.print(f"rejected {kind} rows, most often: {most} (every one in {out / 'rejected.csv'})",
                              highlight=False, markup=False)
    for kind, info in summary["inputs"].items():  # a file not in UTF-8: said once per file, never silent
        for f, e in (info.get("files_not_utf8") or {}).items():
            if e["encoding"] == "cp1252":
                line = "not UTF-8 (no UTF-8 multi-byte sequence in it): read as Windows-1252 (cp1252)"
            else:
                replaced = e.get("values_with_replacement_character") or {}
                cols = ", ".join(f"{c} {n:,}" for c, n in replaced.items())
                line = (f"holds bytes that are not UTF-8: read as U+FFFD in {_count(sum(replaced.values()), 'value')}"
                        + (f" ({cols})" if cols else "") + "; a user_id so is rejected; re-encode the file as UTF-8")
            out_console.print(f"{kind} file {f}: {line}", highlight=False, markup=False)
        for f, cols in (info.get("decimal_comma_columns") or {}).items():  # 12.000 read as twelve thousand: said
            out_console.print(f"{kind} file {f}: {', '.join(cols)} written with a decimal comma: read 1.234,56 as "
                              "1234.56 and 12.000 as 12000", highlight=False, markup=False)
    from fraud.columns import alias_hint

    for kind, info in summary["inputs"].items():  # an optional column under another name only: ignored, said so
        for canon, header in (info.get("optional_columns_under_other_names") or {}).items():
            hint = alias_hint(kind, canon, header)
            out_console.print(f"warning: no {canon} column in the {kind}, none read ({hint})", highlight=False,
                              markup=False)
    if summary.get("files_skipped"):
        out_console.print("not read (named like an input, not an input format: a backup?): "
                          + ", ".join(summary["files_skipped"]), highlight=False, markup=False)
    if summary.get("users_with_conflicting_scores"):
        out_console.print(f"{_count(summary['users_with_conflicting_scores'], 'user')} with several scores rows of "
                          "differing scores: the lowest is their score_before", highlight=False)
    if summary.get("users_without_events"):
        out_console.print(f"{_count(summary['users_without_events'], 'user')} only in the scores input (no logins, "
                          "devices or locations rows): no rule looked at them; their score passes through",
                          highlight=False)
    skipped = {k: v for k, v in summary["checks"].items() if v.get("status") == "not evaluated"}
    for k, v in skipped.items():
        out_console.print(f"not evaluated: {k} ({v.get('reason', '')})", highlight=False)
    _print_model_notes(summary["checks"].get("behavior.outlier", {}))
    bots = summary["checks"].get("device.bot_agent", {})
    for agent, n in sorted(bots.get("bare_app_stack_users", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= OWN_APP_HINT_SHARE * bots.get("users_with_successful_events", 0):
            out_console.print(f"device.bot_agent: {agent!r}, an HTTP stack's bare agent, is on {n:,} of "
                              f"{bots['users_with_successful_events']:,} users; if it is your own app's, list it in "
                              '[rules."device.bot_agent"] allowed_agents', highlight=False, markup=False)
    unread = summary["inputs"].get("logins", {}).get("event_kinds_no_rule_reads")
    if unread:
        shown = ", ".join(f"{k} ({n:,})" for k, n in list(unread.items())[:5])
        out_console.print(f"events no rule reads: {shown}{' ...' if len(unread) > 5 else ''} (see the README on "
                          "event names)", highlight=False, markup=False)
    dec = summary["inputs"].get("decisions", {})
    if dec.get("file_not_written_yet"):
        out_console.print(f"decisions: {dec['file_not_written_yet']} does not exist yet: no decisions applied "
                          "(fraud review writes it)", highlight=False, markup=False)
    if dec.get("findings_not_in_scan"):
        listed = [d["finding_id"] for d in dec.get("not_in_scan", [])[:3]]
        more = " ..." if dec["findings_not_in_scan"] > len(listed) else ""
        out_console.print(f"decisions not applied: {_count(dec['findings_not_in_scan'], 'decided finding')} not "
                          f"among this scan's findings ({', '.join(listed)}{more}; their evidence changed or left the "
                          "scan's period, or they come from another scan; listed in summary.json)", highlight=False)
    review = summary.get("review", {})
    if review.get("decisions_unread"):
        out_console.print(f"decisions not applied: {review['decisions']} holds reviews this scan did not read "
                          f"(add --decisions {review['decisions']})", highlight=False)
    out_console.print(f"report: {out / 'report.html'}", highlight=False)


ShardsOpt = Annotated[str, typer.Option(help="read in this many user/device/IP slices to bound memory; auto "
                                              "slices only inputs larger than --memory-gb")]
MemoryOpt = Annotated[float | None, typer.Option("--memory-gb", help="memory budget for --shards auto (default: 6, "
                                                                     "or 40% of RAM if less)", min=1.5)]
WorkDirOpt = Annotated[Path | None, typer.Option("--work-dir", help="folder for the slices' working files "
                                                                    "(default: the system temp folder)")]


@app.command(cls=_Command)
def scan(
    folder: Annotated[Path | None, typer.Argument(help="folder holding logins.*, devices.*, locations.*, scores.*, "
                                                       "decisions.*")] = None,
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("fraud-scan"),
    logins: Annotated[str | None, typer.Option(help="logins file, glob or folder")] = None,
    devices: Annotated[str | None, typer.Option(help="device snapshots file, glob or folder")] = None,
    locations: Annotated[str | None, typer.Option(help="location pings file, glob or folder")] = None,
    scores: Annotated[str | None, typer.Option(help="current scores file")] = None,
    decisions: Annotated[str | None, typer.Option(help="reviewer decisions file")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config overriding the default rules")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="exit 3 when a finding has this severity or "
                                                                 "above (info|low|medium|high|critical)")] = None,
    composite: Annotated[bool, typer.Option("--composite", help="recompute the score from the six dimension "
                                                                "sub-scores of the scores input", metavar="")] = False,
    model: Annotated[Path | None, typer.Option(help="behaviour model from `fraud fit` to score against (a pickle: "
                                                    "load only files you trust)")] = None,
    pseudonymize: Annotated[str | None, typer.Option(help="replace user, device and network ids in every output "
                                                          "with keyed HMAC-SHA256 tokens", envvar="FRAUD_PSEUDO_KEY",
                                                     show_envvar=True)] = None,
    shards: ShardsOpt = "auto",
    memory_gb: MemoryOpt = None,
    work_dir: WorkDirOpt = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="stage progress on stderr "
                                                  "(default: on a terminal only; --progress also writes one line "
                                                  "per stage to a log)", metavar="")] = None,
) -> None:
    """Scan inputs and write findings, scores, profiles, summary.json, rejected.csv and report.html."""
    from fraud.pipeline import ScanInputs
    from fraud.runner import load_model, scan_to

    try:
        if fail_on is not None and fail_on not in SEVERITIES:
            raise FraudError(f"--fail-on must be one of {', '.join(SEVERITIES)}, got {fail_on!r}")
        given = _input_options(logins=logins, devices=devices, locations=locations, scores=scores,
                               decisions=decisions)
        if pseudonymize is None and os.environ.get("FRAUD_PSEUDO_KEY") == "":
            # the option reads an empty variable as not given: a job whose secret did not arrive would write clear ids
            raise FraudError("FRAUD_PSEUDO_KEY is set but empty: give the key, or unset it to write clear ids")
        cfg = load_config(config)
        inputs = ScanInputs.from_folder(folder, **given) if folder is not None else ScanInputs(**given)
        behaviour_model = load_model(model, cfg)
        if model is not None and behaviour_model is None:
            out_console.print(f"behavior.outlier is disabled in the config: {model} not read", highlight=False,
                              markup=False)
        prog, cb = _progress(progress)
        with prog:
            res = scan_to(inputs, out, cfg, model=behaviour_model, progress=cb, pseudonymize=pseudonymize,
                          composite=composite, shards=shards, memory_gb=memory_gb, work_dir=work_dir)
    except FraudError as e:
        raise fail(e) from None
    _print_summary(res.summary, out)
    logins_read = res.summary["inputs"].get("logins", {})
    if logins_read.get("rows_used", 0) == 0:
        # nothing was scanned: no gate may pass on it (the outputs, rejected.csv first, are written to look at); an
        # empty or header-only logins file (a failed export job) scanned nothing either
        n = logins_read.get("rows_read", 0)
        raise fail(FraudError(f"no logins row could be used: all {n:,} were rejected (see {out / 'rejected.csv'})"
                              if n else "no logins row could be used: the logins input holds no rows (an empty or "
                                        "header-only file)"))
    if fail_on is not None:
        if not any(st.get("status") == "ok" for st in res.summary["checks"].values()):
            # a gate over no judgement at all (every optional column blank: 23 checks not evaluated) passes as the
            # contract's exit codes say (valid input, no finding), but never without a word on stderr
            err_console.print(f"warning: --fail-on {fail_on} passes on no judgement: no rule could look at these "
                              f"inputs (every check is not evaluated or disabled: see {out / 'summary.json'})",
                              highlight=False, markup=False)
        worst = SEVERITIES.index(fail_on)
        # a finding a reviewer dismissed no longer fails the gate
        hit = res.findings.filter(pl.col("severity").is_in(list(SEVERITIES[worst:]))
                                  & (pl.col("decision").fill_null("") != "dismiss")).height
        if hit:
            err_console.print(f"{_count(hit, 'finding')} at severity {fail_on} or above "
                              "(dismissed ones aside)", highlight=False)
            raise typer.Exit(3)


@app.command(cls=_Command)
def fit(
    folder: Annotated[Path | None, typer.Argument(help="folder holding logins.* and locations.* (the behaviour "
                                                       "features read only those)")]
    = None,
    model: Annotated[Path, typer.Option("--model", help="where to save the fitted model")] = Path("fraud-model.joblib"),
    logins: Annotated[str | None, typer.Option(help="logins file, glob or folder")] = None,
    locations: Annotated[str | None, typer.Option(help="location pings file, glob or folder")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config overriding the default rules")] = None,
    shards: ShardsOpt = "auto",
    memory_gb: MemoryOpt = None,
    work_dir: WorkDirOpt = None,
) -> None:
    """Fit the behaviour ensemble on history once; later scans score against it with --model."""
    from fraud.pipeline import ScanInputs
    from fraud.runner import fit_to

    try:
        given = _input_options(logins=logins, locations=locations)
        cfg = load_config(config)
        inputs = ScanInputs.from_folder(folder, **given) if folder is not None else ScanInputs(**given)
        info = fit_to(inputs, model, cfg, shards=shards, memory_gb=memory_gb, work_dir=work_dir)
    except FraudError as e:
        raise fail(e) from None
    # the features as the scan's summary counts them, and the missing-value indicators the model adds beside them
    n_ind = len(info["indicators"])
    out_console.print(f"fitted on {info['users']:,} users x {len(info['features'])} features"
                      + (f" (+{n_ind} missing-value indicators)" if n_ind else "")
                      + f"; threshold {info['threshold']:.4f}; saved {info['model']}", highlight=False)
    if info["fitted_on"]:
        out_console.print(f"history: {info['fitted_on']}; later batches are scored when their users span "
                          f"{info['batch_days'][0]}-{info['batch_days'][1]} days (median; max_span_ratio)",
                          highlight=False)
    if info["unobserved"]:
        out_console.print("left out (no value in the history): " + ", ".join(info["unobserved"]), highlight=False)
    for kind, n in info["rows_rejected"].items():
        if n:  # never dropped silently: a scan of the same inputs writes them to rejected.csv
            out_console.print(f"{kind}: {n:,} of {info['rows_read'][kind]:,} rows rejected, not fitted on (`fraud "
                              "scan` of the same inputs lists them in rejected.csv)", highlight=False)
    if not cfg.rule("behavior.outlier").enabled:
        out_console.print("note: behavior.outlier is disabled in this config: scans with it do not read the model",
                          highlight=False)


@app.command(cls=_Command)
def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for data/ and scan/")] = Path("fraud-demo"),
    users: Annotated[int, typer.Option(help="number of synthetic users (200 or more)", min=200)] = 2000,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
) -> None:
    """Generate a synthetic data set with injected anomalies, scan it and print where the report is."""
    from fraud.runner import run_demo

    try:
        prog, cb = _progress()
        with prog:
            base, res = run_demo(out, users=users, seed=seed, progress=cb)
    except FraudError as e:
        raise fail(e) from None
    _print_summary(res.summary, base / "scan")
    out_console.print(f"data and labels: {base / 'data'}  (try: fraud evaluate --labels {base / 'data' / 'labels.csv'} "
                      f"--out {base / 'scan'})", highlight=False)


@app.command(cls=_Command)
def rules(config: Annotated[Path | None, typer.Option(help="TOML config overriding the default rules")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table",
                                                metavar="")] = False) -> None:
    """Print the rules with their thresholds and points as configured."""
    try:
        cfg = load_config(config)
    except FraudError as e:
        raise fail(e) from None
    if as_json:
        out_console.print_json(json.dumps({r: v.as_dict() for r, v in cfg.rules.items()}))
        return
    from rich.text import Text

    t = Table(title=f"rules ({cfg.source})", show_lines=True)
    t.add_column("rule", no_wrap=True)
    for c in ("family", "severity", "points", "window (days)", "enabled"):
        t.add_column(c, no_wrap=True)
    t.add_column("thresholds", overflow="fold")  # one per line, folded rather than cut in a narrow terminal or a pipe
    for rid, r in cfg.rules.items():
        window = "month" if r.params.get("calendar_month_windows") else f"{r.window_days:g}"
        t.add_row(rid, r.family, r.severity, str(r.points), window, "yes" if r.enabled else "no",
                  Text("\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in r.params.items())))
    if out_console.is_terminal:
        out_console.print(t)
    else:  # a pipe or a file is 80 columns to Rich: give the table room instead of cutting every cell
        Console(width=160, no_color=True).print(t)
    out_console.print(f"timezone={cfg.timezone}  default_score={cfg.default_score}  tiers="
                      + ", ".join(f"{n} {lo}-{hi}" for n, lo, hi in cfg.tier_bands()), highlight=False)


@app.command(cls=_Command)
def review(
    finding_ids: Annotated[list[str] | None, typer.Argument(help="the finding id(s)", show_default=False)] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="keep the finding's points", metavar="")] = False,
    dismiss: Annotated[bool, typer.Option("--dismiss", help="the finding counts no points", metavar="")] = False,
    note: Annotated[str, typer.Option(help="free-text note")] = "",
    reviewer: Annotated[str, typer.Option(help="reviewer name")] = "",
    decisions: Annotated[Path | None, typer.Option(help="decisions file to append to (default: the one the scan in "
                                                        "--out reads, else decisions.csv here)",
                                                   show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="scan folder whose findings the id must be in")] = None,
    user: Annotated[str | None, typer.Option(help="decide on every penalty finding of this user in --out (instead "
                                                  "of ids; with --rule: every finding of that rule)")] = None,
    rule: Annotated[str | None, typer.Option(help="with --user: only that user's findings of this rule")] = None,
    force: Annotated[bool, typer.Option("--force/--no-force", help="record an id that is not in the scan's findings "
                                        "(or, without --out, one without a finding id's shape)", metavar="")] = False,
) -> None:
    """Record a reviewer's decision on findings (appended to the decisions file).

    Given ids, or every finding of one user (--user, optionally one --rule) in the scan folder --out."""
    from fraud.decisions import append_decisions, findings_of, next_scan_reads, scan_decisions_file
    from fraud.evaluate import load_findings
    from fraud.findings import FINDING_ID

    try:
        if confirm == dismiss:
            raise FraudError("give exactly one of --confirm or --dismiss")
        if bool(finding_ids) == (user is not None):
            raise FraudError("give finding ids or --user (with --out), not both and not neither")
        if rule is not None and user is None:
            raise FraudError("--rule needs --user")
        if user is not None and out is None:
            raise FraudError("--user needs --out (the scan folder holding that user's findings)")
        found = load_findings(out) if out is not None else None
        ids = findings_of(found, user, rule) if user is not None else list(finding_ids or [])
        # without --out nothing checks the ids against a scan: one at least has a finding id's shape
        # (`--dismiss true` recorded a decision on a finding called "true")
        shapeless = [f for f in ids if found is None and not FINDING_ID.fullmatch(f)]
        if shapeless and not force:
            raise FraudError(f"{shapeless[0]!r} is no finding id (20 hex digits, as findings.csv lists them; "
                             "--confirm and --dismiss take no value); give --out to check the ids against a scan, "
                             "or --force to record it anyway")
        # where the scan's own review commands write: the file the next scan of the same inputs reads
        read_by_scan = scan_decisions_file(out) if out is not None else None
        decisions = decisions or Path(read_by_scan or "decisions.csv")
        rows = append_decisions(decisions, ids, "confirm" if confirm else "dismiss", note=note, reviewer=reviewer,
                                known_ids=set(found["finding_id"]) if found is not None else None, force=force)
    except FraudError as e:
        raise fail(e) from None
    what = rows[0]["finding_id"] if len(rows) == 1 else f"{len(rows):,} findings"
    out_console.print(f"recorded: {rows[0]['decision']} {what} at {rows[0]['decided_at']} in {decisions}",
                      highlight=False, markup=False)
    if read_by_scan and Path(decisions).resolve() != Path(read_by_scan).resolve():
        err_console.print(f"note: the scan in {out} takes its decisions from {read_by_scan}; the next scan reads "
                          f"{decisions} only when given --decisions {decisions}", highlight=False, markup=False)
    elif read_by_scan and not next_scan_reads(out):
        err_console.print(f"note: the scan in {out} was given its input files one by one: run it again with "
                          f"--decisions {decisions} for this decision to count", highlight=False, markup=False)


def _print_model_notes(notes: dict) -> None:
    """What a scan against a fitted model says of its batch (:func:`fraud.detectors.outlier.comparable`)."""
    def say(text: str) -> None:
        out_console.print(f"behavior.outlier: {text}", highlight=False, markup=False)

    if notes.get("model_fitted_on"):
        say(f"scored against the model fitted on {notes['model_fitted_on']}, {notes['model_fit_users']:,} users")
    if notes.get("model_features_without_values_in_batch"):
        say("the model's features " + ", ".join(notes["model_features_without_values_in_batch"]) + " have no value in "
            "this batch: every user was given the fit median")
    if notes.get("batch_features_not_in_model"):
        say("features the model was fitted without (no value in its history), not scored: "
            + ", ".join(notes["batch_features_not_in_model"]))
    for key, v in notes.get("feature_settings_differ_from_model", {}).items():
        say(f"{key} is {v['scan']!r} in this scan, {v['model']!r} in the model's fit: the features differ")
    for key, v in notes.get("settings_taken_from_model", {}).items():
        say(f"{key} {v['model']!r} is the model's (fitted with it); this config's {v['scan']!r} applies to fits")


def _print_finding(f: dict) -> None:
    """One finding as ``fraud show`` lists it: rule, severity, points, status, span and id; summary; evidence; the
    review commands (one line each, never wrapped: pasted as they are)."""
    from rich.markup import escape

    from fraud.report.cases import decision_trail, device_and_ip, status_tag

    tag = status_tag(f)
    out_console.print(f"\n[bold]{escape(f['rule'])}[/bold]  {f['severity']}  {f['points']:+d} points"
                      f"{escape(tag)}  {f['first_ts']} .. {f['last_ts']}  id {escape(f['finding_id'])}",
                      highlight=False)
    out_console.print(f"  {f['summary']}", markup=False, highlight=False)
    for line in (device_and_ip(f), decision_trail(f)):  # which device or IP; who decided it, when and why
        if line:
            out_console.print(f"  {line}", markup=False, highlight=False)
    for k, v in (f.get("evidence") or {}).items():
        out_console.print(f"    {k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}",
                          markup=False, highlight=False)
    for d in ("confirm", "dismiss"):
        out_console.print(f"  {d}: {f['review'][d]}", markup=False, highlight=False)


@app.command(cls=_Command)
def show(user_id: Annotated[str, typer.Argument(help="the user's id (or an IP: its findings about the IP alone)")],
         out: Annotated[Path, typer.Option("--out", help="scan output folder")] = Path("fraud-scan"),
         decisions: Annotated[str | None, typer.Option(help="decisions file named in the review commands (default: "
                                                            "the one the scan's report names)")] = None,
         limit: Annotated[int, typer.Option(min=0, help="findings shown per rule (0: all)")] = 20,
         ) -> None:
    """One user's score change, profile and findings with evidence: the report's case card, in the terminal.

    For an IP that is no user, the findings about the IP alone (ip.spray)."""
    from rich.markup import escape

    from fraud.decisions import scan_decisions_file
    from fraud.evaluate import load_findings
    from fraud.report import load_user_case
    from fraud.report.cases import cap_note, load_ip_findings

    try:
        load_findings(out)  # a clear error when the folder holds no scan
        if decisions is None:
            decisions = scan_decisions_file(out) or "decisions.csv"
        case = load_user_case(out, user_id, decisions)
        about_ip = load_ip_findings(out, user_id, decisions) if case is None else []
    except (FraudError, ValueError, OSError) as e:
        raise fail(e if isinstance(e, FraudError) else FraudError(f"{out}: {e}")) from None
    if case is None and about_ip:
        out_console.print(f"[bold]IP {escape(user_id)}[/bold]: {_count(len(about_ip), 'finding')} about the IP alone "
                          "(no account is penalised)", highlight=False)
        for f in about_ip:
            _print_finding(f)
        return
    if case is None:
        raise fail(FraudError(f"user {user_id!r} not found in {out / 'scores.parquet'}"))
    observed = f"; under observation until {case['observation_until']}" if case.get("observation_until") else ""
    out_console.print(f"[bold]{escape(user_id)}[/bold]: {case['score_before']} ({case['tier_before']}) -> "
                      f"{case['score_after']} ({case['tier_after']}); penalty {case['penalty']}{cap_note(case)}, bonus "
                      f"+{case['bonus']}, top rule {case['top_rule'] or '-'}{observed}", highlight=False)
    p = case.get("profile") or {}
    place = lambda k: p.get(f"{k}_city") or ("unknown" if p.get(f"{k}_lat") is None  # noqa: E731
                                              else f"{p[f'{k}_lat']:.4f}, {p[f'{k}_lon']:.4f}")
    out_console.print(f"home {place('home')}; work {place('work')}; time zone {p.get('timezone') or '-'}; main device "
                      f"{p.get('main_device_id') or '-'} ({p.get('main_device_days') or 0} days)", highlight=False,
                      markup=False)
    n = len(case["findings"])
    out_console.print(_count(n, "finding"), highlight=False)
    # per rule, the first `limit` findings and every counted one (the points of the score stay traceable)
    seen: dict[str, int] = {}
    hidden: dict[str, int] = {}
    for f in case["findings"]:
        seen[f["rule"]] = seen.get(f["rule"], 0) + 1
        if limit and seen[f["rule"]] > limit and not f.get("counted"):
            hidden[f["rule"]] = hidden.get(f["rule"], 0) + 1
            continue
        _print_finding(f)
    if hidden:
        out_console.print("\n" + "; ".join(_count(k, f"more {r} finding") for r, k in hidden.items())
                          + f" not shown (--limit {limit}; --limit 0 shows all)", markup=False, highlight=False)


@app.command(cls=_Command)
def evaluate(labels: Annotated[Path, typer.Option(help="labels CSV (user_id, rule[, ip])")],
             out: Annotated[Path, typer.Option("--out", help="scan output folder")] = Path("fraud-scan")) -> None:
    """Precision and recall per rule of the scan in --out against a labels file; writes eval.json."""
    from fraud.evaluate import evaluate as run_eval
    from fraud.evaluate import load_checks, load_findings, load_labels
    from fraud.outputs import write_json

    try:
        res = run_eval(load_findings(out), load_labels(labels), load_checks(out))
    except FraudError as e:
        raise fail(e) from None
    write_json(out / "eval.json", res)
    t = Table(title="precision and recall per rule")
    for c in ("rule", "labelled", "flagged", "TP", "FP", "FN", "precision", "recall"):
        t.add_column(c, justify="right" if c != "rule" else "left")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for rule, v in res["rules"].items():
        t.add_row(rule, str(v["labelled"]), str(v["flagged"]), str(v["tp"]), str(v["fp"]), str(v["fn"]),
                  fmt(v["precision"]), fmt(v["recall"]))
    m = res["micro"]
    t.add_row("all labelled rules (micro)", "", "", str(m["tp"]), str(m["fp"]), str(m["fn"]), fmt(m["precision"]),
              fmt(m["recall"]))
    # a pipe or a file is 80 columns to Rich: rule ids would be cut (two of them alike)
    (out_console if out_console.is_terminal else Console(width=160, no_color=True)).print(t)
    if res["rules_without_labels"]:
        out_console.print(f"not in the micro average (no label names them): {', '.join(res['rules_without_labels'])}",
                          highlight=False)
    for rule in res["rules_not_evaluated"]:  # its labels are no misses of the rule: the scan could not look
        out_console.print(f"not in the micro average (the scan did not evaluate it): {rule}: "
                          f"{res['rules'][rule]['not_evaluated']}", highlight=False)
    out_console.print(f"written: {out / 'eval.json'}", highlight=False)


def main() -> None:
    """The ``fraud`` command: the Typer app, with a wrong option or argument said in one line on stderr (exit 2)
    instead of a boxed usage panel, like every other error."""
    try:
        code = app(standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - Click's usage errors (Typer vendors Click: matched by shape, not class)
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # `fraud` alone prints the help
            e.show()
        else:
            ctx = getattr(e, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            print(f"error: {e.format_message()}{hint}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run() -> None:
    """The installed ``fraud`` command and ``python -m fraud``: :func:`main`, then the process ends without the
    interpreter's teardown. Outputs are written and closed by then; what is left is freeing every table the scan
    held, object by object (about 1 s after a 1M-event scan, as long as writing all its outputs). Exit handlers
    still run (a sliced scan's working folder is removed on its own before that), and standard output and error
    are flushed; a flush that fails (``fraud show | head``) takes the interpreter's usual way out.

    SIGTERM (what ``timeout``, systemd and Kubernetes send) ends the command as Ctrl-C does, through its cleanup:
    working folders and staged outputs are removed, the previous outputs stay; exit status 143."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, exit status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
