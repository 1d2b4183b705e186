"""The command line (:mod:`fraud.cli.main`).

Before Polars loads, its memory allocator (jemalloc) is told to keep freed memory for 10 s instead of
returning it to the system within 0.5-1 s, Polars' own setting. A scan allocates and frees large column
buffers many times over; returned pages are faulted in again on reuse, which cost a quarter of a 10M-event
scan's CPU time in the kernel (18M page faults; 6.6M with this setting). Measured on the 10M-event benchmark
(7 slices): 0.5-1 s 128 s and 4.8 GiB (in 5 slices), 5 s 105 s and 4.7 GiB, 10 s 100 s and 5.4 GiB, 30 s
94-102 s and 5.9-6.6 GiB (freed memory piles up over the slices). The slice sizing accounts for the higher
peak (:data:`fraud.spool.RETAINING_BYTES_PER_ROW`).
"""
from __future__ import annotations

import os

ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
ALLOCATOR_CONF = "dirty_decay_ms:10000,muzzy_decay_ms:10000"
# What Polars writes into the variable when it loads (before any value found there); a child process of a
# Python program that imported Polars inherits it.
POLARS_ALLOCATOR_CONF = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def allocator_conf(current: str | None) -> str:
    """The allocator setting to run with: ``current`` (the environment's) with :data:`ALLOCATOR_CONF` added,
    unless ``current`` sets a decay time itself (Polars' own default, which a parent process may have left
    there, does not count)."""
    given = current or ""
    while given.startswith(POLARS_ALLOCATOR_CONF):
        given = given[len(POLARS_ALLOCATOR_CONF):].lstrip(",")
    if "decay_ms" in given:
        return given
    return f"{given},{ALLOCATOR_CONF}" if given else ALLOCATOR_CONF


os.environ[ALLOCATOR_ENV] = allocator_conf(os.environ.get(ALLOCATOR_ENV))
