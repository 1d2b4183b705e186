"""Configuration: the default rules file shipped in the package, overridden by a user TOML file.

Everything a check compares against (thresholds, windows, points) lives here, never in check code. Loading
validates the user file against the defaults: an unknown top-level key, rule id or rule key, a value of the
wrong type or an unknown time zone is a :class:`~fraud.errors.ConfigError` that names it. Every number (also
inside lists and inline tables) must be finite; points (``points``, ``points_*``, ``*_points``) and scores are
whole numbers, points within +-1000; durations (scalar keys ending in ``_days``, ``_hours``, ``_minutes``) lie
in 0..36,500 days; shares (keys ending in ``_share``) in 0..1, ``contamination`` in (0, 0.5]; factors (``_ratio``)
at least 1.
"""
from __future__ import annotations

import copy
import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from fraud.errors import ConfigError
from fraud.schema import DAY_FEATURES, EVENT_KINDS, INPUT_SCHEMAS, SEVERITY_ORDER

SEVERITIES = SEVERITY_ORDER
FAMILIES = ("fingerprint", "geo", "behavior")
RULE_CORE_KEYS = ("family", "severity", "points", "window_days", "enabled")
# Numeric sanity limits checked at load (beyond finiteness, which every number must have).
MAX_ABS_POINTS = 1000
MAX_DURATION_DAYS = 36_500
MAX_DISTANCE_KM = 40_075  # the equator: no distance setting can mean more
MAX_SPEED_KMH = 1_079_252_849  # the speed of light
DURATION_UNITS = {"_days": ("days", 1), "_hours": ("hours", 24), "_minutes": ("minutes", 24 * 60)}
# Durations that are windows: 0 would be an empty window (Polars refuses a rolling one mid-scan; the others switched
# their rule off while it reported "ok")
WINDOW_KEYS = frozenset({"window_days", "baseline_days", "window_minutes", "failure_window_minutes", "within_days",
                         "within_hours", "window_hours", "success_within_minutes"})
# Settings that mean nothing at 0 or below: a 0 sd floor made z = 0/0 = NaN on a flat baseline, which fired on every
# user-day; a z threshold of 0 fires on every day; a 0 m place radius divides by zero; a speed limit of 0 makes
# every move impossible. (min_sd_by_feature's values too.)
POSITIVE_KEYS = frozenset({"min_sd", "z_threshold", "place_radius_m", "max_speed_kmh"})
HOUR_KEYS = frozenset({"night_start_hour", "night_end_hour"})  # clock hours 0..24
SCORE_KEYS = ("min_score", "default_score", "max_score")
# Counts: whole numbers, at least 1 for a "how many make a finding" minimum (min_accounts = 0 would flag every IP
# with one failure), at least 0 for a maximum ("more than max_devices").
MIN_COUNT_KEYS = frozenset({"min_accounts", "min_events", "min_failures", "min_home_nights", "min_logins",
                            "min_nights", "min_users", "min_work_days", "min_baseline_days", "min_history_days",
                            "consecutive_days", "max_exclusion_passes", "top_features", "max_per_user"})
MAX_COUNT_KEYS = frozenset({"max_accounts", "max_changes", "max_devices", "max_moves", "min_length", "report_top_n"})


@dataclass(frozen=True)
class Rule:
    """One rule's effective settings: the core keys plus its thresholds (``rule["max_speed_kmh"]``)."""

    id: str
    family: str
    severity: str
    points: int
    window_days: float
    enabled: bool
    params: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.params[key]
        except KeyError:
            raise ConfigError(f"rule {self.id!r} has no setting {key!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "severity": self.severity, "points": self.points,
                "window_days": self.window_days, "enabled": self.enabled, **self.params}


