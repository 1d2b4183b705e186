"""Helpers of the fingerprint tests: real user agents, a check runner and evidence access."""
from __future__ import annotations

import json

import polars as pl

from fraud.registry import REGISTRY, load_all
from tests.conftest import at, make_ctx

load_all()

UA = {
    "android": "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1.2 Mobile/15E148 Safari/604.1",
    "ipad": "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
            "Mobile/15E148 Safari/604.1",
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Safari/537.36",
    "mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.1 Safari/605.1.15",
    "linux": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "huawei": "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.12.0.302) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.2.311 Mobile Safari/537.36",
    "app_okhttp": "MyBank/5.1.0 (Android 13; SM-S911B) okhttp/4.12.0",
}


def run(check, **frames) -> pl.DataFrame:
    """Run one check on inline frames (and its registered post-step); findings sorted deterministically."""
    ctx = make_ctx(**frames)
    df = check(ctx).collect()
    entry = next((c for c in REGISTRY.values() if c.fn is check), None)
    if entry is not None and entry.post is not None:
        df = entry.post(df, ctx.cfg)
    return df.sort("user_id", "rule", "first_ts", "device_id", "ip",
                                                     nulls_last=True)


def ev(df: pl.DataFrame, i: int = 0) -> dict:
    """The parsed evidence of finding ``i``."""
    return json.loads(df["evidence"][i])


def iso(minutes: float = 0, days: float = 0) -> str:
    return at(minutes, days).strftime("%Y-%m-%dT%H:%M:%SZ")


def logins(*rows: tuple, cols: tuple[str, ...] = ("user_id", "ts", "device_id")) -> pl.DataFrame:
    """A logins frame from tuples of ``cols`` values."""
    return pl.DataFrame([dict(zip(cols, r)) for r in rows])
