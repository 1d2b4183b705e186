"""Benchmark: the default behaviour ensemble (ECOD + IForest + HBOS) fits and scores N users x 20 features.

Usage: ``python bench/bench_detectors.py [--users 1000000] [--seed 0]`` (pin to 2 cores with ``taskset -c 0,1``).
Prints wall and CPU seconds to fit and score the batch (the scan-without-model path), then to score the same
users again against the fitted model (the ``--model`` path), the numbers flagged and the peak RSS.
The matrix is synthetic (log-normal counts and amounts, 5% missing in four columns, 0.1% planted outliers).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import polars as pl

from fraud.config import load_config
from fraud.detectors.features import USER_FEATURES
from fraud.detectors.model import BehaviorModel


def synthetic_users(n: int, seed: int) -> pl.DataFrame:
    """``n`` users with the 20 user-level feature columns; a few columns have missing values."""
    rng = np.random.default_rng(seed)
    names = list(USER_FEATURES)
    X = rng.lognormal(mean=0.5, sigma=0.8, size=(n, len(names)))
    planted = rng.choice(n, size=max(1, n // 1000), replace=False)
    X[planted, :5] *= 25.0
    cols = {"user_id": [f"u{i:07d}" for i in range(n)]}
    for j, name in enumerate(names):
        col = X[:, j]
        if name in ("mean_distance_km", "mean_top_speed_kmh", "max_top_speed_kmh", "mean_amount"):
            col = np.where(rng.random(n) < 0.05, np.nan, col)
        cols[name] = col
    return pl.DataFrame(cols).with_columns(pl.col(names).fill_nan(None))


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rule = load_config().rule("behavior.outlier")
    frame = synthetic_users(args.users, args.seed)
    kw = dict(detectors=list(rule["detectors"]), contamination=float(rule["contamination"]), seed=int(rule["seed"]),
              n_jobs=int(rule["n_jobs"]))
    c0, t0 = cpu_s(), time.perf_counter()
    model, scored = BehaviorModel.fit_score(frame, list(USER_FEATURES), top_n=int(rule["top_features"]), **kw)
    c1, t1 = cpu_s(), time.perf_counter()
    rescored = model.score(frame, top_n=int(rule["top_features"]))
    c2, t2 = cpu_s(), time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"users={args.users} features={len(USER_FEATURES)} detectors={','.join(rule['detectors'])} "
          f"load_avg_1m={os.getloadavg()[0]:.1f}")
    print(f"fit_and_score_batch_s={t1 - t0:.1f} (cpu {c1 - c0:.1f}) flagged={int(scored['flagged'].sum())}")
    print(f"score_with_model_s={t2 - t1:.1f} (cpu {c2 - c1:.1f}) flagged={int(rescored['flagged'].sum())}")
    print(f"peak_rss_mb={peak_mb:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
