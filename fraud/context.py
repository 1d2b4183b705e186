"""The scan context: the parsed inputs as LazyFrames, the config, and a cache of derived frames shared by
checks (parsed user agents, event positions, per-user time zones, places ...)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from fraud.config import Config
from fraud.schema import INPUT_SCHEMAS


@dataclass
class ScanContext:
    """Inputs of one scan. An input that was not given is an empty frame with its canonical schema, and
    ``has(kind)`` is False for it, so checks can say "not evaluated" instead of "clean"."""

    cfg: Config
    frames: dict[str, pl.LazyFrame]
    given: set[str]
    model: Any = None
    notes: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)
    _building: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # per given input kind, the canonical columns no file of it gave (read as defaults or nulls)
    absent: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, cfg: Config, model: Any = None, *, pad: bool = True,
                    **frames: pl.DataFrame | pl.LazyFrame | None) -> "ScanContext":
        """Build a context from (possibly partial) frames; missing canonical columns are added as nulls (with
        ``pad=False`` they stay missing, so a check that reads one fails instead of seeing nulls)."""
        out, given, absent = {}, set(), {}
        for kind in ("logins", "devices", "locations", "scores"):
            schema = INPUT_SCHEMAS[kind].polars_schema()
            f = frames.get(kind)
            if f is None:
                out[kind] = pl.LazyFrame(schema=schema)
                continue
            given.add(kind)
            lf = f.lazy()
            names = lf.collect_schema().names()
            defaults = INPUT_SCHEMAS[kind].defaults
            if pad:
                absent[kind] = frozenset(c for c in schema if c not in names)
                lf = lf.with_columns([pl.lit(defaults.get(c), dtype=t).alias(c) for c, t in schema.items()
                                      if c not in names])
            out[kind] = lf.with_columns([pl.col(c).cast(t) for c, t in schema.items() if pad or c in names])
        return cls(cfg=cfg, frames=out, given=given, model=model, absent=absent)

    def has(self, kind: str) -> bool:
        return kind in self.given

    def rows(self, kind: str) -> int:
        """Rows of a given input kind (counted once)."""
        return self.cached(f"rows.{kind}", lambda: self.frames[kind].select(pl.len()).collect().item())

    @property
    def logins(self) -> pl.LazyFrame:
        return self.frames["logins"]

    @property
    def devices(self) -> pl.LazyFrame:
        return self.frames["devices"]

    @property
    def locations(self) -> pl.LazyFrame:
        return self.frames["locations"]

    @property
    def scores(self) -> pl.LazyFrame:
        return self.frames["scores"]

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        """A derived value computed once per scan (e.g. a materialised frame shared by several checks). Safe
        across threads: the check families run side by side, and a second thread asking for a value being built
        waits for it instead of building it again (builds call only builds they depend on, so no two wait for
        each other)."""
        if name in self._cache:
            return self._cache[name]
        with self._guard:
            lock = self._building.setdefault(name, threading.Lock())
        with lock:
            if name not in self._cache:
                self._cache[name] = build()
        return self._cache[name]

    def provide(self, name: str, value: Any) -> None:
        """Set a derived value: one computed elsewhere (a partitioned scan builds the parsed user-agent table
        once over all slices and gives it to each slice's context), or an equal replacement of a cached one
        (the same rows held in newer buffers, so the old copy can be freed)."""
        self._cache[name] = value

    def event_kinds(self) -> frozenset[str]:
        """The event kinds the logins hold (counted once; a sliced scan gives each slice the whole batch's)."""
        return self.cached("logins.event_kinds", lambda: frozenset(
            self.logins.select(pl.col("event").drop_nulls().unique()).collect().to_series().to_list()))

    def users_without_events(self) -> int:
        """Users that appear only in the scores input (no logins, devices or locations row): no rule looks at
        them, and their score passes through unchanged (counted in ``summary.json``, not read as clean)."""
        seen = pl.concat([self.frames[k].select(pl.col("user_id").cast(pl.String))
                          for k in ("logins", "devices", "locations")]).drop_nulls().unique()
        return (self.frames["scores"].select(pl.col("user_id").cast(pl.String)).drop_nulls().unique()
                .join(seen, on="user_id", how="anti").select(pl.len()).collect().item())

    def users(self) -> pl.LazyFrame:
        """Every user seen in any input (one ``user_id`` column, sorted)."""
        parts = [self.frames[k].select(pl.col("user_id").cast(pl.String)) for k in
                 ("logins", "devices", "locations", "scores")]
        return pl.concat(parts).drop_nulls().unique().sort("user_id")
