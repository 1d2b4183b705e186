"""Working folders a killed scan leaves behind are removed by the next scan; SIGTERM cleans up as Ctrl-C does."""
import os
import signal
import subprocess
import sys
import time

import polars as pl

from fraud.leftovers import _host, owned_prefix, remove_abandoned
from fraud.outputs import STAGE_PREFIX, staged_output, write_table


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_folders_of_dead_processes_of_this_host_are_removed(tmp_path):
    host, dead = _host(), _dead_pid()
    names = {f"fraud-scan-{host}-{dead}-abc": False,  # a killed scan's: removed
             f"fraud-scan-{host}-{os.getpid()}-own": True,  # this process's
             f"fraud-scan-{host}-{os.getppid()}-run": True,  # a running process's
             f"fraud-scan-otherhost-{dead}-nfs": True,  # another host's (a shared folder): cannot tell
             "fraud-scan-k3j2l1": True,  # no owner in the name (made before owners were named)
             f"other-{host}-{dead}-x": True}  # another prefix
    for n in names:
        (tmp_path / n).mkdir()
        (tmp_path / n / "slice.parquet").write_bytes(b"x")
    assert remove_abandoned(tmp_path, "fraud-scan-") == [f"fraud-scan-{host}-{dead}-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, keep in names.items() if keep)
    assert owned_prefix("fraud-scan-") == f"fraud-scan-{host}-{os.getpid()}-"


def test_a_scan_removes_the_staging_folder_a_killed_one_left_in_out(tmp_path):
    stale = tmp_path / f"{STAGE_PREFIX}{_host()}-{_dead_pid()}-q1"
    stale.mkdir()
    (stale / "findings.parquet.tmp").write_bytes(b"")
    with staged_output(tmp_path) as stage:
        write_table(pl.DataFrame({"a": [1]}), stage, "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]


def test_sigterm_ends_a_sliced_scan_through_its_cleanup(tmp_path):
    d, out, wd = tmp_path / "in", tmp_path / "out", tmp_path / "wd"
    d.mkdir()
    n = 400_000  # big enough that the scan is still working when stopped
    pl.DataFrame({"ts": ["2024-03-01T08:00:00Z"] * n, "user_id": [f"u{i % 5000}" for i in range(n)],
                  "user_agent": ["curl/8.4.0"] * n}).write_csv(d / "logins.csv")
    p = subprocess.Popen([sys.executable, "-m", "fraud.cli.main", "scan", str(d), "--out", str(out),
                          "--shards", "3", "--work-dir", str(wd)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (wd.exists() and any(wd.iterdir())) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, "the scan ended before it could be stopped"
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(timeout=120) == 128 + signal.SIGTERM
    assert list(wd.iterdir()) == []
    assert not out.exists() or [q.name for q in out.iterdir() if q.name.startswith(STAGE_PREFIX)] == []
