"""A graceful stop of a running job, requested from another thread or process.

This module is the one place that decides how a stop request ends a job's training, and
it ends it as ``torchsystem.storage.GracefulStop`` ends a training stopped by SIGTERM:
``GracefulStop.attach(producer)`` registers a consumer of the per-step ``Stepped`` and
the epoch boundary's ``Advanced`` events; once a stop was requested, the next of them
dispatches ``Interrupted`` through ``producer`` (a ``Checkpoints`` registered there
makes its newest checkpoint durable and says which it is), then raises ``JobStopped``
(a ``StopRequested``) with a one-line message, so training ends after the step in
progress.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from torchsystem.services import Consumer, Producer
from torchsystem.storage.stop import Interrupted, StopRequested
from torchsystem.training.events import Advanced, Stepped

__all__ = ["GracefulStop", "JobStopped", "Signal"]


class JobStopped(StopRequested):
    """Training was stopped on request (``DELETE /jobs/{id}``, or ``Jobs.stop``).

    A ``StopRequested`` of ``torchsystem.storage``, so a ``KeyboardInterrupt`` as Ctrl-C
    is on the command line: ``except Exception`` does not swallow it, a ``RunRecorder``
    closed with it ends the run as ``interrupted``, and one ``except StopRequested``
    catches a stop by signal and a stop by request alike.

    Example:
        >>> stopped = JobStopped("stop requested for job 3f2a (at the end of epoch 2)")
        >>> isinstance(stopped, StopRequested), isinstance(stopped, KeyboardInterrupt)
        (True, True)
    """


class Signal(Protocol):
    """Anything that can be set once and read from another thread."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class GracefulStop:
    """Stop training after the current step once ``request()`` was called (or the
    ``signal`` was set from elsewhere), with the newest checkpoint on disk.

    ``attach(producer)`` makes every training that dispatches through ``producer`` check
    for the request after each step (``Stepped``) and at each epoch boundary
    (``Advanced``); there it dispatches ``Interrupted`` through ``producer`` (register
    ``Checkpoints`` there: it makes the newest checkpoint durable and notes which it
    is), then raises ``JobStopped``, whose message says where training stopped and what
    was saved. ``request()`` may be called from any thread, any number of times.

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
        self._lock = threading.Lock()
        self._raised = False

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signal.is_set()

    def request(self) -> None:
        """Ask the attached training to stop after its current step."""
        self.signal.set()

    def attach(self, producer: Producer) -> None:
        """Check for a stop request after every step and at every epoch boundary of
        training dispatched through ``producer``; ``Interrupted`` goes through it."""
        consumer = Consumer(f"stop {self.owner}")

        def stepped(event: Stepped) -> None:
            if self.signal.is_set():
                self._stop(producer, event.model, event.epoch - 1, event.phase, event.step,
                           event.model_id)

        def advanced(event: Advanced) -> None:
            if self.signal.is_set():
                self._stop(producer, event.model, event.epoch, None, None, event.model_id)

        consumer.register(Stepped, stepped)
        consumer.register(Advanced, advanced)
        producer.register(consumer)

    def _stop(self, producer: Producer, model: Any, epoch: int, phase: str | None,
              step: int | None, model_id: str | None) -> None:
        with self._lock:  # one Interrupted per request, however many trainings listen
            if self._raised:
                return
            self._raised = True
        interrupted = Interrupted(model, epoch, phase, step, f"a stop request for {self.owner}",
                                  model_id)
        producer.dispatch(interrupted)
        where = (f"at the end of epoch {epoch}" if step is None
                 else f"after step {step} of {phase}, epoch {epoch + 1}")
        saved = ("; ".join(interrupted.notes) if interrupted.notes
                 else "no checkpoint (none are written)")
        raise JobStopped(f"stop requested for {self.owner} ({where}); {saved}")
