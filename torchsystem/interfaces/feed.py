"""``Feed``: a job's event records, numbered, read by threads and by asyncio tasks.

One writer (the job's runner) appends; any number of readers ask for what came after
the last number they saw (the ``id`` of a Server-Sent Event, so a client that
reconnects with ``Last-Event-ID`` misses nothing still kept). Waiting readers are woken
at once: threads through a condition, asyncio tasks through their loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import Any

__all__ = ["Feed"]


class Feed:
    """Numbered records (from 1), the latest ``keep`` of them kept; ``close()`` says no
    more will come.

    Example:
        >>> feed = Feed()
        >>> feed.append({"type": "Trained"})
        1
        >>> feed.since(0)
        [(1, {'type': 'Trained'})]
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._records: deque[tuple[int, dict[str, Any]]] = deque(maxlen=keep)
        self._count = 0
        self._closed = False
        self._condition = threading.Condition()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, record: dict[str, Any]) -> int:
        """Add ``record``; its number.

        Raises:
            RuntimeError: the feed is closed.
        """
        with self._condition:
            if self._closed:
                raise RuntimeError("the feed is closed: the job has ended")
            self._count += 1
            self._records.append((self._count, record))
            self._wake()
            return self._count

    def close(self) -> None:
        """No more records will come; wake every reader."""
        with self._condition:
            self._closed = True
            self._wake()

    def since(self, number: int) -> list[tuple[int, dict[str, Any]]]:
        """The kept records numbered after ``number``, in order."""
        with self._condition:
            if number >= self._count:
                return []
            return [item for item in self._records if item[0] > number]

    def wait(self, number: int, timeout: float) -> bool:
        """Block until a record after ``number`` exists or the feed closes (``True``),
        or ``timeout`` seconds pass (``False``)."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._count > number or self._closed, timeout)

    async def wait_async(self, number: int, timeout: float) -> bool:
        """``wait`` for an asyncio task: the loop keeps running meanwhile."""
        signal = asyncio.Event()
        waiter = (asyncio.get_running_loop(), signal)
        with self._condition:
            if self._count > number or self._closed:
                return True
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(signal.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._condition:
                self._waiters.discard(waiter)

    def _wake(self) -> None:
        self._condition.notify_all()
        for loop, signal in self._waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: that reader is gone
                loop.call_soon_threadsafe(signal.set)
