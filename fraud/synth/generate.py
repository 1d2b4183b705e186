"""Orchestration of the synthetic data set: population -> plans -> chunks of users -> files."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from .cities import Clock, city_table, ip_expr
from .devices import build_devices, snapshot_table, snapshots
from .events import baseline_logins
from .plans import RULES, Plan, legit_noise, plan_anomalies
from .plants import plant_rows
from .population import build_population
from .schedule import TRANSIT, Chunk, Ctx, baseline_pings
from .useragents import profiles
from .writer import Formatter, Sink, plant_bad, time_order, user_id

CHUNK_USERS = 10_000  # users per chunk: bounds memory; part of the definition of the output (keep fixed)
HISTORY_DAYS = 905  # the oldest planted history (device.stable_main) starts at most 900 days before `start`


def generate(out_dir: str | Path, users: int = 2000, seed: int = 7, days: int = 90, start: str = "2024-03-04",
             fmt: str = "csv") -> dict:
    """Write a synthetic data set with injected, labelled anomalies into ``out_dir``; return its counts.

    Files: logins, devices, locations, scores (``.csv`` or ``.parquet`` per ``fmt``), labels.csv,
    truth_places.csv and meta.json. Same arguments give byte-identical files. ``days`` is the length of the
    period in local calendar days (at least 35) starting on ``start`` (YYYY-MM-DD)."""
    if days < 35:
        raise ValueError("days must be at least 35 (the planted rules need a month of history)")
    if users < 200:
        raise ValueError("users must be at least 200 (every rule needs its own users)")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start_d = date.fromisoformat(start)
    rng = np.random.default_rng(seed)
    ct, pr = city_table(), profiles()
    pop = build_population(rng, ct, users, days, start_d)
    plan = plan_anomalies(rng, pop, ct, pr)
    noise = legit_noise(rng, pop, ct)
    dt, devcols = build_devices(rng, pop, ct, pr, plan, noise)
    clock = Clock(ct.zones, date.fromordinal(start_d.toordinal() - HISTORY_DAYS), days + HISTORY_DAYS)
    ctx = Ctx(pop=pop, ct=ct, pr=pr, dev=dt, clock=clock, start_local=(start_d - date(1970, 1, 1)).days * 86400,
              main_dev=devcols["main"], second_dev=devcols["second"], new_dev=devcols["new"],
              new_day=devcols["new_day"])
    fm = Formatter(pop, ct, pr, dt, clock)
    sink = Sink(out, fmt)
    clean = ~pop.labelled
    clean[plan.victims] = False
    bad = {k: 0 for k in ("logins", "devices", "locations", "scores")}
    locked: list[np.ndarray] = []
    for ci, lo in enumerate(range(0, users, CHUNK_USERS)):
        hi = min(users, lo + CHUNK_USERS)
        crng = np.random.default_rng([seed, ci])
        ch = Chunk(ctx, lo, hi, crng, plan.users["geo.commute_deviation"])
        extra_l, extra_p = plant_rows(ch, plan, crng)
        logins = pl.concat([baseline_logins(ch, crng), *extra_l]).filter(pl.col("place") != TRANSIT)
        pings = pl.concat([baseline_pings(ch, crng), *extra_p])
        snap = snapshots(logins, dt, pop, crng)
        k0 = ci == 0  # the first chunk always gets a few bad rows of each kind
        logins = time_order(plant_bad(logins, "logins", max(round(0.001 * logins.height), 4 * k0), clean, crng))
        pings = time_order(plant_bad(pings, "locations", max(round(0.00005 * pings.height), 4 * k0), clean, crng))
        snap = time_order(plant_bad(snap, "devices", 2 * k0, clean, crng))
        table = snapshot_table(snap, dt, pr)
        locked.append(np.unique(table.filter(pl.col("device_lock") & (snap["bad"] == 0))["uid"].to_numpy()))
        for name, df in (("logins", logins), ("locations", pings), ("devices", snap)):
            bad[name] += int((df["bad"] > 0).sum())
        sink.write("logins", fm.logins(logins))
        sink.write("locations", fm.pings(pings))
        sink.write("devices", fm.devices(snap, table))
    scores = fm.scores(rng, clean)
    bad["scores"] = scores.height - pop.n
    sink.write("scores", scores)
    sink.close()
    labels = _labels(plan, np.concatenate(locked))
    labels.write_csv(out / "labels.csv")
    _truth(pop, ct).write_csv(out / "truth_places.csv")
    per_rule = dict(labels.group_by("rule").len().sort("rule").iter_rows())
    counts = {"rows": dict(sink.rows), "users": users, "labels_per_rule": {r: per_rule.get(r, 0) for r in RULES},
              "legit_noise_users": {k: int(len(v)) for k, v in noise.items() if k != "new_day"},
              "spray_victims": int(len(plan.victims))}
    meta = {"args": {"users": users, "seed": seed, "days": days, "start": start_d.isoformat()},
            "expected_rejected_rows": bad, "counts": counts}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return counts


def _labels(plan: Plan, locked: np.ndarray) -> pl.DataFrame:
    """labels.csv: user_id, rule, ip (one row per user and rule; ip.spray rows carry the IP, no user)."""
    parts = [pl.DataFrame({"uid": u.astype(np.int64), "rule": r}) for u, r in plan.labels()]
    parts.append(pl.DataFrame({"uid": np.unique(locked).astype(np.int64), "rule": "device.lock_enabled"}))
    users = pl.concat(parts).unique().select(user_id().alias("user_id"), "rule", pl.lit(None, pl.String).alias("ip"))
    spray = pl.DataFrame({"ip": plan.spray["attacker_ip"]}).select(
        pl.lit(None, pl.String).alias("user_id"), pl.lit("ip.spray").alias("rule"), ip_expr("ip"))
    return pl.concat([users, spray]).sort("rule", "user_id", "ip", nulls_last=True)


def _truth(pop, ct) -> pl.DataFrame:
    """truth_places.csv: each user's real zone, home and (for workers) work place."""
    return pl.DataFrame({"uid": np.arange(pop.n), "timezone": ct.tz[pop.city],
                         "home_lat": pop.home_lat, "home_lon": pop.home_lon,
                         "work_lat": pop.work_lat, "work_lon": pop.work_lon}).select(
        user_id().alias("user_id"), "timezone", *(pl.col(c).fill_nan(None).round(6)
                                                  for c in ("home_lat", "home_lon", "work_lat", "work_lon")))