@dataclass(frozen=True)
class Config:
    """Effective configuration of a scan (defaults merged with the user's file)."""

    timezone: str
    default_score: int
    min_score: int
    max_score: int
    tiers: dict[str, int]
    dismiss_cap_share: float
    observation_days: int
    report_top_n: int
    geoip_db: str
    ip_city_accuracy_km: float
    city_name_accuracy_km: float
    device_session_minutes: float
    composite_weights: dict[str, float]
    columns: dict[str, str | list[str]]
    rules: dict[str, Rule]
    source: str = "defaults"
    # [events]: an export's event name (keyword-normalised) -> the contract event kind it is, or "failed_login"
    events: dict[str, str] = field(default_factory=dict)
    # timestamp_formats: the user's own timestamp patterns, tried before the built-in notations
    timestamp_formats: tuple[str, ...] = ()
    # [columns.<kind>]: one input kind's own mapping, over [columns]
    kind_columns: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
    # [outcomes]: what the logins' success column's own values mean (Entra's errorCode 0, an HTTP status 200)
    outcomes: "Outcomes" = field(default_factory=lambda: Outcomes())

    def columns_for(self, kind: str) -> dict[str, str | list[str]]:
        """The column mapping of one input kind: ``[columns]`` with ``[columns.<kind>]`` over it."""
        return {**self.columns, **self.kind_columns.get(kind, {})}

    def sources_of(self, canonical) -> set[str]:
        """The file column names ``[columns]`` (and every ``[columns.<kind>]``) map onto the ``canonical`` columns."""
        return {src for t in (self.columns, *self.kind_columns.values()) for canon, v in t.items()
                if canon in canonical for src in _sources(v)}

    def reader_events(self) -> dict[str, str]:
        """Event names the reader renames to a contract kind: the built-in :data:`EVENT_SYNONYMS` but those a
        rule's own event list reads (a config naming ``change_password`` in ``sensitive_events`` keeps reading
        it, as itself), and ``[events]`` over them."""
        read = {n for r in self.rules.values() for k in EVENT_LIST_KEYS for n in r.params.get(k, ())}
        # a rule's own names map onto themselves: the reader then knows them (fraud.parsing.squashed_onto)
        return {**{n: k for n, k in EVENT_SYNONYMS.items() if n not in read}, **{n: n for n in read}, **self.events}

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise ConfigError(f"unknown rule id {rule_id!r}") from None

    def tier_bands(self) -> list[tuple[str, int, int]]:
        """Tiers as (name, low, high) inclusive bands, lowest first."""
        items = sorted(self.tiers.items(), key=lambda kv: kv[1])
        return [(name, lo, (items[i + 1][1] - 1) if i + 1 < len(items) else self.max_score)
                for i, (name, lo) in enumerate(items)]


def _default_raw() -> dict[str, Any]:
    with resources.files("fraud").joinpath("rules.toml").open("rb") as fh:
        return tomllib.load(fh)


@lru_cache(maxsize=1)
def rule_ids() -> frozenset[str]:
    """The contract's rule ids: those of the shipped rules table (a config cannot add any)."""
    return frozenset(_default_raw()["rules"])


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "table"}.get(type(v), type(v).__name__)


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def _merge(defaults: dict[str, Any], user: dict[str, Any], where: str) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in user.items():
        if key in ("columns", "events", "outcomes"):
            merged[key] = value
            continue
        if key not in defaults:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(defaults))}, columns, "
                              "events, outcomes)")
        if key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [rules] must be a table")
            for rid, table in value.items():
                if rid not in defaults["rules"]:
                    raise ConfigError(f"{where}: unknown rule id {rid!r}")
                if not isinstance(table, dict):
                    raise ConfigError(f"{where}: rules.{rid!r} must be a table")
                for k, v in table.items():
                    if k not in defaults["rules"][rid]:
                        raise ConfigError(f"{where}: unknown key {k!r} for rule {rid!r} "
                                          f"(known: {', '.join(sorted(defaults['rules'][rid]))})")
                    if not _same_type(defaults["rules"][rid][k], v):
                        raise ConfigError(f"{where}: rule {rid!r} key {k!r} must be of type "
                                          f"{_type_name(defaults['rules'][rid][k])}, got {v!r}")
                    if k in FIXED_RULE_KEYS and v != defaults["rules"][rid][k]:
                        # contract section 3 gives each rule id its family (composite scores sum points by it)
                        raise ConfigError(f"{where}: rule {rid!r} key {k!r} is fixed by the contract "
                                          f"({defaults['rules'][rid][k]!r}), got {v!r}")
                    merged["rules"][rid][k] = v
                _flatten_band(merged["rules"][rid], table)
        elif key == "composite_weights":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: composite_weights must be a table of dimension = weight")
            unknown = sorted(set(value) - set(defaults[key]))
            if unknown:
                raise ConfigError(f"{where}: unknown composite dimension {unknown[0]!r} "
                                  f"(known: {', '.join(defaults[key])})")
            merged[key] = {**defaults[key], **value}
        elif key == "tiers":
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{where}: tiers must be a table of name = lower bound")
            merged["tiers"] = value
        else:
            if key == "timestamp_formats" and isinstance(value, str):  # one pattern without the brackets
                value = [value]
            if not _same_type(defaults[key], value):
                raise ConfigError(f"{where}: key {key!r} must be of type {_type_name(defaults[key])}, got {value!r}")
            merged[key] = value
    return merged


