"""``EarlyStopping``: stop at the epoch boundary when a metric stops improving."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from torchsystem.consumers._reports import MetricsConsumer, PerModel, Report, report_of
from torchsystem.domain.aggregate import trains

__all__ = ["EarlyStopped", "EarlyStopping"]

logger = logging.getLogger("torchsystem.consumers")


class EarlyStopped(StopIteration):
    """Enqueued on the aggregate's events; raised when they are committed (epoch end).

    It survives ``pickle``, ``copy.deepcopy`` and ``torch.save`` (an aggregate that holds
    one in its queue can be checkpointed at the stopping epoch).

    Example:
        >>> stop = EarlyStopped("loss", "validation", 0.25, epoch=7, patience=3)
        >>> str(stop)
        'validation loss did not improve on 0.25 for 3 epoch(s)'
    """

    def __init__(self, metric: str, phase: str, best: float, epoch: int, patience: int) -> None:
        super().__init__(f"{phase} {metric} did not improve on {best:.6g} for {patience} epoch(s)")
        self.metric, self.phase, self.best = metric, phase, best
        self.epoch, self.patience = epoch, patience

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = (self.metric, self.phase, self.best, self.epoch, self.patience)
        return (type(self), arguments, self.__dict__)


@dataclass
class _Record:
    best: float = math.nan
    waited: int = 0


class EarlyStopping(MetricsConsumer):
    """Watch ``metric`` in ``phase``; after ``patience`` epochs without an improvement of
    more than ``min_delta`` (down for ``mode='min'``, up for ``'max'``), enqueue
    ``EarlyStopped`` (a ``StopIteration``) on the model's domain events.

    The aggregate raises it when its events are committed at the epoch boundary (the
    ready ``Training`` service commits them once per epoch; a hand-written loop commits in
    ``onepoch``), so register it directly, not through ``Background``. A NaN never
    improves. Records are kept per model and the count starts again after a stop.
    ``phase=None`` watches every phase (``'training'`` is read as ``'train'``); if the
    watched phase never shows up, a warning names the phases that did.

    Example:
        >>> stopper = EarlyStopping("accuracy", mode="max", patience=3)
        >>> stopper.best(object()) is None
        True
    """

    def __init__(
        self,
        metric: str = "loss",
        *,
        mode: Literal["min", "max"] = "min",
        patience: int = 3,
        min_delta: float = 0.0,
        phase: str | None = "validation",
        name: str = "early-stopping",
    ) -> None:
        super().__init__(name)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be a non-negative number, got {min_delta}")
        self.metric, self.mode, self.patience = metric, mode, patience
        self.min_delta = min_delta
        self.phase = "train" if phase is not None and trains(phase) else phase
        self._records: PerModel[_Record] = PerModel(_Record)
        self._phases_seen: set[str] = set()
        self._warned = False
        self.register(object, self.watch)

    def watch(self, event: object) -> None:
        """Update the model's record from a metrics event; enqueue a stop when it is time."""
        report = report_of(event)
        if report is None:
            return
        self._phases_seen.add(report.phase)
        if self.phase is not None and report.phase != self.phase:
            self._warn_if_blind(report)
            return
        value = self._value(report)
        record = self._records.get(report.model)
        if self._improved(record.best, value):
            record.best, record.waited = value, 0
            return
        record.waited += 1
        if record.waited >= self.patience:
            record.waited = 0
            stop = EarlyStopped(self.metric, report.phase, record.best, report.epoch, self.patience)
            report.model.events.enqueue(stop)

    def _value(self, report: Report) -> float:
        values = dict(report.metrics)
        if self.metric not in values:
            raise ValueError(
                f"EarlyStopping watches {self.metric!r} but the {report.phase!r} metrics are "
                f"{sorted(values)}; pass one of them as metric="
            )
        return values[self.metric]

    def _improved(self, best: float, value: float) -> bool:
        if math.isnan(value):
            return False
        if math.isnan(best):
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def _warn_if_blind(self, report: Report) -> None:
        if not self._warned and report.epoch >= 2 and self.phase not in self._phases_seen:
            self._warned = True
            logger.warning(
                "EarlyStopping watches phase %r but the events carry phases %s; "
                "pass phase= (or phase=None for any)", self.phase, sorted(self._phases_seen),
            )

    def best(self, model: Any) -> float | None:
        """The best value seen for ``model`` so far (``None`` before any)."""
        best = self._records.get(model).best
        return None if math.isnan(best) else best

    def reset(self, model: Any = None) -> None:
        """Forget the record of ``model`` (of every model when omitted)."""
        if model is None:
            self._records.clear()
        else:
            self._records.pop(model)
