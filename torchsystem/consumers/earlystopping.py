"""``EarlyStopping``: stop at the epoch boundary when a metric stops improving."""

from __future__ import annotations

import math
from typing import Any, Literal

from torchsystem.consumers._reports import report_of
from torchsystem.services import Consumer

__all__ = ["EarlyStopped", "EarlyStopping"]


class EarlyStopped(StopIteration):
    """Enqueued on the aggregate's events; raised when they are committed (epoch end)."""

    def __init__(self, metric: str, phase: str, best: float, epoch: int, patience: int) -> None:
        super().__init__(
            f"{phase} {metric} did not improve on {best:.6g} for {patience} epoch(s)"
        )
        self.metric, self.phase, self.best = metric, phase, best
        self.epoch, self.patience = epoch, patience


class EarlyStopping(Consumer):
    """Watch ``metric`` in ``phase``; after ``patience`` epochs without an improvement of
    more than ``min_delta`` (down for ``mode='min'``, up for ``'max'``), enqueue
    ``EarlyStopped`` (a ``StopIteration``) on the model's domain events.

    The aggregate raises it when it commits its events at the epoch boundary (the seed's
    ``onepoch``; the ready ``Training`` service commits after each epoch too). Tracking is
    per model. ``phase=None`` watches every phase.

    Example:
        >>> stopper = EarlyStopping("accuracy", mode="max", patience=3)
        >>> stopper.best
        {}
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
        if min_delta < 0 or math.isnan(min_delta):
            raise ValueError(f"min_delta must be a non-negative number, got {min_delta}")
        self.metric, self.mode, self.patience = metric, mode, patience
        self.min_delta, self.phase = min_delta, phase
        self.best: dict[int, float] = {}
        self.waited: dict[int, int] = {}
        self.register(object, self.watch)

    def watch(self, event: object) -> None:
        """Update the model's record from a metrics event; enqueue a stop when it is time."""
        report = report_of(event)
        if report is None or (self.phase is not None and report.phase != self.phase):
            return
        values = dict(report.metrics)
        if self.metric not in values:
            raise ValueError(
                f"EarlyStopping watches {self.metric!r} but the {report.phase!r} metrics are "
                f"{sorted(values)}; pass one of them as metric="
            )
        key, value = id(report.model), values[self.metric]
        if self._improved(key, value):
            self.best[key], self.waited[key] = value, 0
            return
        self.waited[key] = self.waited.get(key, 0) + 1
        if self.waited[key] >= self.patience:
            stop = EarlyStopped(
                self.metric, report.phase, self.best[key], report.epoch, self.patience
            )
            report.model.events.enqueue(stop)

    def _improved(self, key: int, value: float) -> bool:
        best = self.best.get(key)
        if best is None:
            return not math.isnan(value)
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def reset(self, model: Any = None) -> None:
        """Forget the record of ``model`` (of every model when omitted)."""
        if model is None:
            self.best.clear()
            self.waited.clear()
        else:
            self.best.pop(id(model), None)
            self.waited.pop(id(model), None)
