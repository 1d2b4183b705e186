"""The background warm-up: imports the detectors' libraries once, never a fraud module, never fails a scan."""
import subprocess
import sys
import threading
from types import SimpleNamespace

import fraud.warmup as warmup
from fraud.registry import all_checks


def _reset(monkeypatch):
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "_tasks_done", threading.Event())
    monkeypatch.setattr(warmup, "_imports_wanted", threading.Event())


def test_wait_without_start_returns(monkeypatch):
    _reset(monkeypatch)
    warmup.wait()
    assert warmup._thread is None


def test_start_imports_the_libraries_once(monkeypatch):
    _reset(monkeypatch)
    imported = []
    real = warmup.importlib.import_module
    # the warm-up's own calls only (the libraries' lazy imports call importlib.import_module too)
    monkeypatch.setattr(warmup, "importlib", SimpleNamespace(import_module=lambda name: imported.append(name)
                                                             or real(name)))
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


def test_tasks_run_before_the_imports_and_a_failing_one_is_ignored(monkeypatch):
    _reset(monkeypatch)
    ran = []
    real = warmup.importlib.import_module
    monkeypatch.setattr(warmup, "importlib", SimpleNamespace(import_module=lambda name: ran.append(name)
                                                             or real(name)))

    def broken():
        ran.append("broken")
        raise RuntimeError("no table")

    def task():
        ran.append("task")

    warmup.start(tasks=(broken, task))
    warmup.start(tasks=(task,))  # the thread is started once: a later call's tasks do not run again
    warmup.wait()
    assert ran == ["broken", "task", *warmup.MODULES]


def test_wait_tasks_does_not_wait_for_the_imports(monkeypatch):
    # the checks wait for the tables only: the ensemble's libraries may still be loading (a scan of fewer users
    # than the ensemble needs never waits for them)
    _reset(monkeypatch)
    release = threading.Event()
    monkeypatch.setattr(warmup, "importlib", SimpleNamespace(import_module=lambda name: release.wait(60)))
    ran = []
    warmup.start(tasks=(lambda: ran.append("task"),))
    warmup.wait_tasks()
    assert ran == ["task"]
    assert warmup._thread.is_alive()  # waiting to be asked for the imports
    warmup.want_imports()
    assert warmup._thread.is_alive()  # still "importing"
    release.set()
    warmup.wait()
    assert not warmup._thread.is_alive()


def test_a_small_scan_never_imports_the_ensemble_libraries(tmp_path):
    # a fresh interpreter: a scan of fewer logins than behavior.outlier's min_users (so fewer users) runs every
    # check and never loads PyOD, scikit-learn or joblib, in the warm-up or elsewhere (nor waits for them); 50
    # logins rows may hold 50 users: the warm-up is asked for them
    rows = "".join(f"2024-03-01T08:{m:02d}:00Z,u{m % 2},d1,31.23,121.47\n" for m in range(49))
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id,lat,lon\n" + rows)
    code = ("import sys, time, fraud.warmup as w; from fraud.pipeline import ScanInputs, scan; "
            f"r = scan(ScanInputs(logins={str(tmp_path / 'logins.csv')!r})); time.sleep(0.5); "
            "print(r.summary['checks']['behavior.outlier']['status'], w._imports_wanted.is_set(), "
            "sorted(m for m in ('pyod', 'sklearn', 'joblib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "not evaluated False []"
    (tmp_path / "logins.csv").write_text("ts,user_id,device_id,lat,lon\n" + rows
                                         + "2024-03-01T09:00:00Z,u2,d1,31.23,121.47\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("not evaluated True")


def test_a_scan_builds_the_gazetteer_and_agent_parser_in_the_background(monkeypatch):
    # a fresh interpreter: after scan()'s warm-up the per-process tables are built, before any check ran
    code = ("import fraud.pipeline as p, fraud.warmup as w; from fraud.geo import gazetteer as g; "
            "from fraud.fingerprint import useragent as u; w.start(tasks=(g.prepare, u.prepare)); w.wait(); "
            "print(g._known_names.cache_info().currsize, g._city_tree.cache_info().currsize, "
            "u._resolver.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1", "1"]
    src = open(warmup.__file__.replace("warmup.py", "pipeline.py")).read()
    assert "warmup.start(tasks=(gazetteer.prepare, useragent.prepare))" in src
