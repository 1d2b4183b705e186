#!/usr/bin/env python3
"""Benchmark: the full `fraud scan` against the Polars floor on the same files.

    python bench/run.py                    # 10M login events (~200k users), Parquet
    python bench/run.py --events 1e6       # a quick run
    python bench/run.py --events 1e6 --csv # also time the scan on CSV input
    python bench/run.py --copies 3         # 3 id-disjoint copies of the 10M set: larger than memory
    python bench/run.py --against main --repeat 2  # this tree's scan and main's, alternated, and their outputs compared

Generates (or reuses, under bench/data/) a synthetic data set with `fraud.synth.generate` in the performance
issue's shape (37 days, ~50 logins per user: 10M events are ~200k users; 0.5 location pings per login;
`--days 90 --pings-per-login 0` keeps the generator's own shape, ~3 pings per login), widened to real-log
cardinalities (100k+ distinct user agents, 1M+ distinct IPs at 10M events), runs `fraud scan` in a child process
and, in the same run, the floor: bare Polars reading the same files, sorting logins by (user, ts) and one
group_by(user) with counts and distinct counts. Prints rows/s, seconds per stage (from summary.json), peak RSS
of each child and the ratio scan/floor.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fraud.allocator import ALLOCATOR_ENV, allocator_conf

HERE = Path(__file__).resolve().parent
LOGINS_PER_USER_DAY = 1.355  # what the synthetic population logs per day (plus ~3x as many pings)

FLOOR = r"""
import sys, time, polars as pl
d = sys.argv[1]; ext = sys.argv[2]
t = time.perf_counter()
read = pl.scan_parquet if ext == "parquet" else pl.scan_csv
lg = read(f"{d}/logins*.{ext}")
out = (lg.sort(["user_id", "ts"]).group_by("user_id")
       .agg(pl.len(), pl.col("ip").n_unique(), pl.col("device_id").n_unique(), pl.col("user_agent").n_unique())
       .collect())
for k in ("devices", "locations"):
    read(f"{d}/{k}*.{ext}").select(pl.len()).collect()
print(time.perf_counter() - t)
"""


WRAP = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdout=sys.stdout, stderr=sys.stderr)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("RUSAGE", r.ru_maxrss, r.ru_utime, r.ru_stime, r.ru_minflt, file=sys.stderr)
sys.exit(rc)
"""


@dataclass
class Run:
    """One child process: wall seconds, peak RSS (GiB), CPU seconds in user and kernel mode, minor page faults."""
    wall_s: float
    rss_gib: float
    user_s: float
    sys_s: float
    minflt: int
    stdout: str

    @property
    def cores(self) -> float:
        """Average cores busy over the run (CPU seconds / wall seconds)."""
        return (self.user_s + self.sys_s) / self.wall_s

    def cpu(self) -> str:
        return (f"CPU {self.user_s + self.sys_s:.1f} s (user {self.user_s:.1f}, kernel {self.sys_s:.1f}; "
                f"{self.cores:.2f} cores busy), {self.minflt / 1e6:.2f}M minor page faults")


