"""``Background``: deliver a consumer's events on a worker thread."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from threading import get_ident
from types import TracebackType
from typing import Any

from torchsystem.consumers._lifecycle import drain_at_exit, track
from torchsystem.consumers._worker import Worker
from torchsystem.services import Routable
from torchsystem.services._delivery import Listeners, RouteCache, Routes, one_line

__all__ = ["Background"]

logger = logging.getLogger("torchsystem.consumers")


class Background:
    """Hand events for ``consumer`` to a worker thread, so slow I/O does not stall training.

    Wraps anything that implements ``torchsystem.services.Routable`` (a ``Consumer``, for
    instance); register the ``Background`` with a producer in place of ``consumer``. An
    event is queued only when ``consumer`` has handlers for its class. Events are queued
    in order on a bounded queue (``maxsize``; a full queue makes ``dispatch`` wait, never
    drops) and delivered one by one on the worker. An event dispatched from the worker
    itself (a handler of ``consumer`` dispatching a follow-up through the same producer)
    is delivered at once, nested, as a synchronous consumer would, so it can never wait
    on its own queue.

    An exception raised on the worker is re-raised on a producing thread at the next
    dispatch (after that event is queued), at ``flush()`` or at ``close()``; if several
    fail meanwhile, the first is raised and the others logged. ``close()`` delivers every
    accepted event, stops the worker and closes ``consumer`` when it has ``close``;
    dispatching afterwards is an error. At interpreter exit a ``Background`` not closed
    is closed, waiting at most ``exit_timeout`` seconds (``None``: as long as it takes);
    a failure or a timeout there is logged and the process exits with status 1. A
    ``Background`` belongs to the process that made it: in a forked child, dispatching
    through it raises ``RuntimeError``. Consumers whose effect must happen before the
    next step (``EarlyStopping``) stay synchronous.

    Example:
        >>> from torchsystem.services import Consumer, Producer
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

    def __init__(
        self,
        consumer: Routable[type],
        *,
        maxsize: int = 1024,
        name: str | None = None,
        exit_timeout: float | None = None,
    ) -> None:
        if not isinstance(consumer, Routable):
            raise TypeError(
                "Background wraps a consumer (an object with routes(cls) and watch(router), "
                f"such as Consumer), got {consumer!r}"
            )
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.consumer = consumer
        self.name = name if name is not None else f"background-{getattr(consumer, 'name', None)}"
        self.exit_timeout = exit_timeout
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._worker: Worker | None = None  # started by the first event
        self._closed = self._finished = self._forked = False
        self._at_exit: Callable[[], None] | None = None
        self._routes: dict[type, Routes] = {}
        self._listeners = Listeners()
        consumer.watch(self)
        track(self)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def routes(self, cls: type) -> Routes:
        """One route (the queue) for the classes ``consumer`` has handlers for."""
        try:
            return self._routes[cls]
        except KeyError:
            found = (self.submit,) if self.consumer.routes(cls) else ()
            self._routes[cls] = found
            return found

    def watch(self, router: RouteCache) -> None:
        """Call ``router.forget_routes()`` whenever ``consumer``'s routes change."""
        self._listeners.add(router)

    def forget_routes(self) -> None:
        """``consumer`` changed: drop the cached routes and tell the producers."""
        self._routes.clear()
        self._listeners.notify()

    def consume(self, message: Any) -> None:
        """Queue ``message`` for the worker (as ``submit``)."""
        self.submit(message)

    def submit(self, message: Any) -> None:
        """Queue ``message``, then re-raise a failure the worker reported meanwhile.

        Called on the worker itself, it delivers ``message`` at once instead.

        Raises:
            RuntimeError: the background consumer is closed, or was made in another
                process (this one is a forked child).
        """
        worker = self._worker
        if worker is not None and get_ident() == worker.ident:
            self._deliver(message)
            return
        if self._forked:
            self._check_process("dispatch through")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed; create a new one to deliver more events")
            if worker is None:
                worker = self._worker = Worker(self, self._deliver, self._maxsize)
                self._at_exit = drain_at_exit(self)
            worker.put(message)
        if worker.errors:
            self._raise_pending()

    def _deliver(self, message: Any) -> None:
        for handler in self.consumer.routes(type(message)):
            handler(message)

    def _raise_pending(self) -> None:
        assert self._worker is not None, "failures come from the worker"
        errors = self._worker.errors
        first = errors.popleft()
        while errors:
            later = errors.popleft()
            logger.error("%r: a later background failure: %s", self, one_line(later),
                         exc_info=later)
        raise first

    def flush(self) -> None:
        """Wait until every queued event was delivered; re-raise a failure.

        Raises:
            RuntimeError: called from the worker (a handler of ``consumer``), where it
                would wait for itself, or in a forked child.
        """
        self._check_caller("flush")
        if self._worker is not None:
            self._worker.flush()
            if self._worker.errors:
                self._raise_pending()

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, stop the worker, close ``consumer``; re-raise a failure.

        Waits at most ``timeout`` seconds (``None``: as long as it takes). Closing again
        does nothing but wait for what is left and re-raise a failure not raised yet.

        Raises:
            TimeoutError: events are still queued after ``timeout``; the worker goes on
                delivering them and a later ``close()`` waits again.
            RuntimeError: called from the worker or in a forked child.
        """
        self._check_caller("close")
        with self._lock:  # submit queues under the same lock: no event after the stop
            self._closed = True
            worker = self._worker
        if worker is not None and not worker.stop(timeout):
            raise TimeoutError(
                f"{self!r} did not deliver its events within {timeout} s ({worker.pending()} "
                "still queued); the worker goes on, close() again to wait"
            )
        self._finish()
        if worker is not None and worker.errors:
            self._raise_pending()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        close = getattr(self.consumer, "close", None)
        if callable(close):
            close()

    def _check_caller(self, action: str) -> None:
        if self._worker is not None and threading.get_ident() == self._worker.ident:
            raise RuntimeError(
                f"{action}() of {self!r} was called on its own worker (by a handler of the "
                "wrapped consumer), where it would wait for itself; call it from the thread "
                "that dispatches"
            )
        self._check_process(action)

    def _check_process(self, action: str) -> None:
        if self._forked:
            raise RuntimeError(
                f"cannot {action} {self!r} in pid {os.getpid()}: it was made by the parent "
                "process and its worker thread did not survive the fork; make a new "
                "Background (and producer) in the child"
            )

    def __enter__(self) -> Background:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Background({self.consumer!r})"
