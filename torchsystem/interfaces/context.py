"""``JobContext``: what a command handler knows of the job it runs in.

A handler asks for it by injection, ``job: JobContext = Depends(current_job)``, and
learns the job's id, its device and the run database, attaches the training's producer
(``job.attach(producer)``: events stream to the job's clients and a stop request ends
training after the current step), and tags what it records with ``job.tags``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torchsystem.interfaces.events import EventStream
from torchsystem.interfaces.stopping import GracefulStop, Signal
from torchsystem.services import Producer

__all__ = ["JobContext", "current_job", "running"]

_current: contextvars.ContextVar[JobContext] = contextvars.ContextVar("torchsystem_job")


class JobContext:
    """The job a command runs in: ``id``, ``command`` (its name), ``device``,
    ``database`` (the run database's URL, ``None`` for the default), ``foreground``
    (run from the command line, not by a server).

    Example:
        >>> from torchsystem.services import Producer
        >>> seen = []
        >>> job = JobContext("3f2a9c01b7de", "train", "cpu", sink=seen.append)
        >>> job.attach(producer := Producer())
        >>> job.tags
        {'job': '3f2a9c01b7de'}
    """

    def __init__(
        self, id: str, command: str, device: str, *, database: str | None = None,  # noqa: A002
        foreground: bool = False, sink: Callable[[dict[str, Any]], object] | None = None,
        stop: Signal | None = None,
    ) -> None:
        self.id, self.command, self.device = id, command, device
        self.database, self.foreground = database, foreground
        self._sink = sink
        self._stop = GracefulStop(f"job {id}", stop)

    @property
    def tags(self) -> dict[str, str]:
        """Hyperparameters that link a recorded run to this job (``GET /jobs/{id}``
        finds the runs tagged so)."""
        return {"job": self.id}

    @property
    def stop_requested(self) -> bool:
        """Whether someone asked the job to stop."""
        return self._stop.requested

    def attach(self, producer: Producer) -> None:
        """Stream the events dispatched through ``producer`` to the job's clients and
        stop its training after the current step when the job is stopped."""
        if self._sink is not None:
            producer.register(EventStream(self._sink))
        self._stop.attach(producer)

    def publish(self, record: dict[str, Any]) -> None:
        """Send a record of the handler's own to the job's event stream."""
        if self._sink is not None:
            self._sink(record)

    def __repr__(self) -> str:
        return f"JobContext({self.id!r}, {self.command!r}, {self.device!r})"


def current_job() -> JobContext:
    """The job the calling command handler runs in (a dependency: ``Depends(current_job)``).

    Raises:
        RuntimeError: called outside a command handler run by an application.
    """
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "current_job() is only known inside a command handler run by an application "
            "(Application.execute, the command line or the HTTP server); pass a JobContext "
            "explicitly, or override current_job in a test"
        ) from None


@contextmanager
def running(job: JobContext) -> Iterator[JobContext]:
    """Make ``job`` the current job in this thread while the block runs."""
    token = _current.set(job)
    try:
        yield job
    finally:
        _current.reset(token)
