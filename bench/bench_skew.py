#!/usr/bin/env python3
"""Benchmark: the full `fraud scan` on skewed copies of one data set, against the same set unskewed.

    python bench/bench_skew.py                  # the 1M-event set of bench/run.py, every shape
    python bench/bench_skew.py --shapes hot_user,hot_ip --fraction 0.3

Real logs are not uniform: a scripted account or a test login holds a large share of the events, many phones
report one device id, a carrier NAT puts millions of users behind one IP, a batch job stamps rows with one
instant, GPS is missing altogether. A check whose cost grows with the square of a group (a self-join within a
user, a device or an IP) is invisible on uniform data and blows up on such files. Each shape rewrites a share
(``--fraction``, picked by a seeded hash of the row number) of the logins (and of the device snapshots where the
shape is about devices) of the base set, then runs `fraud scan` in a child process as bench/run.py does. It
prints wall time, rows/s, peak RSS and the slowdown against the unskewed set; a slowdown far above 1x is a
check whose work is not linear in the rows.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import child  # noqa: E402  (bench/ is a folder of scripts, not a package)

# Android 2.2's ANDROID_ID bug gave millions of phones this one id; cloned ids in device farms look the same. (An
# all-zero or "unknown" id is read as no device id at all: see the README's input rules.)
HOT_USER, HOT_DEVICE, HOT_IP = "hot-user", "9774d56d682e549c", "100.64.0.1"
INSTANT = "2021-09-20T12:00:00Z"


def picked(fraction: float, seed: int) -> pl.Expr:
    """A seeded, order-free choice of about ``fraction`` of the rows."""
    return pl.int_range(pl.len()).hash(seed) % 1_000_000 < int(fraction * 1_000_000)


# shape -> (what it models, {input kind: column rewrites applied to the picked rows})
SHAPES: dict[str, tuple[str, dict[str, dict[str, pl.Expr]]]] = {
    "uniform": ("the base set as generated", {}),
    "hot_user": ("one account holds the picked events (a scripted or shared test login)",
                 {"logins": {"user_id": pl.lit(HOT_USER)}}),
    "hot_device": ("the picked events and snapshots carry one device id (a cloned or buggy id)",
                   {"logins": {"device_id": pl.lit(HOT_DEVICE)}, "devices": {"device_id": pl.lit(HOT_DEVICE)}}),
    "hot_ip": ("the picked events come from one carrier-NAT IP, a third of them failed logins",
               {"logins": {"ip": pl.lit(HOT_IP),
                           "success": pl.when(pl.int_range(pl.len()) % 3 == 0).then(False)
                           .otherwise(pl.col("success"))}}),
    "one_instant": ("the picked events share one timestamp (a batch job's load time)",
                    {"logins": {"ts": pl.lit(INSTANT)}}),
    "no_gps": ("the picked events have no lat/lon (positions from IPs and city names only)",
               {"logins": {"lat": pl.lit(None, pl.Float64), "lon": pl.lit(None, pl.Float64)}}),
    "scattered_pings": ("one account holds the picked location pings, scattered over the globe (a spoofing "
                        "app, a broken GPS)",
                        {"locations": {"user_id": pl.lit(HOT_USER),
                                       "lat": (pl.int_range(pl.len()).hash(11) % 1_600_000) / 10_000 - 80.0,
                                       "lon": (pl.int_range(pl.len()).hash(12) % 3_600_000) / 10_000 - 180.0}}),
}


def make_shape(base: Path, dest: Path, rewrites: dict[str, dict[str, pl.Expr]], fraction: float,
               seed: int) -> None:
    """Copy ``base`` to ``dest`` with ``rewrites`` applied to the picked rows of each kind."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(base.glob("*.parquet")):
        lf = pl.scan_parquet(f)
        cols = rewrites.get(f.stem, {})
        if cols:
            pick = picked(fraction, seed)
            lf = lf.with_columns(pl.when(pick).then(e).otherwise(pl.col(c)).alias(c) for c, e in cols.items())
        lf.sink_parquet(dest / f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "data" / "e1000000-d37-p0.5",
                    help="base data set (default: bench/run.py --events 1e6's; run that first to make it)")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of: {', '.join(SHAPES)}")
    ap.add_argument("--fraction", type=float, default=0.2, help="share of the rows each shape rewrites (0.2)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--shards", default="auto", help="passed to fraud scan")
    ap.add_argument("--timeout", type=float, default=1800, help="give up on a shape after this many seconds")
    a = ap.parse_args()
    if not (a.data / "logins.parquet").exists():
        sys.exit(f"{a.data}: no logins.parquet; make the base set first: python bench/run.py --events 1e6")
    shapes = [s.strip() for s in a.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        sys.exit(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    if "uniform" not in shapes:
        shapes.insert(0, "uniform")
    rows = sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in a.data.glob("*.parquet")
               if f.stem in ("logins", "devices", "locations"))
    print(f"base: {a.data} ({rows:,} rows), fraction {a.fraction}")
    print(f"{'shape':12s} {'wall s':>7s} {'rows/s':>9s} {'RSS GiB':>8s} {'vs uniform':>10s} {'findings':>9s}  "
          "slowest stages (s)")
    work = Path(tempfile.mkdtemp(prefix="fraud-skew-"))
    base_s = None
    for name in shapes:
        what, rewrites = SHAPES[name]
        data = a.data if name == "uniform" else work / name
        if name != "uniform":
            make_shape(a.data, data, rewrites, a.fraction, a.seed)
        out = work / f"out-{name}"
        try:
            run = child([sys.executable, "-m", "fraud.cli.main", "scan", str(data), "--out", str(out),
                         "--shards", a.shards], timeout_s=a.timeout)
        except subprocess.TimeoutExpired:
            print(f"{name:12s} did not finish within {a.timeout:.0f} s", flush=True)
            continue
        except SystemExit as e:  # the scan failed (e.g. killed for its memory)
            print(f"{name:12s} failed: {str(e.code).splitlines()[0]}", flush=True)
            continue
        summ = json.loads((out / "summary.json").read_text())
        base_s = base_s or run.wall_s
        stages = sorted(((v, k) for k, v in summ["timings_s"].items() if k != "total"), reverse=True)[:3]
        print(f"{name:12s} {run.wall_s:7.1f} {rows / run.wall_s:9,.0f} {run.rss_gib:8.2f} "
              f"{run.wall_s / base_s:9.2f}x {summ['findings']['total']:9,}  "
              + ", ".join(f"{k} {v:.1f}" for v, k in stages), flush=True)
    print("\nshapes: " + "; ".join(f"{s}: {SHAPES[s][0]}" for s in shapes))


if __name__ == "__main__":
    main()
