"""``Writer``: apply run records to the database on one thread, in batches.

The training thread only queues immutable messages (``Begin``, ``Measure``, ``End``),
built from values it captured itself; the writer owns everything else: the database
ids of the runs, the rows not written yet, the heartbeats.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from torchsystem.runs.database import Database
from torchsystem.runs.errors import RunDatabaseError
from torchsystem.runs.records import (
    add_metrics,
    add_model,
    end_run,
    renew_runs,
    start_run,
    update_run,
)

__all__ = ["Begin", "End", "Measure", "Writer"]

logger = logging.getLogger("torchsystem.runs")


@dataclass(frozen=True)
class Begin:
    """A run of model ``model`` (hash) started: what identifies and describes it."""

    key: int
    model: str
    name: str
    arguments: dict[str, Any]
    hyperparameters: dict[str, Any]
    command: tuple[str, ...]
    started: float


@dataclass(frozen=True)
class Measure:
    """Metrics of one phase of an epoch; ``hyperparameters`` to merge, if any."""

    key: int
    epoch: int
    step: int | None
    phase: str
    values: tuple[tuple[str, float], ...]
    time: float
    hyperparameters: dict[str, Any] | None = None


@dataclass(frozen=True)
class End:
    """The run ended with ``status`` for ``reason``."""

    key: int
    status: str
    reason: str | None
    time: float


@dataclass
class _Signal:
    stop: bool
    done: threading.Event = field(default_factory=threading.Event)


_AT_ONCE = (_Signal, Begin, End)  # written without waiting for the interval


class Writer:
    """Write queued messages to ``database`` on a worker thread, at most every
    ``interval`` seconds, one transaction per batch; a run's start and end (``Begin``,
    ``End``) are written at once with what was queued before them, so a run is in the
    database as soon as it starts, however soon its process dies; ``flush`` writes at
    once too.

    While runs are open, their heartbeat is renewed at every batch and at least every
    ``heartbeat`` seconds. A batch that fails is kept and tried again with the next one;
    the failure is logged as a warning (training goes on), and ``flush``/``close`` raise
    it while rows remain unwritten, so nothing is lost without an error.
    """

    def __init__(
        self, database: Database, *, interval: float = 1.0, heartbeat: float = 15.0,
        name: str = "torchsystem-runs-writer",
    ) -> None:
        self.database, self.interval, self.heartbeat = database, interval, heartbeat
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._ids: dict[int, int] = {}  # the writer thread's: key -> run id
        self._open: set[int] = set()
        self._pending: list[Any] = []
        self._failure: BaseException | None = None

    def put(self, message: Begin | Measure | End) -> None:
        """Queue ``message`` (cheap: the training thread never waits for the database).

        Raises:
            RuntimeError: the writer is closed.
        """
        if self._closed:
            raise RuntimeError(f"the run writer of {self.database.name} is closed")
        if self._thread is None:
            self._start()
        self._queue.put(message)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def run_id(self, key: int) -> int | None:
        """The database id of the run ``key`` (once written; ``flush`` first)."""
        return self._ids.get(key)

    def flush(self) -> None:
        """Write everything queued now; raise if some of it could not be written.

        Raises:
            RunDatabaseError: rows remain unwritten (the cause is chained).
        """
        self._signal(stop=False)
        self._raise_unwritten()

    def close(self) -> None:
        """Write everything queued, stop the thread; raise if rows remain unwritten."""
        with self._lock:
            closing, self._closed = not self._closed, True
        if closing:
            self._signal(stop=True)
        self._raise_unwritten()

    def _signal(self, stop: bool) -> None:
        if self._thread is None:
            return
        signal = _Signal(stop)
        self._queue.put(signal)
        signal.done.wait()

    def _raise_unwritten(self) -> None:
        pending, failure = len(self._pending), self._failure
        if pending and failure is not None:
            raise RunDatabaseError(self.database.name, (
                f"{pending} run record(s) could not be written to {self.database.name}: "
                f"{failure}"
            )) from failure

    def _work(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.heartbeat)
            except queue.Empty:
                self._commit()  # a heartbeat
                continue
            items = [first]
            deadline = time.monotonic() + self.interval
            while not isinstance(items[-1], _AT_ONCE):
                remaining = deadline - time.monotonic()
                try:
                    items.append(self._queue.get(timeout=remaining) if remaining > 0
                                 else self._queue.get_nowait())
                except queue.Empty:
                    break
            self._pending.extend(item for item in items if not isinstance(item, _Signal))
            self._commit()
            if isinstance(items[-1], _Signal):
                items[-1].done.set()
                if items[-1].stop:
                    return

    def _commit(self) -> None:
        if not self._pending and not self._open:
            return
        ids, opened = dict(self._ids), set(self._open)
        try:
            with self.database.translated(), self.database.transaction() as connection:
                self._apply(connection, ids, opened)
        except BaseException as error:  # kept and retried; raised by flush/close
            if self._failure is None:
                logger.warning("cannot write %d run record(s) to %s (training goes on; "
                               "retrying): %s", len(self._pending), self.database.name, error)
            self._failure = error
            return
        if self._failure is not None:
            logger.warning("run records reach %s again", self.database.name)
        self._ids, self._open, self._pending, self._failure = ids, opened, [], None

    def _apply(self, connection: Connection, ids: dict[int, int], opened: set[int]) -> None:
        rows: list[dict[str, Any]] = []
        for message in self._pending:
            if isinstance(message, Begin):
                add_model(connection, message.model, message.name, message.arguments)
                ids[message.key] = start_run(
                    connection, message.model, hyperparameters=message.hyperparameters,
                    started=message.started, command=message.command)
                opened.add(message.key)
            elif isinstance(message, Measure):
                run = ids[message.key]
                rows.extend({"run": run, "epoch": message.epoch, "step": message.step,
                             "phase": message.phase, "name": name, "value": value,
                             "time": message.time} for name, value in message.values)
                update_run(connection, run, hyperparameters=message.hyperparameters)
            else:
                end_run(connection, ids[message.key], message.status, message.reason,
                        message.time)
                opened.discard(message.key)
        add_metrics(connection, rows)
        renew_runs(connection, [ids[key] for key in opened])
