"""A graceful stop of a running job, requested from another thread or process.

This module is the one place that decides how a stop request ends training. Today it is
cooperative: ``GracefulStop.attach(producer)`` registers a consumer of the per-step
``Stepped`` event that raises ``JobStopped`` once a stop was requested, so training ends
after the step in progress. A checkpointing stop (one that finishes the step, dispatches
an event and writes a checkpoint) replaces the body of ``attach`` and ``request`` without
changing their callers (``JobContext`` and the executors).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from torchsystem.services import Consumer, Producer
from torchsystem.training.events import Stepped

__all__ = ["GracefulStop", "JobStopped", "Signal"]


class JobStopped(KeyboardInterrupt):
    """Training was stopped on request (``DELETE /jobs/{id}``, or ``Jobs.stop``).

    A ``KeyboardInterrupt``, as Ctrl-C is on the command line: ``except Exception`` does
    not swallow it, and a ``RunRecorder`` closed with it ends the run as ``interrupted``.

    Example:
        >>> isinstance(JobStopped("stop requested for job 3f2a"), KeyboardInterrupt)
        True
    """


class Signal(Protocol):
    """Anything that can be set once and read from another thread."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class GracefulStop:
    """Stop training after the current step once ``request()`` was called.

    ``attach(producer)`` makes every training that dispatches through ``producer`` check
    for the request after each step (``Stepped``) and raise ``JobStopped`` there;
    ``request()`` may be called from any thread, any number of times.

    Example:
        >>> from torchsystem.services import Producer
        >>> producer, stop = Producer(), GracefulStop("job 3f2a")
        >>> stop.attach(producer)
        >>> stop.request()
        >>> stop.requested
        True
    """

    def __init__(self, owner: str, signal: Signal | None = None) -> None:
        self.owner = owner
        self.signal: Signal = threading.Event() if signal is None else signal
        self._consumer = Consumer(f"stop {owner}")
        self._consumer.register(Stepped, self._check)

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signal.is_set()

    def request(self) -> None:
        """Ask the attached training to stop after its current step."""
        self.signal.set()

    def attach(self, producer: Producer) -> None:
        """Check for a stop request after every step of training dispatched through
        ``producer``."""
        producer.register(self._consumer)

    def _check(self, event: Any) -> None:
        if self.signal.is_set():
            raise JobStopped(f"stop requested for {self.owner} (after step {event.step} of "
                             f"{event.phase}, epoch {event.epoch})")
