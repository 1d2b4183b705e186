"""Library entry points behind the CLI commands: scan-and-write, and the demo."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


from fraud.config import Config, load_config
from fraud.errors import FraudError, InputError
from fraud.inputs import resolve_specs, skipped_files
from fraud.outputs import prepare_out, staged_output, write_csv, write_json, write_table, write_text
from fraud.privacy import ID_COLUMNS, NOTE_WITHHELD, Pseudonymizer
from fraud.pipeline import INPUT_KINDS, Progress, ScanInputs, ScanResult, Timer, scan
from fraud.report import render_markdown, render_report, report_data

# Every file a scan writes into its output folder (see _write_all).
OUTPUT_FILES = ("findings.parquet", "findings.csv", "scores.parquet", "scores.csv", "profiles.parquet",
                "profiles.csv", "rejected.csv", "report.html", "report.md", "summary.json")


def _same_file(a: Path, b: Path) -> bool:
    """Whether writing ``b`` replaces the file ``a``: the same resolved path (a link to it included), or on a
    case-insensitive file system the same entry spelt in another case (not another hard link to it: replacing
    one name leaves the other's content)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return (b.exists() and a.name.lower() == b.name.lower() and os.path.samefile(a, b)
                and os.path.samefile(a.resolve().parent, b.resolve().parent))
    except (OSError, RuntimeError, ValueError):  # a link loop, an unreadable path: not the output's file
        return False


def check_out_not_input(inputs: ScanInputs, out: str | Path) -> None:
    """Refuse an output folder where writing the outputs would replace one of the scan's input files (``--out``
    naming the input folder, whose ``scores.csv`` the output ``scores.csv`` would overwrite), or that holds an
    input file (the outputs would become the next scan's inputs): an :class:`~fraud.errors.InputError` naming
    that input or folder, raised before anything is read or written. An input spec that names no file is left
    for the scan to report."""
    targets = [Path(out) / name for name in OUTPUT_FILES]
    given: list[Path] = []
    for kind in (*INPUT_KINDS, "decisions"):
        spec = getattr(inputs, kind)
        if not isinstance(spec, (str, Path, list)):
            continue
        try:
            files = resolve_specs(spec)
        except (InputError, OSError, ValueError, TypeError):
            continue
        for f in files:
            if any(_same_file(f, t) for t in targets):
                raise InputError(f"{f}: is an input of this scan; writing the outputs to {out} would overwrite it "
                                 "(choose another --out)")
        given += files
    # The input folder itself, before it holds a scores file: the scores.csv written there would be the next
    # folder scan's scores input (and fail it: it has no `score` column).
    for f in given:
        if _same_file(f.parent, Path(out)):
            raise InputError(f"{out}: holds this scan's input {f.name}; the scores.csv written there would be read "
                             "as the scores input of the next scan of that folder (choose another --out)")


def scan_to(inputs: ScanInputs, out: str | Path, cfg: Config | None = None, *, model: Any = None,
            progress: Progress | None = None, pseudonymize: str | None = None,
            composite: bool = False, shards: int | str = "auto", memory_gb: float | None = None,
            work_dir: str | Path | None = None) -> ScanResult:
    """Scan and write every contract output into ``out``; the files replace the previous ones only once all
    of them are written; an ``out`` where an output would replace an input file is refused before anything is
    read (:func:`check_out_not_input`). With ``pseudonymize`` (a key), identifiers in every output are keyed tokens.
    ``shards``, ``memory_gb`` and ``work_dir``: see :func:`fraud.pipeline.scan` (a partitioned scan's working
    files are removed once the outputs are written)."""
    check_out_not_input(inputs, out)
    cfg = cfg or load_config()
    if pseudonymize is not None and not pseudonymize:
        raise FraudError("--pseudonymize needs a non-empty key (an empty FRAUD_PSEUDO_KEY would publish clear ids)")
    res = scan(inputs, cfg, model=model, progress=progress, composite=composite, shards=shards,
               memory_gb=memory_gb, work_dir=work_dir, id_secret=pseudonymize)
    if inputs.folder is not None:
        res.summary["files_skipped"] = skipped_files(inputs.folder)
    try:
        if pseudonymize is not None:
            pseudonymize_result(res, pseudonymize, cfg)
        if progress:
            progress("write")
        t = Timer()
        final = prepare_out(out)
        with staged_output(final) as out_dir:
            _write_all(res, out_dir, inputs, cfg, t, final)
    finally:
        res.close()
    return res


