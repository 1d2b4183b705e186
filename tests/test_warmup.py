"""The background warm-up: imports the detectors' libraries once, never a fraud module, never fails a scan."""
import subprocess
import sys
import threading

import fraud.warmup as warmup
from fraud.registry import all_checks


def _reset(monkeypatch):
    monkeypatch.setattr(warmup, "_thread", None)


def test_wait_without_start_returns(monkeypatch):
    _reset(monkeypatch)
    warmup.wait()
    assert warmup._thread is None


def test_start_imports_the_libraries_once(monkeypatch):
    _reset(monkeypatch)
    imported = []
    real = warmup.importlib.import_module
    monkeypatch.setattr(warmup.importlib, "import_module", lambda name: imported.append(name) or real(name))
    warmup.start()
    first = warmup._thread
    warmup.start()  # a second scan in the same process reuses the finished warm-up
    assert warmup._thread is first
    warmup.wait()
    assert not first.is_alive()
    assert imported == list(warmup.MODULES)
    assert {"pyod.models.ecod", "pyod.models.iforest", "sklearn.utils", "scipy.spatial"} <= set(warmup.MODULES)
    assert all(name in sys.modules for name in imported)


def test_only_third_party_modules():
    # a fraud package with circular imports between its modules, imported from two threads at once, is seen
    # half-initialised ("cannot import name ... from partially initialized module")
    assert not [m for m in warmup.MODULES if m.split(".")[0] == "fraud"]


def test_scan_imports_while_warming_up():
    # a fresh interpreter: the sliced scan's modules and every check imported while the warm-up runs
    code = ("import fraud.warmup as w; w.start(); import fraud.shards; from fraud.registry import all_checks; "
            "n = len(all_checks()); w.wait(); print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) == len(all_checks())


def test_failure_in_background_is_swallowed(monkeypatch):
    _reset(monkeypatch)
    escaped = []

    def boom(name):
        raise ImportError(f"no {name}")

    monkeypatch.setattr(warmup.importlib, "import_module", boom)
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    warmup.start()
    warmup.wait()  # the module that needs the library raises the real error later, in the scan's thread
    assert not warmup._thread.is_alive()
    assert escaped == []
