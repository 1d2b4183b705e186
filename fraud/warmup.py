"""Fixed start-up costs paid in the background while a scan reads its inputs.

Every scan imports PyOD, scikit-learn and scipy (1.3-2.5 s, pure Python) and loads the gazetteer and the
user-agent patterns (~0.7 s) before its first check can run. Reading the inputs is Polars work that releases
the GIL, so :func:`start` runs those loads in a daemon thread meanwhile, and the scan calls
:func:`wait` before its checks start. The results are the same either way: the thread only fills
module and ``lru_cache`` state the checks would otherwise fill themselves, and a failure in it is ignored
(the check that needs the module raises the real error on its own import).

Module imports from two threads are safe here: the main thread reads inputs with modules already imported,
so neither thread waits on a module the other holds (no cycle for Python's per-module import locks).
"""
from __future__ import annotations

import threading


def _load() -> None:
    try:
        from fraud.registry import load_all

        load_all()  # registers the checks; imports PyOD, scikit-learn, numba and scipy
        from fraud.fingerprint.useragent import _parser
        from fraud.geo import gazetteer

        _parser()
        gazetteer.cities()
        gazetteer._known_names()
        gazetteer._country_map()
        gazetteer._city_tree()
        gazetteer._zone_countries()
    except Exception:  # noqa: BLE001, S110 - best effort: the scan's own imports raise the real error
        pass


_thread: threading.Thread | None = None
_lock = threading.Lock()


def start() -> None:
    """Start loading the scan's libraries and tables in the background (once per process)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_load, name="fraud-warmup", daemon=True)
            _thread.start()


def wait() -> None:
    """Block until a started warm-up is done (returns at once when none was started)."""
    if _thread is not None:
        _thread.join()