def _decisions_path(inputs: ScanInputs) -> str:
    """Where the report's review commands write: the scan's decisions file, else ``decisions.csv`` beside the
    logins file (a folder scan picks it up next time) or beside a logins folder (inside it, the next scan would
    read it as a logins file). Absolute: the commands are pasted from a report opened anywhere, not from the
    folder the scan ran in."""
    if isinstance(inputs.decisions, (str, Path)):
        return str(Path(inputs.decisions).resolve())
    logins = inputs.logins[0] if isinstance(inputs.logins, list) else inputs.logins
    if isinstance(logins, (str, Path)) and not any(ch in str(logins) for ch in "*?["):
        p = Path(logins)
        return str((p.resolve().parent / "decisions.csv"))
    return str(Path("decisions.csv").resolve())


def pseudonymize_result(res: ScanResult, key: str, cfg: Config | None = None) -> None:
    """Replace identifiers in the result's tables and in the parsed inputs the report reads (in place); ``cfg``'s
    ``[columns]`` names the files' own id columns in rejected rows."""
    # the findings' and profiles' identifiers too: a check may write one no input holds (ip.spray groups an IPv6
    # address by its /64 network, written in clear when only the inputs' values were looked up)
    frames = {**res.context.frames, "_findings": res.findings.lazy(), "_profiles": res.profiles.lazy()}
    p = Pseudonymizer(key, frames, res.rejected, cfg.sources_of(ID_COLUMNS) if cfg is not None else set())
    res.findings, res.scores, res.profiles, res.rejected = (p.apply(df) for df in (res.findings, res.scores,
                                                                                   res.profiles, res.rejected))
    res.context.frames = {k: p.apply(lf) for k, lf in res.context.frames.items()}
    res.context._cache.clear()
    withhold_cell_values(res.summary)
    res.summary["pseudonymized"] = True


# summary.json's lists of values read from data cells (a country column holding an account's e-mail address, an
# event column holding a user name): their counts stay, the values are withheld under --pseudonymize
CELL_VALUE_LISTS = (("notes", "geo.positions", "countries_not_recognised"),
                    ("checks", "geo.positions", "countries_not_recognised"),
                    ("inputs", "logins", "event_kinds_no_rule_reads"))


def withhold_cell_values(summary: dict) -> None:
    """Replace each of :data:`CELL_VALUE_LISTS` in ``summary`` by one entry holding its total (in place)."""
    for *path, key in CELL_VALUE_LISTS:
        node = summary
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key), dict) and node[key]:
            node[key] = {NOTE_WITHHELD: sum(v for v in node[key].values() if isinstance(v, int))}


def _write_all(res: ScanResult, out_dir: Path, inputs: ScanInputs, cfg: Config, t: Timer, scan_dir: Path) -> None:
    with t("write"):
        write_table(res.findings, out_dir, "findings")
        write_table(res.scores, out_dir, "scores")
        write_table(res.profiles, out_dir, "profiles")
        write_csv(res.rejected, out_dir / "rejected.csv")
    with t("report"):
        decisions = _decisions_path(inputs)
        scan_dir = scan_dir.resolve()
        # `fraud show` prints the same review commands as the report's cards
        res.summary["review"] = {"decisions": decisions, "scan_dir": str(scan_dir),
                                 # the review commands' file exists but this scan did not read it (a --logins FILE
                                 # scan reads decisions only when given --decisions)
                                 "decisions_unread": inputs.decisions is None and Path(decisions).is_file(),
                                 # whether the same scan command reads that file next time: given as --decisions,
                                 # or in the input folder (a folder scan picks up its decisions.*)
                                 "next_scan_reads": inputs.decisions is not None or (
                                     inputs.folder is not None
                                     and Path(decisions).parent == Path(inputs.folder).resolve())}
        data = report_data(res, cfg, decisions, timings=t.stages, scan_dir=str(scan_dir))
        write_text(out_dir / "report.html", render_report(res, cfg, decisions, data=data))
        write_text(out_dir / "report.md", render_markdown(res, cfg, decisions, data=data))
    res.summary["timings_s"].update(t.stages)
    res.summary.setdefault("cpu_s", {}).update(t.cpu)
    write_json(out_dir / "summary.json", res.summary)


