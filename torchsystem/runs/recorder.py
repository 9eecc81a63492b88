"""``RunRecorder``: a consumer that records runs and their metrics in the run database."""

from __future__ import annotations

import atexit
import itertools
import sys
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from torchsystem.runs.capture import (
    batch_size,
    hyperparameters,
    identify,
    jsonable,
    learning_rates,
    model_name,
)
from torchsystem.runs.database import Database
from torchsystem.runs.schema import FAILED, FINISHED, INTERRUPTED, STATUSES, STOPPED_EARLY
from torchsystem.runs.writer import Begin, End, Measure, Writer
from torchsystem.services import Consumer
from torchsystem.training.events import Ended, Measured, Started, Stopped, Trained, metric_items

__all__ = ["RunRecorder", "observe"]


@dataclass
class _Run:
    """The training thread's bookkeeping of one open run."""

    key: int
    steps: int | None = 0
    batch_sizes: dict[str, int] = field(default_factory=dict)
    ended: bool = False


def observe(event: Measured, run: _Run) -> Measure:
    """What a ``Trained``/``Validated`` event adds to its run: the phase's metrics, the
    learning rate of every param group after a training phase (those the event carries,
    else read from the model now), the step count, and the phase's batch size the first
    time the phase shows up."""
    values = tuple(metric_items(event.metrics))
    if isinstance(event, Trained):
        rates = event.learning_rates
        values += tuple(metric_items(learning_rates(event.model) if rates is None else rates))
        length = getattr(event.loader, "__len__", None)
        run.steps = run.steps + length() if run.steps is not None and length else None
    update = None
    if event.phase not in run.batch_sizes:
        size = batch_size(event.loader)
        if size is not None:
            run.batch_sizes[event.phase] = size
            update = {"batch_size": dict(run.batch_sizes)}
    return Measure(run.key, event.epoch, run.steps, event.phase, values, time.time(), update)


