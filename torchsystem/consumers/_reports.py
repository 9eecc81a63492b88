"""Read what a metrics event reports, whatever service produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchsystem.training.events import metric_items

__all__ = ["Report", "identity", "report_of"]


@dataclass(frozen=True)
class Report:
    """The model, phase, epoch and ``(name, value)`` metrics an event carries."""

    model: Any
    phase: str
    epoch: int
    metrics: tuple[tuple[str, float], ...]


def report_of(event: Any) -> Report | None:
    """A ``Report`` for any event with ``model`` and ``metrics`` (the seed's included).

    ``phase`` and ``epoch`` come from the event when it has them, else from the model.
    Returns ``None`` for events that carry no metrics.
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
    return Report(model, str(phase), int(epoch), tuple(metric_items(metrics)))


def identity(model: Any) -> str:
    """``model.id`` as text, or the class name when the model has no id."""
    try:
        return str(model.id)
    except (AttributeError, NotImplementedError):
        return type(model).__name__
