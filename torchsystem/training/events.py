"""The events the ready training service dispatches (past tense, as the seed's)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from torchsystem.services import event

__all__ = [
    "Iterated",
    "Measured",
    "Metric",
    "Stepped",
    "Stopped",
    "Trained",
    "Validated",
    "metric_items",
]


@event(frozen=True)
class Metric:
    """One computed metric: the seed's ``Metric`` protocol (``name``, ``value``)."""

    name: str
    value: float


@event
class Stepped:
    """One batch went through ``model`` (``step`` counts from 1 within the phase).

    ``loss`` is the batch's loss tensor, left on the device: reading it forces a host
    synchronisation, so consumers read it only now and then (a progress bar's refresh).
    ``total`` is the number of steps in the phase when the loader has a length.
    """

    model: Any
    phase: str
    epoch: int
    step: int
    total: int | None
    loss: Any


@event
class Measured:
    """A phase ended and its ``metrics`` were computed over all its batches.

    Register for this class to receive both kinds: ``Trained`` and ``Validated``.
    """

    model: Any
    phase: str
    epoch: int
    metrics: tuple[Metric, ...]
    loader: Any = None


@event
class Trained(Measured):
    """An epoch of training finished."""


@event
class Validated(Measured):
    """An evaluation pass finished (phase ``'validation'``, ``'test'``...)."""


@event
class Iterated:
    """Every phase of an epoch ran; ``results`` maps each phase to its metrics."""

    model: Any
    epoch: int
    results: dict[str, tuple[Metric, ...]]


@event
class Stopped:
    """Training ended early: ``reason`` is the ``StopIteration`` raised when the aggregate
    committed its events (early stopping) at the end of epoch ``epoch``."""

    model: Any
    epoch: int
    reason: BaseException


def metric_items(metrics: Any) -> Iterator[tuple[str, float]]:
    """``(name, value)`` pairs from a mapping or from objects with ``name``/``value``.

    Consumers accept either, so they work with the seed's events as well as these.
    """
    if isinstance(metrics, Mapping):
        for name, value in metrics.items():
            yield str(name), _number(value)
        return
    items: Iterable[Any] = metrics
    for metric in items:
        yield str(metric.name), _number(metric.value)


def _number(value: Any) -> float:
    item = getattr(value, "item", None)
    return float(item() if callable(item) else value)