def _reason(outcome: str, error: BaseException | None) -> str | None:
    """Why a run ended: the stop's message, or ``Type: message`` of an error."""
    if error is None:
        return None
    message = str(error)
    if outcome == STOPPED_EARLY:
        return message or type(error).__name__
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class RunRecorder(Consumer):
    """Record every model trained into the run database: its identity and arguments, a
    run with its hyperparameters and status, and the metrics of every phase and epoch.

    Register it with the training service's producer. Each ``fit`` is one run: its
    ``Started`` event starts it (at the time ``fit`` began, with the hyperparameters the
    event carries: the registry arguments of the aggregate's parts, each optimizer's
    class and param-group settings, LR schedulers, the seed, ``epochs`` and each phase's
    batch size), ``Trained``/``Validated`` add each phase's metrics (a training phase
    also the learning rate of every param group, ``lr``), and ``Ended`` ends it with
    fit's outcome: ``finished``, ``stopped early``, ``failed`` or ``interrupted``. The
    model is the event's ``model_id``; only its registered name (or class name) is read
    from it, on the training thread. ``hyperparameters`` adds your own (they win over
    those captured). The database is written by one thread in batches (every
    ``interval`` seconds), so the training thread only queues.

    Events of a service that dispatches no ``Started`` (a hand-written one, or single
    ``train``/``iterate`` calls) work too: a model's first ``Measured`` event starts a
    run, capturing what it can from the model then; ``Stopped`` ends it ``stopped
    early``; ``close()`` ends the runs still open ``finished`` (``failed``, or
    ``interrupted`` on Ctrl-C, when the ``with`` block it is used in raises). At process
    exit an unclosed recorder writes everything and ends what is still open as
    ``interrupted``. A process killed outright leaves its run ``running`` until anyone
    opens the database, which then sees the process gone and marks it ``interrupted``.

    The database is opened at construction: a file that is not SQLite, an unreachable
    server, a read-only database or a newer schema raise ``RunDatabaseError`` before
    training starts. A write that fails later is logged as a warning and retried while
    training goes on; ``flush()`` and ``close()`` raise it if records remain unwritten.

    Raises:
        RunDatabaseError: the database cannot be used (above).
        ValueError: ``interval`` is negative, or ``heartbeat`` is not under half the
            database's ``stale_after``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with RunRecorder(f"{folder}/runs.db", hyperparameters={"data": "v2"}) as recorder:
        ...     pass  # training.producer.register(recorder); training.fit(...)
        >>> recorder.database.name.endswith("runs.db")
        True
    """

    def __init__(
        self, database: str | Path | Database | None = None, *,
        hyperparameters: Mapping[str, Any] | None = None, interval: float = 1.0,
        heartbeat: float = 15.0, name: str = "runs",
    ) -> None:
        super().__init__(name)
        if not interval >= 0:
            raise ValueError(f"interval must be a number of seconds >= 0, got {interval}")
        self._owned = not isinstance(database, Database)
        self.database = database if isinstance(database, Database) else Database(database)
        if not 0 < heartbeat <= self.database.stale_after / 2:
            if self._owned:
                self.database.close()
            raise ValueError(
                f"heartbeat must be between 0 and half the database's stale_after "
                f"({self.database.stale_after:g} s), got {heartbeat}: a run would look dead "
                "between two heartbeats"
            )
        self.hyperparameters = jsonable(dict(hyperparameters or {}))
        self._writer = Writer(self.database, interval=interval, heartbeat=heartbeat)
        self._runs: weakref.WeakKeyDictionary[Any, _Run] = weakref.WeakKeyDictionary()
        self._open: dict[int, _Run] = {}  # by key: ended at close even if the model is gone
        self._keys = itertools.count(1)
        self._at_exit: Callable[[], None] | None = None
        self._closed = False
        self.register(Started, self.started)
        self.register(Measured, self.measured)
        self.register(Stopped, self.stopped)
        self.register(Ended, self.ended)

    def started(self, event: Started) -> None:
        """Start a run of the event's model (ending one still open ``finished``).

        Raises:
            RuntimeError: the recorder is closed.
        """
        self._check_open()
        self._finish(event.model, FINISHED, None, event.time)
        model_id = identify(event.model) if event.model_id is None else event.model_id
        self._begin(event.model, model_id, event.hyperparameters, event.time)

    def measured(self, event: Measured) -> None:
        """Record the metrics of a phase (starting a run if the model has none open).

        Raises:
            RuntimeError: the recorder is closed.
        """
        self._check_open()
        run = self._runs.get(event.model)
        if run is None or run.ended:
            model_id = identify(event.model) if event.model_id is None else event.model_id
            run = self._begin(event.model, model_id, hyperparameters(event.model), time.time())
        self._writer.put(observe(event, run))

    def stopped(self, event: Stopped) -> None:
        """End the model's run as ``stopped early``, with the reason."""
        self._finish(event.model, STOPPED_EARLY, _reason(STOPPED_EARLY, event.reason),
                     time.time())

    def ended(self, event: Ended) -> None:
        """End the model's run with ``fit``'s outcome (if ``Stopped`` did not already).

        Raises:
            ValueError: the outcome is not one a run can end with.
        """
        if event.outcome not in STATUSES[1:]:
            raise ValueError(f"a run ends as one of {list(STATUSES[1:])}, not "
                             f"{event.outcome!r}")
        self._finish(event.model, event.outcome, _reason(event.outcome, event.reason),
                     event.time)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new one to record more runs")

    def _begin(
        self, model: Any, model_id: str, captured: Mapping[str, Any], started: float,
    ) -> _Run:
        sizes = captured.get("batch_size")
        run = _Run(next(self._keys), batch_sizes=dict(sizes) if isinstance(sizes, dict) else {})
        settings = {**captured, **self.hyperparameters}
        arguments = captured.get("model")
        self._writer.put(Begin(run.key, model_id, model_name(model),
                               dict(arguments) if isinstance(arguments, dict) else {},
                               settings, tuple(sys.orig_argv), started))
        self._runs[model] = self._open[run.key] = run
        if self._at_exit is None:  # holds the recorder until it is closed
            self._at_exit = self._interrupt_at_exit
            atexit.register(self._at_exit)
        return run

    def _finish(self, model: Any, status: str, reason: str | None, ended: float) -> None:
        run = self._runs.get(model)
        if run is not None and not run.ended:
            run.ended = True
            del self._open[run.key]
            self._writer.put(End(run.key, status, reason, ended))

    def run_id(self, model: Any) -> int | None:
        """The database id of the latest run of ``model`` (waits until it is written)."""
        run = self._runs.get(model)
        if run is None:
            return None
        self._writer.flush()
        return self._writer.run_id(run.key)

    def flush(self) -> None:
        """Write every record queued so far.

        Raises:
            RunDatabaseError: records remain unwritten.
        """
        self._writer.flush()

    def close(self, error: BaseException | None = None) -> None:
        """End open runs (``finished``; ``failed`` with ``error``, ``interrupted`` for a
        ``KeyboardInterrupt``), write everything, stop the writer. Idempotent.

        Raises:
            RunDatabaseError: records remain unwritten.
        """
        if self._closed:
            self._writer.close()  # raises what is still unwritten, if anything
            return
        self._closed = True
        if error is None:
            self._end(FINISHED, None)
        else:
            outcome = FAILED if isinstance(error, Exception) else INTERRUPTED
            self._end(outcome, _reason(outcome, error))
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        try:
            self._writer.close()
        finally:
            if self._owned:
                self.database.close()

    def _end(self, status: str, reason: str | None) -> None:
        for run in self._open.values():
            run.ended = True
            self._writer.put(End(run.key, status, reason, time.time()))
        self._open.clear()

    def _interrupt_at_exit(self) -> None:
        self._end(INTERRUPTED, "the process exited before the recorder was closed")
        self.close()

    def __enter__(self) -> RunRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, SystemExit) and error.code in (None, 0):
            error = None
        self.close(error)

    def __repr__(self) -> str:
        return f"RunRecorder({self.database.name!r})"
