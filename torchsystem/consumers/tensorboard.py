"""``TensorBoard``: one folder per run, a scalar per metric and epoch, hyperparameters."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchsystem.consumers._eventfile import EventFile
from torchsystem.consumers._hparams import flatten, session_end, session_start
from torchsystem.consumers._reports import MetricsConsumer, PerModel, identity, report_of
from torchsystem.training.events import Ended, Started, metric_items
from torchsystem.training.hyperparameters import arguments
from torchsystem.training.protocol import identify

__all__ = ["TensorBoard", "run_folder"]


@dataclass
class _Run:
    folder: Path
    writer: Any


class _Slot:
    """The run a model is in, if any."""

    def __init__(self) -> None:
        self.run: _Run | None = None


def run_folder(log_dir: str | Path, model_id: str, started: float) -> Path:
    """Make and return a new folder ``<log_dir>/<model id>/<start>`` for a run.

    ``<start>`` is the local time ``started`` (seconds since the epoch) to the second,
    ``2026-11-27_17-44-33``, with ``-2``, ``-3``... when that folder exists already (also
    one made by another process meanwhile: the folder is claimed by creating it).
    Characters of the id other than letters, digits, ``.``, ``_`` and ``-`` become ``_``.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", model_id)
    parent = Path(log_dir) / (name if name.strip(".") else "_" * max(len(name), 1))
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(started))
    folder, count = parent / stamp, 1
    while True:
        try:
            folder.mkdir()
        except FileExistsError:
            count += 1
            folder = parent / f"{stamp}-{count}"
            continue
        return folder


class TensorBoard(MetricsConsumer):
    """Write each run into a folder of its own, ``<log_dir>/<model id>/<start>``: a scalar
    per metric and phase at every epoch (tags ``loss/train``, ``accuracy/validation``...),
    the learning rate of each param group (``lr/train``; ``lr.0/train``... for several
    groups), the run's hyperparameters and its status for TensorBoard's HParams
    dashboard, which shows them next to the final value of each of the run's scalars.

    A run is one ``fit`` of the ready ``Training``: ``Started`` opens the folder, named
    by the local time fit began (``2026-11-27_17-44-33``; see ``run_folder``), and
    writes the hyperparameters the event carries (registry arguments of the model's
    parts, optimizer settings, seed, epochs, batch sizes, flattened as
    ``optimizer.param_groups.0.lr``); ``Ended`` records its outcome (``finished`` and
    ``stopped early`` as success, ``failed`` and ``interrupted`` as failure) and
    closes its writer. A ``RunRecorder`` reads the same ``Started``: the folder's name
    is the ``started`` time of the run in the run database, to the second.

    Events of a service that dispatches no ``Started`` (a hand-written one, torchsystem
    1.3's) open a run at the model's first metrics event, with the registry arguments of
    the model as hyperparameters; it stays open until ``close()``. Learning rates come
    only with the ``Trained`` events of ``Training``, which read them on the training
    thread; so this consumer may run on another (``Background``).

    ``writer(folder)`` makes the writer of each run folder. The default writes the event
    file in the calling thread, each record handed to the operating system at once (no
    writer thread: opening, writing and closing a run's file costs about a millisecond);
    ``torch.utils.tensorboard.SummaryWriter`` works too, and any object with
    ``add_scalar``, ``flush`` and ``close``. hparams are written through the writer's
    ``_get_file_writer()`` when it has one. No file is touched before the first event.

    Example:
        >>> from torchsystem.services import Producer
        >>> producer = Producer()
        >>> board = TensorBoard("runs/example")
        >>> producer.register(board)
    """

    def __init__(
        self,
        log_dir: str | Path | None = None,
        *,
        writer: Callable[[str], Any] | None = None,
        name: str = "tensorboard",
        isolate: bool = False,
    ) -> None:
        super().__init__(name, isolate=isolate)
        if writer is None:
            try:  # its protocol buffers write the hparams records
                import tensorboard  # type: ignore[import-untyped]  # noqa: F401 - optional
            except ImportError as missing:
                raise ImportError(
                    "TensorBoard needs the tensorboard package: "
                    "pip install 'torchsystem[tensorboard]'"
                ) from missing
            writer = EventFile
        self.log_dir = Path("runs" if log_dir is None else log_dir)
        self._make_writer = writer
        self._slots: PerModel[_Slot] = PerModel(_Slot)
        self._open: list[_Run] = []
        self._lock = threading.RLock()
        self.register(Started, self.started)
        self.register(Ended, self.ended)
        self.register(object, self.write)

    def started(self, event: Started) -> None:
        """Open the folder of the run ``fit`` began; write its hyperparameters."""
        model_id = identify(event.model) if event.model_id is None else event.model_id
        with self._lock:
            slot = self._slots.get(event.model)
            if slot.run is not None:  # a run without an end: leave it without a status
                self._close(slot.run)
            slot.run = self._start(model_id, event.hyperparameters, event.time)

    def ended(self, event: Ended) -> None:
        """Record the run's outcome and close its writer."""
        with self._lock:
            slot = self._slots.get(event.model)
            if slot.run is None:
                return
            run, slot.run = slot.run, None
            _add_summary(run.writer, session_end(event.outcome, event.time))
            self._close(run)

    def write(self, event: object) -> None:
        """Write the scalars of ``event`` if it carries metrics; ignore it otherwise."""
        report = report_of(event)
        if report is None:
            return
        with self._lock:
            slot = self._slots.get(report.model)
            if slot.run is None:
                described = {"model": arguments(report.model)}
                slot.run = self._start(identity(report), described, time.time())
            writer = slot.run.writer
            for metric, value in report.metrics:
                writer.add_scalar(f"{metric}/{report.phase}", value, report.epoch)
            rates = getattr(event, "learning_rates", None)
            for metric, value in metric_items(() if rates is None else rates):
                writer.add_scalar(f"{metric}/{report.phase}", value, report.epoch)

    def _start(self, model_id: str, hyperparameters: Mapping[str, Any], started: float) -> _Run:
        folder = run_folder(self.log_dir, model_id, started)
        run = _Run(folder, self._make_writer(str(folder)))
        self._open.append(run)
        hparams = flatten(hyperparameters)
        if hparams:
            _add_summary(run.writer, session_start(hparams, started))
        return run

    def _close(self, run: _Run) -> None:
        self._open = [known for known in self._open if known is not run]
        run.writer.flush()
        close = getattr(run.writer, "close", None)
        if callable(close):
            close()

    @property
    def folders(self) -> list[Path]:
        """The folders of the runs open now, oldest first."""
        with self._lock:
            return [run.folder for run in self._open]

    def flush(self) -> None:
        """Push what was written to disk."""
        with self._lock:
            for run in self._open:
                run.writer.flush()

    def close(self) -> None:
        """Flush and close every open run's writer (without a status: the runs did not
        say how they ended); a later event opens a new run."""
        with self._lock:
            for run in list(self._open):
                self._close(run)
            self._slots.clear()


def _add_summary(writer: Any, summary: Any) -> None:
    file_writer = getattr(writer, "_get_file_writer", None)
    if callable(file_writer):
        file_writer().add_summary(summary)
