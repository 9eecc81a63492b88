"""``Writer``: hand snapshots to one thread that writes them, in order, off the training thread."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from torchsystem.storage.snapshot import Snapshot

__all__ = ["Writer"]

logger = logging.getLogger("torchsystem.storage")


def _close_at_exit(reference: weakref.ReferenceType[Writer]) -> None:
    writer = reference()
    if writer is not None:
        writer.close(raise_errors=False)


def _never(waiting: Snapshot, newer: Snapshot) -> bool:
    return False


class Writer:
    """Write snapshots on a worker thread with ``write``, one at a time, in order.

    ``submit`` queues a snapshot. While ``depth`` snapshots already wait, the newest of
    them is dropped (``drop`` is called with it) when ``supersedes(waiting, newer)`` says
    the newer one makes it useless; otherwise ``submit`` blocks until the worker takes
    one. Either way memory stays bounded. A failure on the worker is logged and re-raised
    on the submitting thread at the next ``submit``, at ``flush()`` or at ``close()``, the
    first one raised and any later ones logged. ``close()`` (also run at interpreter exit)
    writes what is queued and stops the worker.

    Example:
        >>> written = []
        >>> writer = Writer(lambda snapshot: written.append(snapshot.epoch))
        >>> writer.submit(Snapshot("model", 1, {}))
        >>> writer.close()
        >>> written
        [1]
    """

    def __init__(
        self, write: Callable[[Snapshot], Any], *, depth: int = 1,
        supersedes: Callable[[Snapshot, Snapshot], bool] = _never,
        drop: Callable[[Snapshot], Any] | None = None, name: str = "checkpoint-writer",
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._write, self._supersedes, self._drop = write, supersedes, drop
        self.name, self.depth = name, depth
        self._waiting: deque[Snapshot] = deque()
        self._busy = False
        self._changed = threading.Condition()
        self._errors: list[BaseException] = []
        self._thread: threading.Thread | None = None
        self._closed = self._stopping = False
        self._at_exit: Callable[[], None] | None = None

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def submit(self, snapshot: Snapshot) -> None:
        """Queue ``snapshot`` for the worker; re-raise a failure it reported meanwhile.

        Raises:
            RuntimeError: the writer is closed.
        """
        if self._closed:
            raise RuntimeError(f"the {self.name} is closed; make a new Checkpoints to write more")
        if self._errors:
            self._raise_pending()
        if self._thread is None:
            self._start()
        dropped = None
        with self._changed:
            while len(self._waiting) >= self.depth:
                if self._supersedes(self._waiting[-1], snapshot):
                    dropped = self._waiting.pop()
                    break
                self._changed.wait()
            self._waiting.append(snapshot)
            self._changed.notify_all()
        if dropped is not None and self._drop is not None:
            self._drop(dropped)

    def _start(self) -> None:
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
                reference = weakref.ref(self)
                self._at_exit = lambda: _close_at_exit(reference)
                atexit.register(self._at_exit)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._stopping:
                    self._changed.wait()
                if not self._waiting:
                    return
                snapshot = self._waiting.popleft()
                self._busy = True
                self._changed.notify_all()
            try:
                self._write(snapshot)
            except BaseException as error:  # handed to the submitting thread
                logger.error("%s: a checkpoint was not written: %s", self.name, error)
                self._errors.append(error)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _raise_pending(self) -> None:
        errors, self._errors = self._errors, []
        for later in errors[1:]:
            logger.error("%s: a later failure: %s", self.name, later)
        raise errors[0]

    def flush(self) -> None:
        """Wait until every submitted snapshot was written; re-raise a failure."""
        with self._changed:
            while self._thread is not None and (self._waiting or self._busy):
                self._changed.wait()
        if self._errors:
            self._raise_pending()

    def close(self, *, raise_errors: bool = True) -> None:
        """Write what is queued, stop the worker; re-raise a failure (unless told not to).

        Closing again does nothing but re-raise a failure not raised yet.
        """
        with self._changed:
            thread, already = self._thread, self._closed
            self._closed = self._stopping = True
            self._changed.notify_all()
        if not already:
            if thread is not None:
                thread.join()
            if self._at_exit is not None:
                atexit.unregister(self._at_exit)
                self._at_exit = None
        if self._errors and raise_errors:
            self._raise_pending()
