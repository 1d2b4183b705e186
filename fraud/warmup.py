"""Fixed start-up costs paid in the background while a scan reads its inputs.

The thread first runs the caller's ``tasks``: tables built once per process that every scan needs (the
gazetteer's 353k names and its k-d tree, ~1 s; the user-agent resolver, 0.2 s). It then imports what the
behaviour ensemble needs (PyOD, scikit-learn, numba and scipy: 1.3-2.5 s of pure Python), once the scan says it
may fit one (:func:`want_imports`: enough logins for the ensemble's ``min_users``, or a model to score with).
Reading the inputs and the checks are Polars work that releases the GIL, so both overlap them. The checks call
:func:`wait_tasks` before they start; only fitting, scoring, saving or loading a model calls :func:`wait`
(:mod:`fraud.detectors.model`), so a scan of fewer users than the ensemble needs neither waits for libraries it
never uses nor shares the GIL with their import. Nothing else changes: the
thread only fills ``sys.modules`` and those caches, and a failure in it is ignored (the module that needs the
library raises the real error on its own import, a task's table is built again where it is needed).

Only third-party libraries are imported here, never a ``fraud`` module, and numpy (which the scan's own
modules import too) is imported before the thread starts. Python's per-module import locks make two threads
importing the same module wait for each other, but a package with circular imports between its modules
(scikit-learn's, ``fraud.fingerprint``) imported from two threads at once can be seen half-initialised; here the
two threads' imports never meet in such a package: no ``fraud`` module imports the ensemble's libraries before
:func:`wait`.
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

# What the behaviour detectors import (fraud.detectors.ensemble and PyOD's default ensemble members).
MODULES = ("joblib", "sklearn.utils", "pyod.models.base", "pyod.models.ecod", "pyod.models.iforest",
           "pyod.models.hbos", "numba", "scipy.spatial")


def _load(tasks: tuple[Callable[[], object], ...], done: threading.Event, wanted: threading.Event) -> None:
    try:
        for task in tasks:
            try:
                task()
            except Exception:  # noqa: BLE001, S110 - best effort: the caller builds it again, raises the real error
                pass
    finally:
        done.set()
    wanted.wait()  # a scan too small for the ensemble never asks: no import competes with it for the GIL
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S110 - best effort: the scan's own import raises the real error
            pass


_thread: threading.Thread | None = None
_tasks_done = threading.Event()
_imports_wanted = threading.Event()
_lock = threading.Lock()


def start(tasks: tuple[Callable[[], object], ...] = ()) -> None:
    """Start importing the detectors' libraries in the background, then run ``tasks`` (once per process: a later
    call finds the thread started). A task is a function of a module the caller has already imported (never
    one that imports a ``fraud`` module: see the module doc) that fills a per-process cache."""
    global _thread
    import numpy  # noqa: F401 - shared by both threads' imports: loaded once, here, before the thread starts

    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_load, args=(tuple(tasks), _tasks_done, _imports_wanted),
                                       name="fraud-warmup", daemon=True)
            _thread.start()


def wait_tasks() -> None:
    """Block until a started warm-up has run its tasks (returns at once when none was started)."""
    if _thread is not None:
        _tasks_done.wait()


def want_imports() -> None:
    """Let a started warm-up import the ensemble's libraries once its tasks are done (a scan calls it once it
    knows it has enough users to fit the ensemble)."""
    _imports_wanted.set()


def wait() -> None:
    """Block until a started warm-up is done, tasks and imports (returns at once when none was started)."""
    if _thread is not None:
        want_imports()
        _thread.join()