BAND_KEYS = ("points_min", "points_max")
FIXED_RULE_KEYS = ("family",)  # may be restated, not changed


def _flatten_band(rule: dict[str, Any], user: dict[str, Any]) -> None:
    """A rule whose points scale inside a band (``points_min``..``points_max``, ``device.emulator``) keeps
    ``points`` as its nominal value; a config that sets ``points`` and neither band end asks for that number, so
    every finding of the rule scores it (the band shrinks to it)."""
    if "points" in user and all(k in rule and k not in user for k in BAND_KEYS):
        for k in BAND_KEYS:
            rule[k] = user["points"]


def _is_points_key(key: str) -> bool:
    return key == "points" or key.startswith("points_") or key.endswith("_points")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_finite(value: Any, name: str, owner: str, where: str) -> None:
    """Every number in ``value`` (recursing into lists and tables) must be finite; errors name the key path."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{name}.{k}", owner, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{name}[{i}]", owner, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {owner}key {name!r} must be a finite number, got {value!r}")


def _check_number(key: str, value: Any, owner: str, where: str) -> None:
    """Range checks of one finite scalar by what its key name says it is; unknown kinds are left alone."""
    if not _is_number(value):
        return
    bad = f"{where}: {owner}key {key!r} must be"
    if _is_points_key(key) or key in SCORE_KEYS:
        if value != int(value):
            raise ConfigError(f"{bad} a whole number, got {value!r}")
        if key not in SCORE_KEYS and abs(value) > MAX_ABS_POINTS:
            raise ConfigError(f"{bad} within -{MAX_ABS_POINTS}..{MAX_ABS_POINTS}, got {value!r}")
    for suffix, (unit, per_day) in DURATION_UNITS.items():
        if key.endswith(suffix) and not 0 <= value <= MAX_DURATION_DAYS * per_day:
            raise ConfigError(f"{bad} between 0 and {MAX_DURATION_DAYS * per_day} {unit}, got {value!r}")
        if key.endswith(suffix) and key in WINDOW_KEYS and value <= 0:
            raise ConfigError(f"{bad} above 0 {unit} (a rolling window), got {value!r}")
    if key.endswith("_km") and not 0 <= value <= MAX_DISTANCE_KM:
        raise ConfigError(f"{bad} a distance between 0 and {MAX_DISTANCE_KM:,} km, got {value!r}")
    if key.endswith("_m") and not 0 <= value <= MAX_DISTANCE_KM * 1000:
        raise ConfigError(f"{bad} a distance between 0 and {MAX_DISTANCE_KM * 1000:,} m, got {value!r}")
    if key.endswith("_kmh") and not 0 <= value <= MAX_SPEED_KMH:
        raise ConfigError(f"{bad} a speed between 0 and {MAX_SPEED_KMH:,} km/h, got {value!r}")
    if key.endswith("_share") and not 0 <= value <= 1:
        raise ConfigError(f"{bad} a share between 0 and 1, got {value!r}")
    if key == "contamination" and not 0 < value <= 0.5:
        # PyOD's range: a share of 0 or above a half is refused mid-scan (a traceback, no outputs)
        raise ConfigError(f"{bad} above 0 and at most 0.5 (the share of outliers), got {value!r}")
    if key.endswith("_ratio") and value < 1:
        raise ConfigError(f"{bad} a factor of at least 1, got {value!r}")
    if key in POSITIVE_KEYS and value <= 0:
        raise ConfigError(f"{bad} above 0, got {value!r}")
    if key in HOUR_KEYS and not 0 <= value <= 24:
        raise ConfigError(f"{bad} a clock hour between 0 and 24, got {value!r}")
    if key == "seed" and (value != int(value) or value < 0):
        raise ConfigError(f"{bad} a whole number of at least 0 (a random seed), got {value!r}")
    if key == "n_jobs" and (value != int(value) or not (value == -1 or value >= 1)):
        raise ConfigError(f"{bad} -1 (every core) or a whole number of at least 1 (threads), got {value!r}")
    if key in MIN_COUNT_KEYS | MAX_COUNT_KEYS:
        least = 1 if key in MIN_COUNT_KEYS else 0
        if value != int(value) or value < least:
            raise ConfigError(f"{bad} a whole number of at least {least} (a count), got {value!r}")


def _validate_numbers(raw: dict[str, Any], where: str) -> None:
    """Reject numbers that cannot be meant: non-finite anywhere, fractional or huge points, negative or huge
    durations, shares outside 0..1 (top-level keys, composite weights, tiers and every rule's keys)."""
    for key, value in raw.items():
        if key in ("rules", "columns", "events"):
            continue
        _check_finite(value, key, "", where)
        _check_number(key, value, "", where)
    for rid, table in raw["rules"].items():
        owner = f"rule {rid!r} "
        for key, value in table.items():
            _check_finite(value, key, owner, where)
            _check_number(key, value, owner, where)
            if key == "min_sd_by_feature" and isinstance(value, dict):  # each a floor of an sd, as min_sd
                for name, floor in value.items():
                    if _is_number(floor) and floor <= 0:
                        raise ConfigError(f"{where}: {owner}key {key!r} must hold floors above 0, got {name} = "
                                          f"{floor!r}")


def _validate_columns(columns: Any, where: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``[columns]``: canonical = source column for every input kind, and per-kind tables (``[columns.devices]``)
    whose names win for that kind's files (app logins write ``event_time`` where SDK snapshots write
    ``timestamp``). Returns (every kind's, per kind's)."""
    if not isinstance(columns, dict):
        raise ConfigError(f"{where}: [columns] must be a table of canonical = source column")
    # a value is a source name or a list of alternatives (Android's android_id, iOS's identifierForVendor)
    common = {k: v for k, v in columns.items() if not isinstance(v, dict)}
    per_kind = {k: v for k, v in columns.items() if isinstance(v, dict)}
    _check_names(common, {c for schema in INPUT_SCHEMAS.values() for c in schema.columns}, "[columns]", where)
    _check_sources(common, "[columns]", where)
    for kind, table in per_kind.items():
        if kind not in INPUT_SCHEMAS:
            raise ConfigError(f"{where}: [columns.{kind}] names no input kind (known: {', '.join(INPUT_SCHEMAS)})")
        _check_names(table, set(INPUT_SCHEMAS[kind].columns), f"[columns.{kind}]", where)
        _check_sources(table, f"[columns.{kind}]", where)
        _check_sources({**common, **table}, f"[columns] with [columns.{kind}]", where)
    return dict(common), {k: dict(v) for k, v in per_kind.items()}


def _sources(src: Any) -> list:
    """A mapping's source names: one, or a list of alternatives (the first a file has is read)."""
    return list(src) if isinstance(src, list) else [src]


def _check_names(table: dict[str, Any], known: set[str], what: str, where: str) -> None:
    """Every canonical column of ``table`` is one of ``known`` and maps to a name or a list of names."""
    for canon, src in table.items():
        if canon not in known:
            raise ConfigError(f"{where}: {what} names unknown canonical column {canon!r}")
        if not _sources(src) or not all(isinstance(s, str) and s for s in _sources(src)):
            raise ConfigError(f"{where}: {what} {canon!r} must map to a column name or a list of them")


def _check_sources(table: dict[str, Any], what: str, where: str) -> None:
    """No source name of ``table`` serves two canonical columns."""
    by_source: dict[str, list[str]] = {}
    for canon, src in table.items():
        for s in _sources(src):
            by_source.setdefault(s, []).append(canon)
    for src, canons in by_source.items():
        if len(canons) > 1:
            raise ConfigError(f"{where}: {what} maps {' and '.join(repr(c) for c in canons)} onto the same source "
                              f"column {src!r}")


EVENT_TARGETS = (*EVENT_KINDS, "failed_login")


# Event names compare trimmed, CamelCase words apart, in lower case, with runs of spaces and hyphens as one "_"
# ("PasswordChange", "Password Change", "bind-card"): the reader's expression (fraud.parsing.event_keyword) and
# the config's [events] names use these patterns.
EVENT_NAME_GAPS = r"[\s\-]+"
EVENT_CAMEL_CASE = r"([a-z])([A-Z])"


def event_key(name: str) -> str:
    """An event name as the reader compares it (:data:`EVENT_CAMEL_CASE`, :data:`EVENT_NAME_GAPS`)."""
    return re.sub(EVENT_NAME_GAPS, "_", re.sub(EVENT_CAMEL_CASE, r"\1_\2", name.strip()).lower())


OUTCOME_OTHER = ("reject", "success", "failure")


@dataclass(frozen=True)
class Outcomes:
    """``[outcomes]``: the values of the logins' ``success`` column that mean a success or a failure besides the
    built-in words (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``SUCCESS``/``FAILURE`` ...), over them (Entra's
    ``status.errorCode`` is 0 on success: ``success = ["0"]``), and what every other value means: ``reject`` (the
    row is rejected, as a bad boolean; the default), ``failure`` (Entra's error codes, an HTTP status 401) or
    ``success``. Values compare trimmed and in lower case."""

    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    other: str = "reject"

    def __bool__(self) -> bool:
        return bool(self.success or self.failure or self.other != "reject")


def _validate_outcomes(table: Any, where: str) -> Outcomes:
    """``[outcomes]``: ``success`` and ``failure`` lists of values (text or whole numbers), ``other`` one of
    :data:`OUTCOME_OTHER`; an unknown key, a value listed under both, or another type is an error naming it."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [outcomes] must be a table (success = [...], failure = [...], other = ...)")
    unknown = sorted(set(table) - {"success", "failure", "other"})
    if unknown:
        raise ConfigError(f"{where}: [outcomes] unknown key {unknown[0]!r} (known: success, failure, other)")
    lists = {}
    for key in ("success", "failure"):
        values = table.get(key, [])
        if not isinstance(values, list) or not all(
                (isinstance(v, str) and v.strip()) or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
            raise ConfigError(f"{where}: [outcomes] {key} must be a list of values (text or whole numbers), "
                              f"got {values!r}")
        lists[key] = tuple(dict.fromkeys(str(v).strip().lower() for v in values))
    both = sorted(set(lists["success"]) & set(lists["failure"]))
    if both:
        raise ConfigError(f"{where}: [outcomes] lists {both[0]!r} under both success and failure")
    other = table.get("other", "reject")
    if other not in OUTCOME_OTHER:
        raise ConfigError(f"{where}: [outcomes] other must be one of {', '.join(OUTCOME_OTHER)}, got {other!r}")
    return Outcomes(success=lists["success"], failure=lists["failure"], other=other)


def _validate_events(events: Any, where: str) -> dict[str, str]:
    """``[events]``: per contract event kind (or ``failed_login``), the list of an export's names for it (Auth0's
    ``s``/``fp``, Keycloak's ``UPDATE_PASSWORD``); returned as normalised name -> kind. An unknown kind, a name
    that is no text, or one name under two kinds is an error naming it."""
    if not isinstance(events, dict):
        raise ConfigError(f"{where}: [events] must be a table of event kind = [names]")
    out: dict[str, str] = {}
    for kind, names in events.items():
        if kind not in EVENT_TARGETS:
            raise ConfigError(f"{where}: [events] names unknown event kind {kind!r} (known: "
                              f"{', '.join(EVENT_TARGETS)})")
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ConfigError(f"{where}: [events] {kind!r} must be a list of event names")
        for n in names:
            key = event_key(n)
            if out.get(key, kind) != kind:
                raise ConfigError(f"{where}: [events] lists {n!r} under both {out[key]!r} and {kind!r}")
            out[key] = kind
    return out


PATTERN_LIST_KEYS = ("allowed_agents",)  # rule keys holding regular expressions (Rust regex syntax, as Polars)


def _validate_patterns(table: dict[str, Any], rid: str, where: str) -> None:
    """Each entry of a pattern list must be a string and a valid regular expression that does not match the
    empty text (``""``, ``.*``: it would match every value, so an allow-list of it switches its rule off);
    an error names it."""
    for key in PATTERN_LIST_KEYS:
        for i, p in enumerate(table.get(key, [])):
            if not isinstance(p, str):
                raise ConfigError(f"{where}: rule {rid!r} key {key!r}[{i}] must be a string, got {p!r}")
            try:
                empty = pl.select(pl.lit("").str.contains(p)).item()
            except Exception as e:  # noqa: BLE001 - Polars' regex error, said in one line
                raise ConfigError(f"{where}: rule {rid!r} key {key!r}[{i}] is no valid regular expression "
                                  f"{p!r} ({str(e).splitlines()[0]})") from None
            if empty:
                raise ConfigError(f"{where}: rule {rid!r} key {key!r}[{i}] {p!r} matches the empty text, so it "
                                  "matches every value (it would switch the rule off; leave the list empty to "
                                  "allow nothing, or disable the rule with enabled = false)")


# Rule keys holding lists that must not be empty (an empty one would switch the rule off while its status says
# "ok"; `enabled = false` does that openly) and what their items are.
# Other spellings of the contract's event kinds that exports write (after the keyword normalisation: CamelCase
# PasswordChange is password_change already): past tense, verb first, the noun. The config's [events] wins, and a
# name a rule's own event list reads (sensitive_events = ["change_password"]) is left as it is.
EVENT_SYNONYMS = {
    **dict.fromkeys(("password_changed", "change_password", "password_updated", "update_password"), "password_change"),
    **dict.fromkeys(("phone_changed", "change_phone", "phone_number_change", "phone_number_changed",
                     "change_phone_number", "update_phone", "phone_updated"), "phone_change"),
    **dict.fromkeys(("card_bound", "bind_bank_card", "card_binding", "add_card", "card_added", "link_card",
                     "card_linked"), "bind_card"),
    **dict.fromkeys(("withdrawal", "withdrawn", "cash_out", "cashout", "with_draw"), "withdraw"),
    # CamelCase LogOut, SignOut
    **dict.fromkeys(("log_out", "logged_out", "sign_out", "signout", "signed_out"), "logout"),
}

EVENT_LIST_KEYS = ("sensitive_events", "payment_events", "events")  # event names, compared as the reader does
HOUR_WINDOW_KEYS = ("night_hours", "work_hours", "arrival_hours")  # one local [start, end) window of whole hours
HOUR_WINDOW_LIST_KEYS = ("commute_hours",)  # a list of such windows
NAME_LIST_KEYS = ("features", "detectors")  # behaviour features (README table), PyOD detector names
FEATURE_TABLE_KEYS = ("min_sd_by_feature", "sd_sqrt_floor_by_feature", "min_day_events_by_feature")  # per feature


def _hour_window(value: Any, rid: str, key: str, where: str) -> list[int]:
    """A local ``[start, end)`` window of whole hours 0..24 (wrapping midnight when start > end)."""
    ok = (isinstance(value, list) and len(value) == 2 and all(_is_number(h) and h == int(h) and 0 <= h <= 24
                                                              for h in value) and value[0] != value[1])
    if not ok:
        raise ConfigError(f"{where}: rule {rid!r} key {key!r} must be a window [start, end) of two different whole "
                          f"hours 0-24 (e.g. [22, 6]), got {value!r}")
    return [int(h) for h in value]


def _known_names(key: str) -> tuple[str, ...] | None:
    """The names a :data:`NAME_LIST_KEYS` list may hold (None: detectors, checked by :func:`_check_detector`)."""
    return tuple(DAY_FEATURES) if key == "features" else None


def _check_detector(name: str, rid: str, where: str) -> None:
    """A PyOD detector name (``IForest``, ``module:Class``) must name a module of ``pyod.models`` (looked up on
    disk: importing PyOD takes a second; the class itself is checked when the detectors are built)."""
    from importlib.util import find_spec

    module = name.partition(":")[0] if ":" in name else name.lower()
    spec = find_spec("pyod")
    roots = list(spec.submodule_search_locations or []) if spec else []
    if name != "ECOD" and not (re.fullmatch(r"[a-z_][a-z0-9_]*", module)
                               and any((Path(r) / "models" / f"{module}.py").is_file() for r in roots)):
        raise ConfigError(f"{where}: rule {rid!r} key 'detectors' names unknown PyOD detector {name!r} (a class name "
                          "like 'IForest' or 'HBOS', or 'module:Class')")


def _validate_lists(table: dict[str, Any], rid: str, where: str) -> None:
    """The list-valued keys of one rule (see :data:`EVENT_LIST_KEYS` ...): not empty, items of the right kind and
    no item twice; event names normalised as the reader normalises the data's (``Bind Card`` -> ``bind_card``).
    Changes ``table`` in place."""
    def nonempty(key: str) -> list:
        value = table[key]
        if not value:
            raise ConfigError(f"{where}: rule {rid!r} key {key!r} must list at least one item (to switch the rule "
                              "off, set enabled = false)")
        return value

    for key in EVENT_LIST_KEYS:
        if key in table:
            names = nonempty(key)
            if not all(isinstance(n, str) and n.strip() for n in names):
                raise ConfigError(f"{where}: rule {rid!r} key {key!r} must be a list of event names, got {names!r}")
            table[key] = list(dict.fromkeys(event_key(n) for n in names))
    for key in HOUR_WINDOW_KEYS:
        if key in table:
            table[key] = _hour_window(table[key], rid, key, where)
    for key in HOUR_WINDOW_LIST_KEYS:
        if key in table:
            table[key] = [_hour_window(w, rid, key, where) for w in nonempty(key)]
    if "work_days" in table:
        days = nonempty("work_days")
        if not all(_is_number(d) and d == int(d) and 1 <= d <= 7 for d in days) or len(set(days)) != len(days):
            raise ConfigError(f"{where}: rule {rid!r} key 'work_days' must list different ISO day numbers 1-7 "
                              f"(Monday 1 .. Sunday 7), got {days!r}")
        table["work_days"] = [int(d) for d in days]
    for key in NAME_LIST_KEYS:
        if key in table:
            names = nonempty(key)
            known = _known_names(key)
            for n in names:
                if not isinstance(n, str) or not n.strip():
                    raise ConfigError(f"{where}: rule {rid!r} key {key!r} must be a list of names, got {n!r}")
                if known is not None and n not in known:
                    raise ConfigError(f"{where}: rule {rid!r} key {key!r} names unknown {key[:-1]} {n!r} (known: "
                                      f"{', '.join(known)})")
                if key == "detectors":
                    _check_detector(n, rid, where)
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ConfigError(f"{where}: rule {rid!r} key {key!r} lists {twice[0]!r} more than once")
    for key in FEATURE_TABLE_KEYS:
        for name in table.get(key, {}):
            if name not in DAY_FEATURES:
                raise ConfigError(f"{where}: rule {rid!r} key {key!r} names unknown feature {name!r} (known: "
                                  f"{', '.join(DAY_FEATURES)})")


# A date and time every pattern must write and read back (day 9 of month 3: a swapped pair shows).
_FORMAT_PROBE = datetime(2024, 3, 9, 14, 7, 5, tzinfo=timezone.utc)


def _validate_timestamp_formats(formats: list, where: str) -> tuple[str, ...]:
    """Each pattern must be a string that writes a date and time and reads it back to the minute: one that
    names no year, month, day, hour and minute (``%H:%M``), or that chrono cannot read, is an error naming it."""
    from fraud.timeparse import custom_timestamp

    for i, f in enumerate(formats):
        if not isinstance(f, str) or not f.strip():
            raise ConfigError(f"{where}: timestamp_formats[{i}] must be a non-empty string, got {f!r}")
        if "%Z" in f.replace("%%", ""):
            # chrono matches a zone name and drops it: "9:02 AM PST" read as 09:02 in `timezone`, hours off
            raise ConfigError(f"{where}: timestamp_formats[{i}] {f!r}: %Z (a zone name such as PST or CET) cannot "
                              "be read: such names stand for several zones and offsets. Use %z for a numeric offset "
                              "(+0800), or write a name that never changes as text (\"%I:%M %p UTC\") with the "
                              "zone in `timezone`")
        try:
            text = pl.select(pl.lit(_FORMAT_PROBE).dt.strftime(f)).item()
            back = pl.select(custom_timestamp(pl.lit(text), f, "UTC")).item()
        except Exception:  # noqa: BLE001 - Polars' (chrono's) own error for a bad pattern
            back = None
        if back is None or back.replace(second=0) != _FORMAT_PROBE.replace(second=0):
            raise ConfigError(f"{where}: timestamp_formats[{i}] {f!r} does not read a whole date and time (it "
                              "needs the year, month, day, hour and minute, e.g. \"%m/%d/%Y %H:%M:%S\")")
    return tuple(formats)


def _config_text(data: bytes) -> str:
    """A config file's text: UTF-8, with or without a byte-order mark, or UTF-16 with one (what Windows editors
    save), as the data inputs are read."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def load_config(path: str | Path | None = None) -> Config:
    """Load the default rules, overridden by the TOML file at ``path`` when given."""
    raw = _default_raw()
    where = "defaults"
    if path is not None:
        p = Path(path)
        where = str(p)
        try:
            user = tomllib.loads(_config_text(p.read_bytes()))
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read config file ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e})") from None
        except RecursionError:  # tomllib recurses per nesting level: 600 nested arrays in 1 KB
            raise ConfigError(f"{p}: not valid TOML (nested too deeply)") from None
        raw = _merge(raw, user, where)
    return _build(raw, where)


