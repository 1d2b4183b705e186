"""Canonical column sets of the inputs and outputs (contract sections 1 and 2)."""
from __future__ import annotations

import re

from dataclasses import dataclass

import polars as pl

TS = pl.Datetime("us", "UTC")

# rejected.csv: one row per input row set aside, with where it came from and why; ``raw`` previews the row.
REJECTED_COLUMNS = {"input": pl.String, "file": pl.String, "row": pl.Int64, "reason": pl.String, "raw": pl.String}
RAW_PREVIEW_CHARS = 300

# The event kinds of the logins input the contract names (section 1); the rules read these and the config's
# sensitive and payment events.
EVENT_KINDS = ("login", "logout", "payment", "withdraw", "password_change", "bind_card", "phone_change")

# Logical types of input columns; `inputs.py` parses raw values into these.
STRING, FLOAT, BOOL, TIMESTAMP, INT = "string", "float", "bool", "timestamp", "int"
DTYPES = {STRING: pl.String, FLOAT: pl.Float64, BOOL: pl.Boolean, TIMESTAMP: TS, INT: pl.Int64}


@dataclass(frozen=True)
class InputSchema:
    """One input kind: its canonical columns (name -> logical type), required ones and defaults."""

    kind: str
    columns: dict[str, str]
    required: tuple[str, ...]
    defaults: dict[str, object]
    # Closed numeric ranges; a value outside is a rejected row.
    ranges: dict[str, tuple[float, float]]

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c: DTYPES[t] for c, t in self.columns.items()}


INPUT_SCHEMAS: dict[str, InputSchema] = {
    "logins": InputSchema(
        "logins",
        {"ts": TIMESTAMP, "user_id": STRING, "event": STRING, "success": BOOL, "ip": STRING, "user_agent": STRING,
         "device_id": STRING, "lat": FLOAT, "lon": FLOAT, "country": STRING, "city": STRING, "amount": FLOAT},
        required=("ts", "user_id"),
        defaults={"event": "login", "success": True},
        # amount: beyond any payment in any currency (1e15 IDR is ~60 billion USD), so 1e308 is a bad row, not money
        ranges={"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "amount": (-1e15, 1e15)},
    ),
    "devices": InputSchema(
        "devices",
        {"ts": TIMESTAMP, "device_id": STRING, "user_id": STRING, "imei": STRING, "mac": STRING, "hw_uuid": STRING,
         "model": STRING, "os": STRING, "os_version": STRING, "is_emulator": BOOL, "is_rooted": BOOL,
         "has_hook": BOOL, "device_lock": BOOL},
        required=("ts", "device_id"),
        defaults={},
        ranges={},
    ),
    "locations": InputSchema(
        "locations",
        {"ts": TIMESTAMP, "user_id": STRING, "lat": FLOAT, "lon": FLOAT, "accuracy_m": FLOAT},
        required=("ts", "user_id", "lat", "lon"),
        defaults={},
        ranges={"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "accuracy_m": (0.0, 1e7)},
    ),
    "scores": InputSchema(
        "scores",
        {"user_id": STRING, "score": INT, "registered_city": STRING, "registered_country": STRING,
         # Optional sub-scores (0-100) of the modelled system's six dimensions, for `--composite`.
         "payment": FLOAT, "social": FLOAT, "consumption": FLOAT, "location": FLOAT, "device": FLOAT,
         "complaints": FLOAT},
        required=("user_id", "score"),
        defaults={},
        ranges={"score": (300, 850), **{d: (0.0, 100.0) for d in ("payment", "social", "consumption", "location",
                                                                   "device", "complaints")}},
    ),
    "decisions": InputSchema(
        "decisions",
        {"finding_id": STRING, "decision": STRING, "decided_at": TIMESTAMP, "reviewer": STRING, "note": STRING},
        required=("finding_id", "decision", "decided_at"),
        defaults={},
        ranges={},
    ),
}

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.String, "user_id": pl.String, "rule": pl.String, "family": pl.String,
    "severity": pl.String, "points": pl.Int64, "first_ts": TS, "last_ts": TS, "device_id": pl.String,
    "ip": pl.String, "evidence": pl.String, "summary": pl.String,
}
# What a check returns: the findings columns the pipeline does not fill itself.
CHECK_COLUMNS: dict[str, pl.DataType] = {
    k: v for k, v in FINDINGS_SCHEMA.items() if k not in ("finding_id", "family")
}

SCORES_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String, "score_before": pl.Int64, "penalty": pl.Int64, "bonus": pl.Int64,
    "score_after": pl.Int64, "tier_before": pl.String, "tier_after": pl.String, "n_findings": pl.Int64,
    "top_rule": pl.String, "observation_until": TS,
}

PROFILES_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String, "home_lat": pl.Float64, "home_lon": pl.Float64, "home_city": pl.String,
    "work_lat": pl.Float64, "work_lon": pl.Float64, "work_city": pl.String, "timezone": pl.String,
    "main_device_id": pl.String, "main_device_days": pl.Int64,
}

SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


# name -> (unit, meaning): the documented user-day features of the behaviour rules (README table; computed by
# fraud.detectors.features). Here so the config can check its feature lists without importing the detectors.
DAY_FEATURES: dict[str, tuple[str, str]] = {
    "events": ("count", "account events of the day (every logins row)"),
    "logins": ("count", "successful `login` events"),
    "failures": ("count", "failed `login` events"),
    "distinct_ips": ("count", "distinct IPs (null when no event carries an ip)"),
    "distinct_devices": ("count", "distinct device_ids (null when no event carries one)"),
    "new_devices": ("count", "device_ids whose first event for this user in the data is on this day"),
    "distinct_countries": ("count", "distinct `country` names (null when no event carries one)"),
    "distinct_cities": ("count", "distinct `city` names (null when no event carries one)"),
    "night_share": ("fraction 0-1", "share of events at local night time (night_start_hour to night_end_hour)"),
    "hour_spread_h": ("hours", "population standard deviation of the events' local clock time (missing on a "
                               "day with one event: one time has no spread)"),
    "distance_km": ("km", "great-circle distance between consecutive positions of the day (null: no position)"),
    "top_speed_kmh": ("km/h", "highest speed between consecutive positions of the day (null: < 2 positions)"),
    "payments": ("count", "`payment_events` (payment, withdraw) of the day"),
    "amount": ("currency", "sum of `amount` over those events, a declined one (`success` false) as 0: money moved "
                           "(0 without payments; null if none has one)"),
}


# What a header may differ by from the column it names (besides case): spaces, underscores, hyphens, dots, brackets,
# slashes and colons (userId, User-Agent, "Accuracy (m)"); a control or invisible character is no such difference.
HEADER_STYLE_CHARS = r"[\s_\-.()\[\]/:]+"


def squashed_expr(e: pl.Expr) -> pl.Expr:
    """:func:`squashed` on a column of header names (a rejected row's raw keys)."""
    return e.str.to_lowercase().str.replace_all(HEADER_STYLE_CHARS, "")


def squashed(name: str) -> str:
    """A header name in lower case without :data:`HEADER_STYLE_CHARS`: ``userId``, ``User-Agent`` and
    ``user_agent`` are ``userid``, ``useragent``. A control or invisible character stays (a UTF-16 file read as
    bytes, a zero-width space in a name: the missing-column error shows it)."""
    return re.sub(HEADER_STYLE_CHARS, "", name.lower())
