"""``Job``: one accepted command, its status, result and events, as the server sees it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from torchsystem.interfaces.feed import Feed

__all__ = [
    "CANCELLED", "ENDED", "FAILED", "FINISHED", "QUEUED", "RUNNING", "STATUSES", "STOPPED",
    "STOPPING", "Job",
]

QUEUED, RUNNING, STOPPING = "queued", "running", "stopping"
FINISHED, FAILED, STOPPED, CANCELLED = "finished", "failed", "stopped", "cancelled"
STATUSES = (QUEUED, RUNNING, STOPPING, FINISHED, FAILED, STOPPED, CANCELLED)
ENDED = frozenset({FINISHED, FAILED, STOPPED, CANCELLED})


class Job:
    """A command accepted for running: ``queued``, ``running`` (``stopping`` once a stop
    was requested), then ``finished`` (with its ``result``), ``failed`` (with its
    ``error``), ``stopped`` or ``cancelled`` (stopped before it started).

    Its runner (an executor) moves it along with ``begin``, ``finish``, ``fail`` and
    ``halt``; any thread may ``request_stop()``. ``events`` is its feed of records.

    Example:
        >>> job = Job("3f2a9c01b7de", "train", {"epochs": 5})
        >>> job.status
        'queued'
        >>> job.request_stop()
        True
        >>> job.status
        'cancelled'
    """

    def __init__(self, id: str, command: str, arguments: dict[str, Any]) -> None:  # noqa: A002
        self.id, self.command, self.arguments = id, command, arguments
        self.status = QUEUED
        self.device: str | None = None
        self.created: float = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.result: Any = None
        self.error: str | None = None
        self.events = Feed()
        self.stop_signal = threading.Event()
        self._lock = threading.Lock()
        self._on_stop: Callable[[], None] | None = None

    def begin(self, device: str, on_stop: Callable[[], None] | None = None) -> bool:
        """Start running on ``device``; ``False`` when the job was cancelled meanwhile.
        ``on_stop`` is called (once) when a stop is requested while it runs."""
        with self._lock:
            if self.status != QUEUED:
                return False
            self.status, self.device, self.started = RUNNING, device, time.time()
            self._on_stop = on_stop
            self._announce()
        return True

    def request_stop(self) -> bool:
        """Cancel the job if queued, or ask it to stop after its current step if running;
        ``False`` when it has already ended."""
        with self._lock:
            if self.status in ENDED:
                return False
            self.stop_signal.set()
            if self.status == QUEUED:
                self.status, self.ended, hook = CANCELLED, time.time(), None
                self._announce()
                self.events.close()
            else:
                self.status, hook = STOPPING, self._on_stop
                self._announce()
        if hook is not None:
            hook()
        return True

    def finish(self, result: Any) -> None:
        """The handler returned ``result``."""
        self._end(FINISHED, result=result)

    def fail(self, error: str) -> None:
        """The handler raised (``error``: ``Type: message``) or its process died."""
        self._end(FAILED, error=error)

    def halt(self, reason: str) -> None:
        """Training stopped on request (``reason`` says where)."""
        self._end(STOPPED, error=reason)

    def _end(self, status: str, *, result: Any = None, error: str | None = None) -> None:
        with self._lock:
            if self.status in ENDED:
                return
            self.status, self.result, self.error = status, result, error
            self.ended = time.time()
            self._announce()
            self.events.close()

    def _announce(self) -> None:
        """A status record in the feed (called with the lock held)."""
        self.events.append({"type": "Job", "time": time.time(), "status": self.status,
                            "device": self.device, "error": self.error})

    def to_dict(self) -> dict[str, Any]:
        """The job's state as plain data (``location`` included)."""
        with self._lock:
            return {
                "id": self.id, "command": self.command, "arguments": self.arguments,
                "status": self.status, "device": self.device, "created": self.created,
                "started": self.started, "ended": self.ended, "result": self.result,
                "error": self.error, "location": f"/jobs/{self.id}",
            }

    def __repr__(self) -> str:
        return f"Job({self.id!r}, {self.command!r}, status={self.status!r})"