def child(cmd: list[str], timeout_s: float | None = None, env_extra: dict[str, str] | None = None,
          cwd: Path | None = None) -> Run:
    """Run a command in its own wrapper process and measure it (the wrapper's ``RUSAGE_CHILDREN``). The floor
    and the scan run with the same allocator setting: the one the ``fraud`` command gives Polars
    (:func:`fraud.allocator.allocator_conf`)."""
    t = time.perf_counter()
    env = {**os.environ, ALLOCATOR_ENV: allocator_conf(os.environ.get(ALLOCATOR_ENV)), **(env_extra or {})}
    # its own process group, so that a timeout stops the measured command too, not only the wrapper
    p = subprocess.Popen([sys.executable, "-c", WRAP, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    secs = time.perf_counter() - t
    if p.returncode not in (0, 3):
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    kb, user, kernel, minflt = err.rsplit("RUSAGE", 1)[1].split()[:4]
    return Run(secs, int(kb) / 1024 / 1024, float(user), float(kernel), int(minflt), out)


def repeated(cmd: list[str], n: int, label: str) -> Run:
    """Run ``cmd`` ``n`` times; print each run when n > 1; the run with the median wall time (VM timings vary by
    about +-15% run to run, so one run proves little)."""
    runs = []
    for i in range(n):
        runs.append(child(cmd))
        if n > 1:
            print(f"  {label} run {i + 1}/{n}: {runs[-1].wall_s:.1f} s, peak RSS {runs[-1].rss_gib:.2f} GiB, "
                  f"{runs[-1].cpu()}", flush=True)
    return sorted(runs, key=lambda r: r.wall_s)[(n - 1) // 2]


def imported_package(tree: Path) -> Path | str:
    """The folder whose ``fraud`` package a scan started in ``tree`` with ``PYTHONPATH=tree`` imports (the
    error text when the import fails)."""
    got = subprocess.run([sys.executable, "-c", "import fraud; print(fraud.__file__)"], cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    return Path(got.stdout.strip()).resolve().parent.parent if got.returncode == 0 else got.stderr.strip()


def against(rev: str, data: Path, opts: list[str], reps: int) -> None:
    """Scan ``data`` with this tree and with git revision ``rev`` (checked out in a temporary worktree), the two
    alternated ``reps`` times each: the VM's speed drifts by 10-15% within an hour, so only runs side by side
    compare. Prints each run, both medians, and whether the two wrote byte-identical findings and scores."""
    repo, data = HERE.parent, data.resolve()  # the scans run in their trees' folders
    wt = Path(tempfile.mkdtemp(prefix="fraud-bench-rev-"))
    made = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(wt), rev], capture_output=True,
                          text=True)
    if made.returncode:
        sys.exit(f"--against {rev}: {made.stderr.strip()}")
    trees = {rev: wt, "this tree": repo}
    try:
        # `python -m` puts the working folder first on sys.path: a scan started from the repository's root imported
        # this tree's package whatever PYTHONPATH said, so both sides ran the same code. Each side now runs in its
        # own tree, and is checked to import it.
        for name, tree in trees.items():
            got = imported_package(tree)
            if got != tree.resolve():
                sys.exit(f"--against: the {name} scan would import the fraud package of {got}, not {tree}")
        outs = {name: Path(tempfile.mkdtemp(prefix="fraud-bench-ab-")) for name in trees}
        runs: dict[str, list[Run]] = {name: [] for name in trees}
        for i in range(reps):
            for name in (rev, "this tree") if i % 2 == 0 else ("this tree", rev):
                r = child([sys.executable, "-m", "fraud.cli.main", "scan", str(data), "--out", str(outs[name]), *opts],
                          env_extra={"PYTHONPATH": str(trees[name])}, cwd=trees[name])
                runs[name].append(r)
                print(f"  {name} run {len(runs[name])}/{reps}: {r.wall_s:.1f} s, peak RSS {r.rss_gib:.2f} GiB, "
                      f"{r.cpu()}", flush=True)
        med = {name: sorted(r.wall_s for r in rs)[(reps - 1) // 2] for name, rs in runs.items()}
        print(f"\nmedian scan: {rev} {med[rev]:.1f} s, this tree {med['this tree']:.1f} s "
              f"({med['this tree'] / med[rev] - 1:+.1%})")
        differ = [f for f in ("findings.parquet", "scores.parquet")
                  if (outs[rev] / f).read_bytes() != (outs["this tree"] / f).read_bytes()]
        print(f"outputs: {', '.join(differ)} differ" if differ else "outputs: findings and scores byte-identical")
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(wt)], capture_output=True)


def widen(data: Path, seed: int) -> None:
    """Give the logins real-log cardinalities: per-user browser builds and per-session IPs."""
    lg = pl.read_parquet(data / "logins.parquet")
    n = lg.height
    h = pl.col("user_id").hash(seed) % 997
    lg = lg.with_columns(
        pl.when(pl.col("user_agent").str.contains(r"Chrome/\d+"))
        .then(pl.col("user_agent").str.replace(r"Chrome/(\d+)\.0\.\d+\.\d+", "Chrome/$1.0.BUILD")
              .str.replace("BUILD", pl.format("{}.{}", h, pl.col("user_id").hash(seed + 1) % 211), literal=True))
        .otherwise(pl.col("user_agent")).alias("user_agent"),
        pl.when(pl.int_range(n) % 3 == 0)
        .then(pl.format("{}.{}.{}.{}", 1 + pl.int_range(n).hash(seed) % 223, pl.int_range(n).hash(seed + 2) % 256,
                        pl.int_range(n).hash(seed + 3) % 256, 1 + pl.int_range(n).hash(seed + 4) % 254))
        .otherwise(pl.col("ip")).alias("ip"),
    )
    lg.write_parquet(data / "logins.parquet")


def thin_pings(data: Path, per_login: float, seed: int) -> None:
    """Keep about ``per_login`` location pings per login event (a seeded, order-keeping sample)."""
    logins = pl.scan_parquet(data / "logins.parquet").select(pl.len()).collect().item()
    pings = pl.read_parquet(data / "locations.parquet")
    keep = min(1.0, per_login * logins / max(pings.height, 1))
    pings.filter(pl.int_range(pings.height).hash(seed) % 1_000_000 < int(keep * 1_000_000)).write_parquet(
        data / "locations.parquet")


def replicate(data: Path, copies: int, dest: Path) -> None:
    """``copies`` id-disjoint copies of a data set (user and device ids prefixed per copy), streamed file by
    file: a data set larger than memory without a longer generation."""
    dest.mkdir(parents=True, exist_ok=True)
    for k in ("logins", "devices", "locations", "scores"):
        for c in range(copies):
            lf = pl.scan_parquet(data / f"{k}.parquet")
            ids = [col for col in ("user_id", "device_id") if col in lf.collect_schema().names()]
            lf.with_columns(pl.concat_str(pl.lit(f"c{c}-"), pl.col(col)).alias(col) for col in ids).sink_parquet(
                dest / f"{k}.c{c}.parquet")


def count_lines(summ: dict) -> list[str]:
    """The counts a scan's summary.json holds beyond status and findings: the rules' (``checks``) and the shared
    stages' (``notes``: the user-agent parse rate, positions, homes), one line each, by name."""
    out = []
    for k, v in sorted({**summ.get("checks", {}), **summ.get("notes", {})}.items()):
        extra = {kk: vv for kk, vv in v.items() if kk not in ("status", "findings")}
        if extra:
            out.append(f"  {k}: {extra}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=1e7, help="login events (default 1e7)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default bench/data/<events>)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--csv", action="store_true", help="also time the scan on CSV copies of the inputs")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--shards", default="auto", help="passed to fraud scan (default auto: slices when the inputs "
                                                     "exceed --memory-gb)")
    ap.add_argument("--memory-gb", default=None, help="passed to fraud scan")
    ap.add_argument("--skip-floor", action="store_true", help="do not time the floor again")
    ap.add_argument("--repeat", type=int, default=1, help="run the floor and each scan this many times and report "
                                                          "the median run (default 1)")
    ap.add_argument("--copies", type=int, default=1, help="scan this many id-disjoint copies of the data set")
    ap.add_argument("--against", metavar="REV", default=None,
                    help="instead of the floor and one scan: alternate the scan of this tree with the scan of git "
                         "revision REV (--repeat times each), print both medians and compare their outputs")
    ap.add_argument("--days", type=int, default=37, help="length of the generated period (default 37: ~50 logins "
                                                       "per user, so 10M events are ~200k users)")
    ap.add_argument("--pings-per-login", type=float, default=0.5,
                    help="keep this many location pings per login event (default 0.5: 5M pings at 10M events; "
                         "0 keeps every generated ping, ~3 per login)")
    a = ap.parse_args()
    events = int(a.events)
    users = max(200, round(events / (LOGINS_PER_USER_DAY * a.days)))
    shape = "" if (a.days, a.pings_per_login) == (90, 0) else f"-d{a.days}-p{a.pings_per_login:g}"
    data = a.data or HERE / "data" / f"e{events}{shape}"
    if a.regenerate or not (data / "logins.parquet").exists():
        from fraud.synth import generate

        t = time.perf_counter()
        generate(data, users=users, seed=a.seed, days=a.days, fmt="parquet")
        widen(data, a.seed)
        if a.pings_per_login > 0:
            thin_pings(data, a.pings_per_login, a.seed)
        print(f"generated {data} in {time.perf_counter() - t:.1f}s")
    if a.copies > 1:
        many = data.with_name(f"{data.name}x{a.copies}")
        if a.regenerate or not (many / f"logins.c{a.copies - 1}.parquet").exists():
            replicate(data, a.copies, many)
        data = many
    counts = {k: pl.scan_parquet(data / f"{k}*.parquet").select(pl.len()).collect().item()
              for k in ("logins", "devices", "locations")}
    lg = pl.scan_parquet(data / "logins*.parquet")
    card = lg.select(pl.col("user_id").n_unique().alias("users"), pl.col("user_agent").n_unique().alias("uas"),
                     pl.col("ip").n_unique().alias("ips")).collect().row(0, named=True)
    total = sum(counts.values())
    print(f"data: {counts['logins']:,} login events, {counts['devices']:,} device snapshots, "
          f"{counts['locations']:,} location pings; {card['users']:,} users, {card['uas']:,} distinct UAs, "
          f"{card['ips']:,} distinct IPs")

    reps = max(1, a.repeat)
    opts = ["--shards", str(a.shards)] + (["--memory-gb", str(a.memory_gb)] if a.memory_gb else [])
    if a.against:
        against(a.against, data, opts, reps)
        return
    floor = None if a.skip_floor else repeated([sys.executable, "-c", FLOOR, str(data), "parquet"], reps, "floor")
    floor_s = floor.wall_s if floor else float("nan")
    out = Path(tempfile.mkdtemp(prefix="fraud-bench-"))
    scan = repeated([sys.executable, "-m", "fraud.cli.main", "scan", str(data), "--out", str(out), *opts], reps,
                    "scan")
    summ = json.loads((out / "summary.json").read_text())
    if floor:
        print(f"\nfloor (polars read + sort + group_by): {floor_s:8.1f} s  peak RSS {floor.rss_gib:5.2f} GiB  "
              f"{floor.cpu()}")
    print(f"fraud scan (parquet, {summ.get('shards', 1)} slice(s)):     {scan.wall_s:8.1f} s  peak RSS "
          f"{scan.rss_gib:5.2f} GiB  {total / scan.wall_s:,.0f} rows/s  ratio scan/floor {scan.wall_s / floor_s:.1f}x")
    print(f"  {scan.cpu()}")
    print("stages (s): " + ", ".join(f"{k}={v:.1f}" for k, v in summ["timings_s"].items()))
    cpu = summ.get("cpu_s", {})
    if cpu:  # how many of the machine's cores each stage kept busy: where parallelism is left on the table
        print("cores busy per stage: " + ", ".join(f"{k}={cpu[k] / v:.2f}" for k, v in summ["timings_s"].items()
                                                   if k in cpu and k != "total" and v >= 0.5))
    for line in count_lines(summ):
        print(line)
    print(f"findings: {summ['findings']['total']:,}")
    if a.csv:
        csv_dir = data / "csv"
        if not (csv_dir / "logins.csv").exists():
            csv_dir.mkdir(exist_ok=True)
            for k in ("logins", "devices", "locations", "scores"):
                pl.read_parquet(data / f"{k}.parquet").write_csv(csv_dir / f"{k}.csv")
        out2 = Path(tempfile.mkdtemp(prefix="fraud-bench-csv-"))
        csv = repeated([sys.executable, "-m", "fraud.cli.main", "scan", str(csv_dir), "--out", str(out2), *opts],
                       reps, "csv scan")
        print(f"fraud scan (csv):                      {csv.wall_s:8.1f} s  peak RSS {csv.rss_gib:5.2f} GiB  "
              f"{total / csv.wall_s:,.0f} rows/s\n  {csv.cpu()}")


if __name__ == "__main__":
    main()
