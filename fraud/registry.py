"""The one registry of checks. Each check is a pure function of the scan context returning a LazyFrame of
findings (see :func:`fraud.findings.emit`); no I/O and no ``collect()`` inside.

Modules register their checks at import; :func:`all_checks` imports the three family packages.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

FAMILY_PACKAGES = ("fraud.fingerprint", "fraud.geo", "fraud.detectors")


class NotEvaluated(Exception):  # noqa: N818 - a status, not a failure
    """Raised by a check that cannot evaluate on the given inputs (missing input or column); never "clean"."""


@dataclass(frozen=True)
class Check:
    """A registered check: its name, the rule ids it emits, its family and the inputs it needs."""

    name: str
    rules: tuple[str, ...]
    family: str
    needs: tuple[str, ...]
    fn: Callable[..., pl.LazyFrame]


REGISTRY: dict[str, Check] = {}
ProfilePart = Callable[..., pl.LazyFrame]
PROFILE_PARTS: dict[str, ProfilePart] = {}


def register(name: str, *, rules: tuple[str, ...] | str, family: str, needs: tuple[str, ...] = ("logins",)):
    """Decorator: add ``fn(ctx) -> LazyFrame`` of findings to the registry under ``name``."""
    rule_ids = (rules,) if isinstance(rules, str) else tuple(rules)

    def deco(fn):
        REGISTRY[name] = Check(name=name, rules=rule_ids, family=family, needs=tuple(needs), fn=fn)
        return fn

    return deco


def profile_part(name: str):
    """Decorator: ``fn(ctx) -> LazyFrame`` keyed by ``user_id`` with some of the profile columns."""

    def deco(fn):
        PROFILE_PARTS[name] = fn
        return fn

    return deco


def load_all() -> None:
    for pkg in FAMILY_PACKAGES:
        importlib.import_module(pkg)


def all_checks() -> list[Check]:
    """Every registered check, in a stable order (family, then name)."""
    load_all()
    order = {"fingerprint": 0, "geo": 1, "behavior": 2}
    return sorted(REGISTRY.values(), key=lambda c: (order.get(c.family, 9), c.name))
