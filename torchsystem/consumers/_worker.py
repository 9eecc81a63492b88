"""``Worker``: one thread delivering queued messages in order, keeping failures for later."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Worker"]

_STOP = object()


class Worker:
    """A daemon thread that takes messages from a bounded queue (``put`` waits while it
    is full) and hands each to ``deliver``. An exception ``deliver`` raises is kept in
    ``errors``, with a note naming ``owner``, and delivery goes on."""

    def __init__(self, owner: object, deliver: Callable[[Any], None], maxsize: int) -> None:
        self.owner = owner
        self.deliver = deliver
        self.errors: deque[BaseException] = deque()
        self.ident: int | None = None  # the thread's ident while it runs
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self.put = self._queue.put  # queue a message, waiting while the queue is full
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=getattr(owner, "name", None),
                                        daemon=True)
        self._thread.start()

    def flush(self) -> None:
        """Wait until every queued message was delivered."""
        self._queue.join()

    def stop(self, timeout: float | None) -> bool:
        """Deliver what is queued, then end the thread; whether it ended within ``timeout``
        (``None``: wait as long as it takes). Calling it again waits again."""
        if not self._stopping:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                return False
            self._stopping = True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def pending(self) -> int:
        """How many messages are queued (approximately, while the thread runs)."""
        return self._queue.qsize()

    def _run(self) -> None:
        self.ident = threading.get_ident()
        try:
            while self._take():
                pass
        finally:
            self.ident = None  # a later thread may get the same ident

    def _take(self) -> bool:
        """Deliver the next message; ``False`` once told to stop."""
        message = self._queue.get()
        try:
            if message is _STOP:
                return False
            self.deliver(message)
        except BaseException as error:  # handed to the producing thread
            _note(error, f"raised on the worker thread of {self.owner!r}")
            self.errors.append(error)
        finally:
            self._queue.task_done()
        return True


def _note(error: BaseException, text: str) -> None:
    """Add ``text`` to the exception's notes once (printed with its traceback from 3.11)."""
    notes = getattr(error, "__notes__", None) or []
    if text not in notes:
        error.__notes__ = [*notes, text]  # type: ignore[attr-defined]
