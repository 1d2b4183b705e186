"""Polars' memory allocator (jemalloc) settings, read and written through ``_RJEM_MALLOC_CONF``.

Polars writes ``dirty_decay_ms:500,muzzy_decay_ms:1000`` in front of whatever the variable holds when it loads:
freed memory goes back to the system within 0.5-1 s. A scan allocates and frees large column buffers many
times over, and returned pages are faulted in again on reuse: a quarter of a 10M-event scan's CPU time was
kernel time (18M page faults; 6.6M with a 10 s hold). The ``fraud`` command sets :data:`ALLOCATOR_CONF` before
Polars loads (:mod:`fraud.cli`); the slice sizing reads :func:`allocator_retains`. Measured on the 10M-event
benchmark (7 slices): 0.5-1 s 128 s and 4.8 GiB (in 5 slices), 5 s 105 s and 4.7 GiB, 10 s 100 s and 5.4 GiB,
30 s 94-102 s and 5.9-6.6 GiB (freed memory piles up over the slices).

This module imports nothing heavy: the command line imports it before Polars.
"""
from __future__ import annotations

import os

ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
ALLOCATOR_CONF = "dirty_decay_ms:10000,muzzy_decay_ms:10000"
# What Polars writes into the variable when it loads (before any value found there); a child process of a
# Python program that imported Polars inherits it.
POLARS_ALLOCATOR_CONF = "dirty_decay_ms:500,muzzy_decay_ms:1000"
POLARS_DECAY_MS = 1000


def decay_settings(conf: str | None) -> dict[str, int]:
    """The ``dirty_decay_ms``/``muzzy_decay_ms`` values of a jemalloc configuration string (later ones win)."""
    decay: dict[str, int] = {}
    for part in (conf or "").split(","):
        key, _, value = part.partition(":")
        if key.strip() in ("dirty_decay_ms", "muzzy_decay_ms"):
            try:
                decay[key.strip()] = int(value.strip())
            except ValueError:
                continue
    return decay


def allocator_conf(current: str | None) -> str:
    """The allocator setting to run with: ``current`` (the environment's) with :data:`ALLOCATOR_CONF` added,
    unless ``current`` sets a decay time itself (Polars' own default at its start, which a parent process may
    have left there, does not count)."""
    given = current or ""
    while given.startswith(POLARS_ALLOCATOR_CONF):
        given = given[len(POLARS_ALLOCATOR_CONF):].lstrip(",")
    if decay_settings(given):
        return given
    return f"{given},{ALLOCATOR_CONF}" if given else ALLOCATOR_CONF


def allocator_retains() -> bool:
    """Whether Polars' allocator keeps freed memory longer than Polars' own setting: a decay time in
    ``_RJEM_MALLOC_CONF`` above :data:`POLARS_DECAY_MS`, or -1 (never returned)."""
    return any(v == -1 or v > POLARS_DECAY_MS for v in decay_settings(os.environ.get(ALLOCATOR_ENV)).values())
