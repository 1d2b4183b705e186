"""The one registry of checks. Each check is a pure function of the scan context returning a LazyFrame of
findings (see :func:`fraud.findings.emit`); no I/O and no ``collect()`` inside.

Modules register their checks at import; :func:`all_checks` imports the three family packages.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from fraud.config import FAMILIES

if TYPE_CHECKING:
    from fraud.context import ScanContext

FAMILY_PACKAGES = ("fraud.fingerprint", "fraud.geo", "fraud.detectors")


class NotEvaluated(Exception):  # noqa: N818 - a status, not a failure
    """Raised by a check that cannot evaluate on the given inputs (missing input or column); never "clean".

    ``stage`` orders a check's reasons by how far it got (each a "no such rows" test on the rows seen so far):
    a sliced scan whose slices all stop reports the furthest one, as the whole batch would have."""

    def __init__(self, reason: str, stage: int = 1) -> None:
        super().__init__(reason)
        self.stage = stage


def require_events(ctx: ScanContext, kinds: list[str] | tuple[str, ...], stage: int = 2) -> None:
    """Raise :class:`NotEvaluated` when the scan's logins hold no event of ``kinds`` (the whole batch's, in a slice
    too: an IP slice holds failed logins only): an export that logs none of them, or names them otherwise (an Okta
    file's ``user.session.start`` before ``[events]`` maps it), cannot show the rule's pattern; that is no clean
    result."""
    if not set(kinds) & ctx.event_kinds():
        raise NotEvaluated(f"no {', '.join(kinds)} events in the logins", stage=stage)


def rows_meeting(table: pl.DataFrame, enough: pl.Expr, notes: dict, names: tuple[str, str], reason: str
                 ) -> pl.DataFrame:
    """The rows of ``table`` that ``enough`` keeps (user-months with the events a test needs ...), counted in
    ``notes`` as ``names`` = (kept, left out); NotEvaluated with ``reason`` (stage 2) when none is kept: rows too
    thin to test are not "clean"."""
    kept = table.filter(enough)
    notes.update({names[0]: kept.height, names[1]: table.height - kept.height})
    if kept.height == 0:
        raise NotEvaluated(reason, stage=2)
    return kept


@dataclass(frozen=True)
class Check:
    """A registered check: its name, the rule ids it emits, its family, the inputs it needs, and its key.

    ``key`` says which rows a check must see together, so a partitioned scan (:mod:`fraud.shards`) can run it
    on one slice of the data at a time: ``user`` (all rows of a user), ``device`` (all rows of a device_id,
    plus a user's device-less rows), ``ip`` (all logins from an IP) or ``population`` (the whole batch's
    user-level behaviour features, gathered from the user slices). ``post`` is applied to the check's findings
    after the slices are put together (a per-user cap over devices seen in different slices, for instance).
    ``gather(ctx) -> {cache name: frame}`` (population checks) names the per-user frames each user slice
    contributes; their concatenation (sorted by ``user_id``) is the population check's cached input.
    ``rows() -> expression`` (``device``/``ip`` checks) says which logins rows the check reads: a key's slices
    store only the rows some check of that key reads, every row as soon as one check names none.
    ``columns`` are the logins columns without which the check cannot tell anything (``success`` to see a
    failure, ``event`` a password change): when no logins file gives one, the check is "not evaluated" instead
    of reading the reader's default (every event a successful login) as clean.
    ``identity`` names what tells the check's findings apart when their evidence window is the subject's first to
    latest sighting (an emulator, a bot user agent, a month so far): finding columns (``user_id``, ``device_id``) or
    evidence fields (``user_agent``, ``month``). Their ``finding_id`` is then a hash of the rule and those values,
    so it does not change when tomorrow's logs extend the window or a trailing window cuts its start, and a
    reviewer's decision holds; empty (episodes: a trip, a burst, a day): the rule, subject and evidence window
    (:func:`fraud.findings.finalize`)."""

    name: str
    rules: tuple[str, ...]
    family: str
    needs: tuple[str, ...]
    fn: Callable[..., pl.LazyFrame]
    key: str = "user"
    post: Callable[..., pl.DataFrame] | None = None
    gather: Callable[..., dict[str, pl.DataFrame]] | None = None
    rows: Callable[[], pl.Expr] | None = None
    columns: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()


REGISTRY: dict[str, Check] = {}
ProfilePart = Callable[..., pl.LazyFrame]
PROFILE_PARTS: dict[str, ProfilePart] = {}


KEYS = ("user", "device", "ip", "population")


def register(name: str, *, rules: tuple[str, ...] | str, family: str, needs: tuple[str, ...] = ("logins",),
             key: str = "user", post: Callable[..., pl.DataFrame] | None = None,
             gather: Callable[..., dict[str, pl.DataFrame]] | None = None, rows: Callable[[], pl.Expr] | None = None,
             columns: tuple[str, ...] = (), identity: tuple[str, ...] = ()):
    """Decorator: add ``fn(ctx) -> LazyFrame`` of findings to the registry under ``name``.

    ``post(findings, cfg) -> findings`` runs on the check's collected findings (all slices together)."""
    rule_ids = (rules,) if isinstance(rules, str) else tuple(rules)
    if key not in KEYS:
        raise ValueError(f"check {name}: unknown key {key!r} (expected one of {', '.join(KEYS)})")
    if (key == "population") != (gather is not None):
        raise ValueError(f"check {name}: a population check (and only one) names what it gathers")

    def deco(fn):
        REGISTRY[name] = Check(name=name, rules=rule_ids, family=family, needs=tuple(needs), fn=fn, key=key,
                               post=post, gather=gather, rows=rows, columns=tuple(columns),
                               identity=tuple(identity))
        return fn

    return deco


def identities() -> dict[str, tuple[str, ...]]:
    """Per rule id whose check names an ``identity`` (:class:`Check`), those names."""
    return {rule: c.identity for c in all_checks() if c.identity for rule in c.rules}


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
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(REGISTRY.values(), key=lambda c: (order.get(c.family, len(FAMILIES)), c.name))