@lru_cache(maxsize=1)
def _shipped_points() -> dict[tuple[str, str], float]:
    """(rule id, points key) -> the shipped value (the rules table read once, not at every load)."""
    return {(rid, k): v for rid, table in _default_raw()["rules"].items() for k, v in table.items()
            if _is_points_key(k) and _is_number(v)}


def _validate_signs(raw: dict[str, Any], where: str) -> None:
    """A rule's points keep the sign of the shipped ones: a penalty (an emulator's -80) set to +10 was a bonus for
    an emulator, a bonus (a stable main device's +20) set below 0 a penalty for one (0 stays: an alert without
    points). And ``device.stable_main``'s ``min_days`` is at most its ``long_days`` (beyond, the tenure between them
    lost the longer tenure's bonus)."""
    shipped_points = _shipped_points()
    for rid, table in raw["rules"].items():
        for key, value in table.items():
            shipped = shipped_points.get((rid, key))
            if shipped is None or not _is_number(value):
                continue
            if shipped < 0 < value or shipped > 0 > value:
                kind, side = ("a penalty", "0 or below") if shipped < 0 else ("a bonus", "0 or above")
                raise ConfigError(f"{where}: rule {rid!r} key {key!r} is {kind} ({shipped:+g} shipped): must be "
                                  f"{side}, got {value!r}")
    main = raw["rules"].get("device.stable_main", {})
    if _is_number(main.get("min_days")) and _is_number(main.get("long_days")) and main["min_days"] > main["long_days"]:
        raise ConfigError(f"{where}: rule 'device.stable_main' key 'min_days' ({main['min_days']:g}) must be at most "
                          f"'long_days' ({main['long_days']:g})")