def fit_to(inputs: ScanInputs, model_path: str | Path, cfg: Config | None = None, *, shards: int | str = "auto",
           memory_gb: float | None = None, work_dir: str | Path | None = None) -> dict[str, Any]:
    """Fit the behaviour ensemble on the history in ``inputs`` and save it to ``model_path``.

    A history larger than ``memory_gb`` is read in slices (see :func:`fraud.pipeline.scan`); the fit itself
    needs only the user-level feature table. Returns a small summary (users, features, threshold). Raises
    :class:`~fraud.errors.FraudError` when the history is too small to fit on."""
    from fraud.context import ScanContext
    from fraud.detectors import fit_model
    from fraud.errors import ModelError
    from fraud.pipeline import context_from, read_inputs, resolve_shards
    from fraud.registry import NotEvaluated
    from fraud.detectors.outlier import fit_window, gather_features, span_range
    from fraud.shards import gather_partitioned

    cfg = cfg or load_config()
    n = resolve_shards(inputs, shards, memory_gb)
    if n > 1:
        frames, loaded = gather_partitioned(inputs, cfg, n, gather_features, work_dir=work_dir)
        ctx = ScanContext.from_frames(cfg)
        for name, frame in frames.items():
            ctx.provide(name, frame)
    else:
        loaded = read_inputs(inputs, cfg, Timer())
        ctx = context_from(loaded, cfg)
    try:
        model = fit_model(ctx)
    except NotEvaluated as e:
        raise ModelError(f"cannot fit: {e}") from None
    path = Path(model_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    except OSError as e:
        raise ModelError(f"{path}: cannot write model ({e.strerror})") from None
    ratio = float(cfg.rule("behavior.outlier")["max_span_ratio"])
    return {"model": str(path), "users": int(model.n_fit),
            "features": list(model.features), "indicators": list(model.indicators),
            "unobserved": list(model.unobserved), "threshold": float(model.threshold),
            "fitted_on": fit_window(model),
            "batch_days": span_range(model.fit_span_days, ratio) if model.fit_span_days else None,
            "rows_read": {k: v.rows_read for k, v in loaded.items()},
            "rows_rejected": {k: v.rows_rejected for k, v in loaded.items()}, "shards": n}


def load_model(path: str | Path | None, cfg: Config | None = None) -> Any:
    """The behaviour model saved by :func:`fit_to` (None when no path, or when ``cfg`` disables
    ``behavior.outlier``: the file is then not read at all). Loading unpickles: trust the file."""
    if path is None or (cfg is not None and not cfg.rule("behavior.outlier").enabled):
        return None
    from fraud.detectors import BehaviorModel
    from fraud.detectors.features import USER_FEATURES
    from fraud.errors import ModelError

    model = BehaviorModel.load(path)
    # checked before the scan reads anything: a model of another version's features would fail at its end
    unknown = [f for f in model.features if f not in USER_FEATURES]
    if unknown:
        raise ModelError(f"{path}: the model uses feature(s) this version does not compute: {', '.join(unknown)} "
                         "(fit the model again with `fraud fit`)")
    return model


def run_demo(out: str | Path = "fraud-demo", users: int = 2000, seed: int = 7,
             progress: Progress | None = None) -> tuple[Path, ScanResult]:
    """Generate the synthetic data set into ``out/data`` and scan it into ``out/scan``."""
    from fraud.synth import generate

    base = Path(out)
    data = base / "data"
    if progress:
        progress("generate")
    generate(data, users=users, seed=seed)
    res = scan_to(ScanInputs.from_folder(data), base / "scan", progress=progress)
    return base, res
