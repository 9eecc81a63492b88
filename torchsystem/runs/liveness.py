"""Tell a live run from one whose process died without a word (SIGKILL, power loss).

A run records its host, its process id and a heartbeat that its writer renews while the
process lives. A run is dead when its heartbeat is older than ``stale_after`` seconds,
or, on the same host, as soon as its process is gone (or a zombie).
"""

from __future__ import annotations

import os
import socket
import sys

__all__ = ["HOST", "alive", "process_exists"]

HOST = socket.gethostname()


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie does not count)."""
    if sys.platform == "win32":  # os.kill would terminate it; heartbeats decide there
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (macOS), or the process just ended
        return True
    return state != "Z"


def alive(
    host: str, pid: int, heartbeat: float | None, started: float, now: float,
    stale_after: float,
) -> bool:
    """Whether a run recorded as running still has a process behind it."""
    last = started if heartbeat is None else max(heartbeat, started)
    if now - last > stale_after:
        return False
    return host != HOST or process_exists(pid)
