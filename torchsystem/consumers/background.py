"""``Background``: deliver a consumer's events on a worker thread."""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from torchsystem.services import Consumer

__all__ = ["Background"]

logger = logging.getLogger("torchsystem.consumers")
_STOP = object()


def _close_at_exit(reference: weakref.ReferenceType[Background]) -> None:
    background = reference()
    if background is not None:
        background.close()


class Background(Consumer):
    """Hand events for ``consumer`` to a worker thread, so slow I/O does not stall training.

    Register it with a producer in place of ``consumer``. Events are queued in order on a
    bounded queue (``maxsize``; a full queue makes ``dispatch`` wait, never drops) and
    delivered one by one on the worker. An exception raised there is re-raised on the
    producing thread at the next dispatch (after that event is queued), at ``flush()`` or
    at ``close()``; if several fail meanwhile, the first is raised and the others logged.
    ``close()`` (also run at interpreter exit) delivers what is queued, stops the worker
    and closes ``consumer`` when it has ``close``; dispatching afterwards is an error.
    Consumers whose effect must happen before the next step (``EarlyStopping``) stay
    synchronous.

    Example:
        >>> from torchsystem.services import Producer
        >>> inner = Consumer()
        >>> seen = []
        >>> @inner.handler
        ... def remember(event: int) -> None:
        ...     seen.append(event)
        >>> producer = Producer()
        >>> with Background(inner) as background:
        ...     producer.register(background)
        ...     producer.dispatch(1)
        >>> seen
        [1]
    """

    def __init__(self, consumer: Consumer, *, maxsize: int = 1024, name: str | None = None) -> None:
        super().__init__(name if name is not None else f"background-{consumer.name}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.consumer = consumer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._at_exit: Callable[[], None] | None = None
        consumer._listeners.add(self)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def routes(self, cls: type) -> tuple[Callable[[Any], Any], ...]:
        """One route (the queue) for the classes ``consumer`` has handlers for."""
        try:
            return self._routes[cls]
        except KeyError:
            found = (self.submit,) if self.consumer.routes(cls) else ()
            self._routes[cls] = found
            return found

    def consume(self, message: Any) -> None:
        """Queue ``message`` for the worker."""
        self.submit(message)

    def submit(self, message: Any) -> None:
        """Queue ``message``, then re-raise a failure the worker reported meanwhile.

        Raises:
            RuntimeError: the background consumer is closed.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new one to deliver more events")
        if self._thread is None:
            self._start()
        self._queue.put(message)
        if self._errors:
            self._raise_pending()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
                reference = weakref.ref(self)
                self._at_exit = lambda: _close_at_exit(reference)
                atexit.register(self._at_exit)

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            try:
                if message is _STOP:
                    return
                self.consumer.consume(message)
            except BaseException as error:  # handed to the producing thread
                self._errors.append(error)
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        errors, self._errors = self._errors, []
        for later in errors[1:]:
            logger.error("%r: a later background failure", self, exc_info=later)
        raise errors[0]

    def flush(self) -> None:
        """Wait until every queued event was delivered; re-raise a failure."""
        if self._thread is not None:
            self._queue.join()
        if self._errors:
            self._raise_pending()

    def close(self) -> None:
        """Deliver what is queued, stop the worker, close ``consumer``; re-raise a failure.

        Closing again does nothing (but re-raise a failure not raised yet).
        """
        with self._lock:
            thread, already = self._thread, self._closed
            self._closed = True
        if not already:
            if thread is not None and thread.is_alive():
                self._queue.put(_STOP)
                thread.join()
            if self._at_exit is not None:
                atexit.unregister(self._at_exit)
                self._at_exit = None
            close = getattr(self.consumer, "close", None)
            if callable(close):
                close()
        if self._errors:
            self._raise_pending()

    def __enter__(self) -> Background:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Background({self.consumer!r})"