def _build(raw: dict[str, Any], where: str) -> Config:
    _validate_numbers(raw, where)
    _validate_signs(raw, where)
    try:
        ZoneInfo(raw["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {raw['timezone']!r} (use an IANA name such as "
                          "'Asia/Shanghai')") from None
    if not raw["min_score"] <= raw["default_score"] <= raw["max_score"]:
        raise ConfigError(f"{where}: default_score {raw['default_score']} outside "
                          f"{raw['min_score']}..{raw['max_score']}")
    for name, lo in raw["tiers"].items():
        if not isinstance(lo, int) or isinstance(lo, bool):
            raise ConfigError(f"{where}: tier {name!r} lower bound must be an integer, got {lo!r}")
    if min(raw["tiers"].values()) != raw["min_score"]:
        raise ConfigError(f"{where}: the lowest tier must start at min_score {raw['min_score']}")
    weights = raw["composite_weights"]
    if any(not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 for w in weights.values()) \
            or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ConfigError(f"{where}: composite_weights must be non-negative numbers summing to 1")
    rules = {}
    for rid, table in raw["rules"].items():
        t = dict(table)
        _validate_patterns(t, rid, where)
        _validate_lists(t, rid, where)
        if t["severity"] not in SEVERITIES:
            raise ConfigError(f"{where}: rule {rid!r} severity {t['severity']!r} not one of {', '.join(SEVERITIES)}")
        if t["family"] not in FAMILIES:
            raise ConfigError(f"{where}: rule {rid!r} family {t['family']!r} not one of {', '.join(FAMILIES)}")
        core = {k: t.pop(k) for k in RULE_CORE_KEYS}
        for k, v in t.items():  # whole-number points given as floats (-50.0) become ints
            if _is_points_key(k) and _is_number(v):
                t[k] = int(v)
        rules[rid] = Rule(id=rid, family=core["family"], severity=core["severity"], points=int(core["points"]),
                          window_days=float(core["window_days"]), enabled=bool(core["enabled"]), params=t)
    columns, kind_columns = _validate_columns(raw.get("columns", {}), where)
    return Config(timezone=raw["timezone"], default_score=int(raw["default_score"]),
                  min_score=int(raw["min_score"]), max_score=int(raw["max_score"]), tiers=dict(raw["tiers"]),
                  dismiss_cap_share=float(raw["dismiss_cap_share"]),
                  observation_days=int(raw["observation_days"]), report_top_n=int(raw["report_top_n"]),
                  geoip_db=raw["geoip_db"], composite_weights={k: float(v) for k, v in weights.items()},
                  columns=columns, kind_columns=kind_columns,
                  events=_validate_events(raw.get("events", {}), where),
                  outcomes=_validate_outcomes(raw.get("outcomes", {}), where),
                  timestamp_formats=_validate_timestamp_formats(raw["timestamp_formats"], where),
                  rules=rules, source=where, ip_city_accuracy_km=float(raw["ip_city_accuracy_km"]),
                  city_name_accuracy_km=float(raw["city_name_accuracy_km"]),
                  device_session_minutes=float(raw["device_session_minutes"]))
