"""Library entry points behind the CLI commands: scan-and-write, and the demo."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fraud.config import Config, load_config
from fraud.outputs import prepare_out, staged_output, write_csv, write_json, write_table, write_text
from fraud.privacy import Pseudonymizer
from fraud.pipeline import Progress, ScanInputs, ScanResult, Timer, scan
from fraud.report import render_markdown, render_report, report_data


def scan_to(inputs: ScanInputs, out: str | Path, cfg: Config | None = None, *, model: Any = None,
            progress: Progress | None = None, pseudonymize: str | None = None,
            composite: bool = False, shards: int | str = "auto", memory_gb: float | None = None,
            work_dir: str | Path | None = None) -> ScanResult:
    """Scan and write every contract output into ``out``; the files replace the previous ones only once all
    of them are written. With ``pseudonymize`` (a key), identifiers in every output are keyed tokens.
    ``shards``, ``memory_gb`` and ``work_dir``: see :func:`fraud.pipeline.scan` (a partitioned scan's working
    files are removed once the outputs are written)."""
    cfg = cfg or load_config()
    res = scan(inputs, cfg, model=model, progress=progress, composite=composite, shards=shards,
               memory_gb=memory_gb, work_dir=work_dir)
    try:
        if pseudonymize is not None:
            pseudonymize_result(res, pseudonymize)
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
    logins (a folder scan picks it up next time). Absolute: the commands are pasted from a report opened
    anywhere, not from the folder the scan ran in."""
    if isinstance(inputs.decisions, (str, Path)):
        return str(Path(inputs.decisions).resolve())
    logins = inputs.logins[0] if isinstance(inputs.logins, list) else inputs.logins
    if isinstance(logins, (str, Path)) and not any(ch in str(logins) for ch in "*?["):
        p = Path(logins)
        return str(((p if p.is_dir() else p.parent) / "decisions.csv").resolve())
    return str(Path("decisions.csv").resolve())


def pseudonymize_result(res: ScanResult, key: str) -> None:
    """Replace identifiers in the result's tables and in the parsed inputs the report reads (in place)."""
    p = Pseudonymizer(key, res.context.frames, res.rejected)
    res.findings, res.scores, res.profiles, res.rejected = (p.apply(df) for df in (res.findings, res.scores,
                                                                                   res.profiles, res.rejected))
    res.context.frames = {k: p.apply(lf) for k, lf in res.context.frames.items()}
    res.context._cache.clear()
    res.summary["pseudonymized"] = True


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
        res.summary["review"] = {"decisions": decisions, "scan_dir": str(scan_dir)}
        data = report_data(res, cfg, decisions, timings=t.stages, scan_dir=str(scan_dir))
        write_text(out_dir / "report.html", render_report(res, cfg, decisions, data=data))
        write_text(out_dir / "report.md", render_markdown(res, cfg, decisions, data=data))
    res.summary["timings_s"].update(t.stages)
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
    from fraud.detectors.outlier import gather_features
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
    return {"model": str(path), "users": int(model.n_fit),
            "features": model.columns, "threshold": float(model.threshold),
            "rows_read": {k: v.rows_read for k, v in loaded.items()},
            "rows_rejected": {k: v.rows_rejected for k, v in loaded.items()}, "shards": n}


def load_model(path: str | Path | None) -> Any:
    """The behaviour model saved by :func:`fit_to` (None when no path). Loading unpickles: trust the file."""
    if path is None:
        return None
    from fraud.detectors import BehaviorModel

    return BehaviorModel.load(path)


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
