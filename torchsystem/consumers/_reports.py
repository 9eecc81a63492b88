"""Read what a metrics event reports, whatever service produced it."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from torchsystem.services import Consumer, Registration
from torchsystem.services.prodcon import Excluded
from torchsystem.training.events import Ended, Iterated, Started, Stepped, Stopped, metric_items
from torchsystem.training.protocol import identify

__all__ = ["MetricsConsumer", "PerModel", "Report", "identity", "report_of"]


@dataclass(frozen=True)
class Report:
    """The model, phase, epoch and ``(name, value)`` metrics an event carries, and the
    model's id when the event carries it."""

    model: Any
    phase: str
    epoch: int
    metrics: tuple[tuple[str, float], ...]
    model_id: str | None = None


def report_of(event: Any) -> Report | None:
    """A ``Report`` for any event with ``model`` and ``metrics`` (1.3's included).

    ``phase``, ``epoch`` and ``model_id`` come from the event. Only an event without
    ``phase`` or ``epoch`` (torchsystem 1.3's ``Trained(model, loader, metrics)``) has them
    read from the model, at the moment the consumer receives it. Returns ``None`` for
    events that carry no metrics.
    """
    metrics = getattr(event, "metrics", None)
    model = getattr(event, "model", None)
    if metrics is None or model is None:
        return None
    phase = getattr(event, "phase", None)
    if phase is None:
        phase = getattr(model, "phase", "train")
    epoch: Any = getattr(event, "epoch", None)
    if epoch is None:
        epoch = getattr(model, "epoch", 0)
    model_id = getattr(event, "model_id", None)
    return Report(model, str(phase), int(epoch), tuple(metric_items(metrics)), model_id)


def identity(report: Report) -> str:
    """The model id the event carried; else ``model.id`` as text, or the class name
    (with a ``MissingIdWarning``) when the model has no id."""
    return identify(report.model) if report.model_id is None else report.model_id


V = TypeVar("V")


class PerModel(Generic[V]):
    """State kept per model, forgotten with the model (weakly keyed; models that cannot
    be weakly referenced are kept by identity)."""

    def __init__(self, default: Callable[[], V]) -> None:
        self._default = default
        self._weak: weakref.WeakKeyDictionary[Any, V] = weakref.WeakKeyDictionary()
        self._strong: dict[int, tuple[Any, V]] = {}

    def get(self, model: Any) -> V:
        """The state of ``model``, created on first use."""
        try:
            if model not in self._weak:
                self._weak[model] = self._default()
            return self._weak[model]
        except TypeError:  # not weakly referenceable (or unhashable)
            held = self._strong.get(id(model))
            if held is None or held[0] is not model:
                held = self._strong[id(model)] = (model, self._default())
            return held[1]

    def pop(self, model: Any) -> None:
        """Forget ``model``."""
        try:
            self._weak.pop(model, None)
        except TypeError:
            self._strong.pop(id(model), None)

    def clear(self) -> None:
        """Forget every model."""
        self._weak.clear()
        self._strong.clear()


class MetricsConsumer(Consumer):
    """A consumer whose catch-all (``object``) handlers read metrics events of any shape
    but are never routed the training service's per-step, per-epoch and per-run
    bookkeeping (``Stepped``, ``Iterated``, ``Stopped``, ``Started``, ``Ended``), so those
    cost it nothing.

    The exclusion is registration data: ``register(object, handler)`` adds
    ``exclude=BOOKKEEPING``; a handler registered for those classes by name gets them.
    """

    BOOKKEEPING: tuple[type, ...] = (Stepped, Iterated, Stopped, Started, Ended)

    def register(
        self, annotation: Any, handler: Callable[..., Any], *, exclude: Excluded = ()
    ) -> Registration:
        if annotation is object:
            exclude = (exclude,) if isinstance(exclude, type) else tuple(exclude)
            exclude = (*exclude, *self.BOOKKEEPING)
        return super().register(annotation, handler, exclude=exclude)
