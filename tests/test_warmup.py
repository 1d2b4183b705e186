"""The background warm-up: loads what the checks use, once, and never fails a scan."""
import threading

import fraud.warmup as warmup
from fraud.geo import gazetteer
from fraud.registry import REGISTRY


def _reset(monkeypatch):
    monkeypatch.setattr(warmup, "_thread", None)


def test_wait_without_start_returns(monkeypatch):
    _reset(monkeypatch)
    warmup.wait()
    assert warmup._thread is None


def test_start_loads_checks_and_tables_once(monkeypatch):
    _reset(monkeypatch)
    gazetteer.cities.cache_clear()
    warmup.start()
    first = warmup._thread
    warmup.start()  # a second scan in the same process reuses the finished warm-up
    assert warmup._thread is first
    warmup.wait()
    assert not first.is_alive()
    assert gazetteer.cities.cache_info().currsize == 1
    assert {"geo.impossible_travel", "behavior.outlier", "device.bot_agent"} <= set(REGISTRY)


def test_failure_in_background_is_swallowed(monkeypatch):
    _reset(monkeypatch)

    def boom():
        raise ImportError("no pyod")

    escaped = []
    monkeypatch.setattr("fraud.registry.load_all", boom)
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    warmup.start()
    warmup.wait()  # the check's own import raises the real error later, in the scan's thread
    assert not warmup._thread.is_alive()
    assert escaped == []
