"""``GracefulStop``: end training cleanly on SIGTERM, Ctrl-C, or a request from any thread."""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import field
from types import FrameType, TracebackType
from typing import Any

from torchsystem.services import Consumer, Producer, event
from torchsystem.training.events import Advanced, Stepped

__all__ = ["GracefulStop", "Interrupted", "StopRequested"]

logger = logging.getLogger("torchsystem.storage")


@event
class Interrupted:
    """Training is being stopped on request (``GracefulStop``), after a finished step.

    ``epoch`` is the number of finished epochs (what a resume continues from); ``phase``
    and ``step`` say where in the next epoch it stopped (both ``None`` when it stopped
    at the epoch boundary). Consumers react on the training thread and may add a short
    note for the stop message to ``notes`` (``Checkpoints`` says which checkpoint holds
    the state).

    Example:
        >>> Interrupted(None, 7, "train", 12, "SIGTERM", model_id="3f2a")
        Interrupted(epoch=7, phase='train', step=12, reason='SIGTERM', model_id='3f2a')
    """

    model: Any
    epoch: int
    phase: str | None
    step: int | None
    reason: str
    model_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"Interrupted(epoch={self.epoch}, phase={self.phase!r}, step={self.step}, "
                f"reason={self.reason!r}, model_id={self.model_id!r})")


class StopRequested(KeyboardInterrupt):
    """Raised on the training thread after a requested stop was handled; its message is
    one line for the user, ``status`` the exit status for the process (128 + the signal
    number, or 1 for a request from code).

    It is a ``KeyboardInterrupt``, so ``except Exception`` does not swallow it and run
    records mark the run as interrupted.

    Example:
        >>> stop = StopRequested("training stopped by SIGTERM after epoch 3", 143)
        >>> stop.status, str(stop)
        (143, 'training stopped by SIGTERM after epoch 3')
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[type[StopRequested], tuple[str, int]]:
        return type(self), (str(self), self.status)


class GracefulStop(Consumer):
    """Stop training after the step in progress when asked: dispatch ``Interrupted``
    (so ``Checkpoints`` makes its newest checkpoint durable), then raise
    ``StopRequested`` on the training thread, with a one-line message.

    Ask with ``request_stop(reason)`` from any thread (a job server), or with a signal:
    while the ``with`` block runs in the main thread, SIGINT (Ctrl-C) and SIGTERM
    request a stop, and a second one exits the process at once (status 128 + signal;
    what was already durable stays). Register it with the training service's producer,
    after ``Checkpoints``; ``producer`` is where ``Interrupted`` is dispatched. A stop
    is noticed after each step (``Stepped``) and at each epoch boundary (``Advanced``);
    it is used up when it raises.

    Example:
        >>> from torchsystem.services import Producer
        >>> producer = Producer()
        >>> stop = GracefulStop(producer)
        >>> producer.register(stop)
        >>> stop.request_stop("DELETE /jobs/3")
        >>> stop.requested
        'DELETE /jobs/3'
    """

    def __init__(
        self, producer: Producer | None = None, *,
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
        name: str = "graceful-stop",
    ) -> None:
        super().__init__(name)
        self.producer = producer
        self.signals = signals
        self._lock = threading.RLock()  # the signal handler may run while it is held
        self._reason: str | None = None
        self._status = 1
        self._received = 0
        self._previous: dict[int, Any] = {}
        self.register(Stepped, self._stepped)
        self.register(Advanced, self._advanced)

    @property
    def requested(self) -> str | None:
        """The reason of the stop requested and not yet used up, else ``None``."""
        return self._reason

    def request_stop(self, reason: str = "a stop was requested", *, status: int = 1) -> None:
        """Ask training to stop after the step in progress; safe from any thread.

        A request while one is pending keeps the first reason.
        """
        with self._lock:
            if self._reason is None:
                self._reason, self._status = reason, status

    def _stepped(self, event: Stepped) -> None:
        if self._reason is not None:
            epoch = event.epoch - 1
            self._stop(event.model, epoch, event.phase, event.step, event.model_id)

    def _advanced(self, event: Advanced) -> None:
        if self._reason is not None:
            self._stop(event.model, event.epoch, None, None, event.model_id)

    def _stop(
        self, model: Any, epoch: int, phase: str | None, step: int | None, model_id: str | None,
    ) -> None:
        with self._lock:
            reason, status, self._reason = self._reason, self._status, None
        if reason is None:
            return
        interrupted = Interrupted(model, epoch, phase, step, reason, model_id)
        if self.producer is not None:
            self.producer.dispatch(interrupted)
        where = (f"at the end of epoch {epoch}" if step is None
                 else f"during epoch {epoch + 1} (after {phase} step {step})")
        notes = "; ".join(interrupted.notes) if interrupted.notes else "nothing was saved"
        raise StopRequested(
            f"training stopped by {reason} {where}; {notes}; run it again to resume", status
        )

    # --- signals -----------------------------------------------------------------------

    def _signalled(self, number: int, frame: FrameType | None) -> None:
        self._received += 1
        name = signal.Signals(number).name
        if self._received > 1:
            os.write(2, f"\n{name} again: exiting at once\n".encode())
            os._exit(128 + number)
        os.write(2, f"\n{name}: stopping after the current step (again to exit at once)\n"
                 .encode())
        self.request_stop(name, status=128 + number)

    def __enter__(self) -> GracefulStop:
        """Install the signal handlers (in the main thread; elsewhere none is installed)."""
        self._received = 0
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._signalled)
        else:
            logger.debug("GracefulStop entered outside the main thread: no signal handlers")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Put the previous signal handlers back."""
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler)
