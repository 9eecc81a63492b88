"""The events the ready training service dispatches (past tense, as torchsystem 1.3's).

Each carries what its consumers need, read on the training thread when it was made: the
model's id (``model_id``), the phase, the epoch in progress and the metrics (and, for
``fit``'s ``Started``, the hyperparameters; for ``Trained``, the learning rates), so a
consumer running on another thread (``Background``) never reads the live model. ``model`` is kept
for consumers that act on the aggregate on the training thread (``EarlyStopping``
enqueues on its events). ``repr`` leaves the model and the loader out, so a logged event
is one short line. Every event survives ``pickle`` and ``copy.deepcopy`` when the objects
it carries do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field, fields
from typing import Any

from torchsystem.services import event

__all__ = [
    "OUTCOMES",
    "Advanced",
    "Ended",
    "Iterated",
    "Measured",
    "Metric",
    "Started",
    "Stepped",
    "Stopped",
    "Trained",
    "Validated",
    "metric_items",
    "outcome_of",
]


_HIDDEN = frozenset({"model", "loader", "loaders", "hyperparameters"})

FINISHED, STOPPED_EARLY, FAILED, INTERRUPTED = "finished", "stopped early", "failed", "interrupted"
OUTCOMES = (FINISHED, STOPPED_EARLY, FAILED, INTERRUPTED)
_now = time.time


def _repr(event: Any) -> str:
    """The event's fields but the model and the loader: one short line in a log."""
    shown = ", ".join(
        f"{field.name}={getattr(event, field.name)!r}"
        for field in fields(event)
        if field.name not in _HIDDEN
    )
    return f"{type(event).__name__}({shown})"


@event(frozen=True)
class Metric:
    """One computed metric: torchsystem 1.3's ``Metric`` protocol (``name``, ``value``).

    Example:
        >>> Metric("accuracy", 0.75)
        Metric(name='accuracy', value=0.75)
    """

    name: str
    value: float


@event
class Stepped:
    """One batch went through ``model`` (``step`` counts from 1 within the phase).

    ``loss`` is the batch's loss tensor, left on the device: reading it forces a host
    synchronisation, so consumers read it only now and then (a progress bar's refresh).
    ``total`` is the number of steps in the phase when the loader has a length.

    Example:
        >>> Stepped(None, "train", 1, 3, 10, 0.25, model_id="mlp").step
        3
    """

    __repr__ = _repr

    model: Any
    phase: str
    epoch: int
    step: int
    total: int | None
    loss: Any
    model_id: str | None = None


@event
class Measured:
    """A phase ended and its ``metrics`` were computed over all its batches.

    Register for this class to receive both kinds: ``Trained`` and ``Validated``.

    Example:
        >>> event = Validated(None, "validation", 2, (Metric("loss", 0.5),), model_id="mlp")
        >>> isinstance(event, Measured), event.metrics[0].value
        (True, 0.5)
    """

    __repr__ = _repr

    model: Any
    phase: str
    epoch: int
    metrics: tuple[Metric, ...]
    loader: Any = None
    model_id: str | None = None


@event
class Trained(Measured):
    """An epoch of training finished.

    ``learning_rates`` holds the learning rate of every param group of the aggregate's
    optimizers during the pass (``Metric("lr", 0.01)``; ``lr.0``, ``lr.1``... for several
    groups, prefixed ``<attribute>.`` for several optimizers), read when the pass ended,
    before the epoch boundary steps any scheduler; ``None`` when the service did not
    read them (a hand-made event).
    """

    __repr__ = _repr

    learning_rates: tuple[Metric, ...] | None = None


@event
class Validated(Measured):
    """An evaluation pass finished (phase ``'validation'``, ``'test'``...)."""

    __repr__ = _repr


@event
class Iterated:
    """Every phase of an epoch ran; ``results`` maps each phase to its metrics.

    Dispatched before the aggregate's events are committed, so also on the epoch that
    stops early (``Stopped`` follows it).
    """

    __repr__ = _repr

    model: Any
    epoch: int
    results: dict[str, tuple[Metric, ...]]
    model_id: str | None = None


@event
class Advanced:
    """The epoch boundary passed: ``model.epoch`` is now ``epoch`` and the aggregate's
    events were committed; ``stop`` is the early stop raised there (``Stopped`` follows),
    else ``None``. Nothing changed the model since, so a consumer that copies its state
    here (``Checkpoints``) copies exactly the state of epoch ``epoch``.
    """

    __repr__ = _repr

    model: Any
    epoch: int
    results: dict[str, tuple[Metric, ...]]
    stop: BaseException | None = None
    model_id: str | None = None


@event
class Stopped:
    """Training ended early: ``reason`` is the ``StopIteration`` raised when the aggregate
    committed its events (early stopping) at the end of epoch ``epoch``."""

    __repr__ = _repr

    model: Any
    epoch: int
    reason: BaseException
    model_id: str | None = None


@event
class Started:
    """``fit`` began: a run of ``model`` from epoch ``epoch`` (``model.epoch + 1``) up to
    epoch ``epochs``, over ``loaders`` (its ``(phase, loader)`` pairs), at ``time``
    (seconds since the epoch).

    ``hyperparameters`` were read from the aggregate on the training thread when ``fit``
    began (``torchsystem.training.hyperparameters``): the registry arguments of its parts,
    each optimizer's class and param-group settings, LR schedulers, the seed, ``epochs``
    and each phase's batch size, in plain JSON types. ``Ended`` always follows.

    Example:
        >>> Started(None, 1, 10, (), {"epochs": 10}, 0.0, model_id="mlp")
        Started(epoch=1, epochs=10, time=0.0, model_id='mlp')
    """

    __repr__ = _repr

    model: Any
    epoch: int
    epochs: int
    loaders: tuple[tuple[str, Any], ...] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=_now)
    model_id: str | None = None


@event
class Ended:
    """``fit`` ended after epoch ``epoch`` (``model.epoch``) with ``outcome``, at ``time``.

    ``outcome`` is one of ``OUTCOMES``: ``'finished'`` (every epoch ran), ``'stopped
    early'`` (``reason`` is the ``StopIteration``; ``Stopped`` came first), ``'failed'``
    (``reason`` is the exception ``fit`` raises right after) or ``'interrupted'``
    (``KeyboardInterrupt``, ``SystemExit``: ``reason``). Dispatched for every ``Started``,
    also when ``fit`` raises.

    Example:
        >>> ended = Ended(None, 3, "stopped early", StopIteration("patience"), model_id="mlp")
        >>> ended.outcome, ended.reason
        ('stopped early', StopIteration('patience'))
    """

    __repr__ = _repr

    model: Any
    epoch: int
    outcome: str
    reason: BaseException | None = None
    time: float = field(default_factory=_now)
    model_id: str | None = None


def outcome_of(error: BaseException) -> str:
    """The ``Ended.outcome`` of a ``fit`` that raised ``error``: ``'failed'`` for an
    ``Exception``, ``'interrupted'`` for the rest (``KeyboardInterrupt``, ``SystemExit``)."""
    return FAILED if isinstance(error, Exception) else INTERRUPTED


def metric_items(metrics: Any) -> Iterator[tuple[str, float]]:
    """``(name, value)`` pairs from a mapping or from objects with ``name``/``value``.

    Consumers accept either, so they work with torchsystem 1.3's events as well as these.
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
