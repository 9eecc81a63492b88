"""``EarlyStopping``: stop at the epoch boundary when a metric stops improving."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from torchsystem.consumers._reports import MetricsConsumer, PerModel, Report, identity, report_of
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

    ``state_dict(model_id=None)`` holds the best value and the count of each model by
    id (of one model when given), ``load_state_dict`` puts them back: a checkpoint
    (``torchsystem.storage.Checkpoints(stateful=...)``) saves and restores them with the
    aggregate, so a resumed run stops at the epoch an uninterrupted one would.

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
        self._by_id: dict[str, _Record] = {}
        self._restored: dict[str, _Record] = {}
        self._phases_seen: set[str] = set()
        self._first_epoch: int | None = None
        self._warned = False
        self.register(object, self.watch)

    def watch(self, event: object) -> None:
        """Update the model's record from a metrics event; enqueue a stop when it is time."""
        report = report_of(event)
        if report is None:
            return
        self._phases_seen.add(report.phase)
        if self._first_epoch is None:
            self._first_epoch = report.epoch
        if self.phase is not None and report.phase != self.phase:
            self._warn_if_blind(report)
            return
        value = self._value(report)
        record = self._record(report)
        if self._improved(record.best, value):
            record.best, record.waited = value, 0
            return
        record.waited += 1
        if record.waited >= self.patience:
            record.waited = 0
            stop = EarlyStopped(self.metric, report.phase, record.best, report.epoch, self.patience)
            report.model.events.enqueue(stop)

    def _record(self, report: Report) -> _Record:
        record = self._records.get(report.model)
        if self._restored or self._by_id.get(report.model_id or "") is not record:
            model_id = identity(report)
            restored = self._restored.pop(model_id, None)
            if restored is not None:
                record.best, record.waited = restored.best, restored.waited
            self._by_id[model_id] = record
        return record

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
        first = report.epoch if self._first_epoch is None else self._first_epoch
        if not self._warned and report.epoch > first and self.phase not in self._phases_seen:
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
            self._by_id.clear()
        else:
            record = self._records.get(model)
            self._records.pop(model)
            for model_id in [key for key, value in self._by_id.items() if value is record]:
                del self._by_id[model_id]

    def state_dict(self, model_id: str | None = None) -> dict[str, Any]:
        """The best value and count of every model seen, by id (only ``model_id``'s when
        given): ``{'records': {id: {'best': float, 'waited': int}}}``. A NaN best means
        no value yet."""
        records = {**self._restored, **self._by_id}
        chosen = records if model_id is None else {
            key: value for key, value in records.items() if key == model_id
        }
        return {"records": {
            key: {"best": record.best, "waited": record.waited} for key, record in chosen.items()
        }}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back the records of ``state`` (from ``state_dict``): a model already seen
        takes its record at once, any other when its first metrics arrive.

        Raises:
            ValueError: ``state`` is not what ``state_dict`` returns.
        """
        records = state.get("records") if isinstance(state, dict) else None
        if not isinstance(records, dict):
            raise ValueError(
                f"EarlyStopping.load_state_dict takes what state_dict() returns "
                f"({{'records': {{id: {{'best', 'waited'}}}}}}), got {state!r}"
            )
        for model_id, saved in records.items():
            restored = _Record(float(saved["best"]), int(saved["waited"]))
            live = self._by_id.get(model_id)
            if live is None:
                self._restored[model_id] = restored
            else:
                live.best, live.waited = restored.best, restored.waited
