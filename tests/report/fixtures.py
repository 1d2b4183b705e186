"""A small, deterministic demo-like scan result for the report tests (no detector involved).

``make_result()`` builds the parsed inputs (logins, devices, locations), hand-made findings, the scores they
give and the profiles, as a :class:`fraud.pipeline.ScanResult`. ``write_inputs(folder)`` writes the same inputs
as CSV files, for an end-to-end ``scan_to``.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from fraud.config import Config, load_config
from fraud.context import ScanContext
from fraud.pipeline import ScanResult
from fraud.schema import FINDINGS_SCHEMA, PROFILES_SCHEMA
from fraud.scoring import score_users

T0 = datetime(2024, 3, 4, 0, 0, tzinfo=timezone.utc)
XSS_UA = "<script>alert(1)</script>"
XSS_DEVICE = '<img src=x onerror="window.__xss=1">'
XSS_CITY = "<b>Par|is</b>"
SHANGHAI = (31.2304, 121.4737)
SH_WORK = (31.2400, 121.5000)
BEIJING = (39.9042, 116.4074)
UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
UA_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
RULES = [("device.emulator", "fingerprint", "critical", -80), ("device.rooted", "fingerprint", "high", -50),
         ("device.bot_agent", "fingerprint", "high", -60), ("device.many_devices", "fingerprint", "medium", -15),
         ("geo.remote_logins", "geo", "low", -10), ("geo.commute_deviation", "geo", "low", -5),
         ("behavior.sigma", "behavior", "info", -5), ("device.lock_enabled", "fingerprint", "info", 5)]


def ts(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def _events(n_filler: int) -> tuple[list[dict], list[dict], list[dict]]:
    logins: list[dict] = []
    devices: list[dict] = []
    locs: list[dict] = []

    def login(u, t, **kw):
        row = {"ts": t, "user_id": u, "event": "login", "success": True, "ip": "203.0.113.7", "user_agent": UA_IPHONE,
               "device_id": f"dev-{u}", "lat": None, "lon": None, "country": None, "city": None, "amount": None}
        row.update(kw)
        logins.append(row)

    # u_travel: lives in Shanghai, commutes, then a login from Beijing 41 minutes after one in Shanghai.
    for d in range(14):
        for h, (la, lo) in ((8, SHANGHAI), (12, SH_WORK), (22, SHANGHAI)):
            locs.append({"ts": ts(d, h), "user_id": "u_travel", "lat": la + 0.001 * (d % 3), "lon": lo,
                         "accuracy_m": 30.0})
        login("u_travel", ts(d, 9), lat=SH_WORK[0], lon=SH_WORK[1], city="Shanghai", country="CN")
    login("u_travel", ts(10, 10), lat=SHANGHAI[0], lon=SHANGHAI[1], city="Shanghai", country="CN")
    login("u_travel", ts(10, 10, 41), lat=BEIJING[0], lon=BEIJING[1], city="Beijing", country="CN", ip="198.51.100.9",
          device_id="dev-travel-2")
    login("u_travel", ts(10, 11), event="withdraw", amount=12000.0, city="Beijing", country="CN", ip="198.51.100.9",
          device_id="dev-travel-2")
    devices.append({"ts": ts(0), "device_id": "dev-u_travel", "user_id": "u_travel", "model": "iPhone14,2", "os": "iOS",
                    "os_version": "17.5", "is_emulator": False, "is_rooted": False, "has_hook": False,
                    "device_lock": True})
    # u_xss: hostile strings everywhere, on an emulator.
    for d in range(5):
        login("u_xss", ts(d, 14), user_agent=XSS_UA, device_id=XSS_DEVICE, city=XSS_CITY, country="FR",
              ip="192.0.2.66", lat=48.8566, lon=2.3522)
    login("u_xss", ts(2, 15), success=False, user_agent=XSS_UA, device_id=XSS_DEVICE, city=XSS_CITY, ip="192.0.2.66")
    devices.append({"ts": ts(0), "device_id": XSS_DEVICE, "user_id": "u_xss", "model": "<i>sdk_gphone64</i>",
                    "os": "Android", "os_version": "14", "is_emulator": True, "is_rooted": True, "has_hook": False,
                    "device_lock": False})
    # u_bot and u_clean
    for d in range(3):
        login("u_bot", ts(d, 3), user_agent="python-requests/2.31", device_id=None, ip="192.0.2.200")
        login("u_clean", ts(d, 9), user_agent=UA_ANDROID, device_id="dev-clean")
    # filler users with a few events each
    rnd = random.Random(7)
    for k in range(n_filler):
        u = f"user{k:03d}"
        for d in range(4):
            login(u, ts(d, rnd.randint(0, 23)), device_id=f"dev-{k % 40}", user_agent=UA_ANDROID,
                  lat=31.2 + rnd.random() * 0.1, lon=121.4 + rnd.random() * 0.1)
    return logins, devices, locs


def _finding(fid, u, rule, family, sev, points, first, last, summary, evidence, device_id=None, ip=None) -> dict:
    return {"finding_id": fid, "user_id": u, "rule": rule, "family": family, "severity": sev, "points": points,
            "first_ts": first, "last_ts": last, "device_id": device_id, "ip": ip, "evidence": json.dumps(evidence),
            "summary": summary}


def _findings(n_filler: int) -> list[dict]:
    f = [
        _finding("f-travel-1", "u_travel", "geo.impossible_travel", "geo", "high", -30, ts(10, 10), ts(10, 10, 41),
                 "Login from Beijing 1,068 km after Shanghai 41 min earlier (1,563 km/h)",
                 {"from": "Shanghai", "to": "Beijing", "from_lat": SHANGHAI[0], "from_lon": SHANGHAI[1],
                  "to_lat": BEIJING[0], "to_lon": BEIJING[1], "distance_km": 1068.0, "minutes": 41.0,
                  "speed_kmh": 1563.0}),
        _finding("f-travel-2", "u_travel", "device.new_device_sensitive", "fingerprint", "medium", -20, ts(10, 10, 41),
                 ts(10, 11), "withdraw 19 min after the first sign-in from device dev-travel-2",
                 {"event": "withdraw", "minutes": 19}, device_id="dev-travel-2"),
        _finding("f-travel-3", "u_travel", "device.stable_main", "fingerprint", "info", 20, ts(0, 9), ts(13, 9),
                 "Main device dev-u_travel in use for 190 days", {"days": 190}, device_id="dev-u_travel"),
        _finding("f-xss-1", "u_xss", "device.emulator", "fingerprint", "critical", -80, ts(0, 14), ts(4, 14),
                 f"Emulator reported by device {XSS_DEVICE} ({XSS_UA})",
                 {"model": "<i>sdk_gphone64</i>", "user_agent": XSS_UA}, device_id=XSS_DEVICE),
        _finding("f-xss-2", "u_xss", "device.bot_agent", "fingerprint", "high", -60, ts(0, 14), ts(4, 14),
                 f"Sign-in with automation user agent {XSS_UA} in {XSS_CITY}", {"user_agent": XSS_UA},
                 device_id=XSS_DEVICE),
        _finding("f-bot-1", "u_bot", "device.bot_agent", "fingerprint", "high", -60, ts(0, 3), ts(2, 3),
                 "Sign-ins with HTTP library user agent python-requests/2.31", {"user_agent": "python-requests/2.31"}),
        _finding("f-ip-1", None, "ip.spray", "fingerprint", "medium", 0, ts(1, 2), ts(1, 2, 40),
                 "IP 192.0.2.200 failed logins on 14 accounts within 40 min", {"accounts": 14}, ip="192.0.2.200"),
    ]
    rnd = random.Random(11)
    for k in range(n_filler):
        if k % 4 == 3:
            continue  # some users have no findings
        for j in range(1 + k % 3):
            rule, fam, sev, pts = RULES[rnd.randrange(len(RULES))]
            d = rnd.randint(0, 3)
            f.append(_finding(f"f-{k:03d}-{j}", f"user{k:03d}", rule, fam, sev, pts, ts(d, 5), ts(d, 6),
                              f"{rule} for user{k:03d}", {"k": k, "j": j}))
    return f


def frames(n_filler: int = 40) -> dict[str, pl.DataFrame]:
    logins, devices, locs = _events(n_filler)
    return {"logins": pl.DataFrame(logins, infer_schema_length=None),
            "devices": pl.DataFrame(devices, infer_schema_length=None),
            "locations": pl.DataFrame(locs, infer_schema_length=None)}


def make_result(cfg: Config | None = None, n_filler: int = 40, decisions: pl.DataFrame | None = None) -> ScanResult:
    """A scan result of a tiny demo-like data set, with hostile strings in one user's logs (and ``decisions``:
    the latest decision per finding, as :func:`fraud.scoring.score_users` takes them)."""
    cfg = cfg or load_config()
    fr = frames(n_filler)
    ctx = ScanContext.from_frames(cfg, **fr)
    findings = pl.DataFrame(_findings(n_filler), schema=FINDINGS_SCHEMA)
    users = ctx.users().collect()
    scores_in = pl.DataFrame({"user_id": ["u_travel", "u_xss"], "score": [712, 655]})
    scores, findings = score_users(findings, users, scores_in, cfg, decisions)
    prof = users.join(pl.DataFrame({
        "user_id": ["u_travel", "u_xss"], "home_lat": [SHANGHAI[0], None], "home_lon": [SHANGHAI[1], None],
        "home_city": ["Shanghai", XSS_CITY], "work_lat": [SH_WORK[0], None], "work_lon": [SH_WORK[1], None],
        "work_city": ["Shanghai", None], "timezone": ["Asia/Shanghai", "Europe/Paris"],
        "main_device_id": ["dev-u_travel", XSS_DEVICE], "main_device_days": [190, 4]}), on="user_id", how="left")
    prof = prof.select([pl.col(c).cast(t) if c in prof.columns else pl.lit(None, t).alias(c)
                        for c, t in PROFILES_SCHEMA.items()])
    summary = {
        "tool": "fraud", "config": "defaults",
        "inputs": {k: {"files": [f"{k}.csv"], "rows_read": v.height + (2 if k == "logins" else 0),
                       "rows_used": v.height, "rows_rejected": 2 if k == "logins" else 0} for k, v in fr.items()},
        "rows_read": sum(v.height for v in fr.values()) + 2, "rows_rejected": 2, "users": scores.height,
        "findings": {"total": findings.height},
        "checks": {"geo.impossible_travel": {"status": "ok", "findings": 1},
                   "behavior.sigma": {"status": "not evaluated", "reason": "no user has 7 active days"}},
        "timings_s": {"read": 0.05, "fingerprint": 0.12, "geo": 0.2, "behavior": 0.08, "score": 0.01,
                      "profiles": 0.02, "total": 0.5},
    }
    return ScanResult(findings=findings, scores=scores, profiles=prof, rejected=pl.DataFrame(), summary=summary,
                      context=ctx)


def write_inputs(folder: Path, n_filler: int = 10) -> Path:
    """The same inputs as CSV files in ``folder`` (plus one unparseable login row)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames(n_filler).items():
        df = df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        df.write_csv(folder / f"{name}.csv")
    with (folder / "logins.csv").open("a") as fh:
        fh.write("not-a-time,u_bad,login,true,,,,,,,,\n")
    pl.DataFrame({"user_id": ["u_travel", "u_xss"], "score": [712, 655]}).write_csv(folder / "scores.csv")
    return folder
