"""Working folders that name their owner, so a later scan can remove those a killed one left behind.

A scan writes into temporary folders (a sliced scan's working files in ``--work-dir``, its outputs' staging folder
inside ``--out``) that it removes when it ends, also on an error, Ctrl-C or SIGTERM. A process killed outright
(SIGKILL, the out-of-memory killer, a power cut) cannot: its folders stay, tens of MB to GBs a night. Each folder's
name carries the host and process id of its owner (``fraud-scan-<host>-<pid>-<random>``); before making its own, a
scan removes the folders of that prefix whose owner on this host is no longer running. Folders of another host (a
shared network folder) or of a process still running are left alone, and so are names without an owner (made
before this scheme: nothing tells whether they are in use).
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def owned_prefix(prefix: str) -> str:
    """``prefix`` followed by this process's host and id: the start of the name of a folder it owns."""
    return f"{prefix}{_host()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's running process (PermissionError), or it cannot be told
        return True
    return True


def remove_abandoned(folder: str | Path | None, prefix: str) -> list[str]:
    """Remove the folders named ``prefix<host>-<pid>-...`` in ``folder`` (the system temporary folder when None)
    whose host is this one and whose process is no longer running; returns their names. Errors are ignored: a
    folder that cannot be removed stays, as it would have."""
    root = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    mine = f"{prefix}{_host()}-"
    try:
        entries = sorted(p for p in root.iterdir() if p.name.startswith(mine) and p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    removed = []
    for p in entries:
        pid = p.name[len(mine):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed
