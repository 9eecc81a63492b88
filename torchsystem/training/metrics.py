"""Metrics accumulated on the device: no host synchronisation until ``compute()``.

They follow the ``update`` / ``compute`` / ``reset`` protocol of torchmetrics, so a
torchmetrics metric can stand in for any of them. ``metric_factories`` turns what a user
gives the ``Training`` service into factories, so every phase counts with fresh state.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["Accuracy", "Mean", "MetricLike", "metric_factories", "weighted_mean"]

LOSS = "loss"
"""The name of the mean loss every phase reports; no metric may take it."""


@runtime_checkable
class MetricLike(Protocol):
    """What the training service asks of a metric (torchmetrics' protocol)."""

    def update(self, prediction: Any, target: Any) -> None: ...

    def compute(self) -> Any: ...

    def reset(self) -> None: ...


class Mean:
    """Weighted mean of per-batch values (the loss), kept as device tensors until computed.

    Example:
        >>> mean = Mean()
        >>> mean.update(torch.tensor(1.0), weight=1)
        >>> mean.update(torch.tensor(4.0), weight=3)
        >>> float(mean.compute())
        3.25
    """

    def __init__(self) -> None:
        self._values: list[Tensor] = []
        self._weights: list[int] = []

    def update(self, value: Tensor, weight: int = 1) -> None:
        """Record ``value`` (detached, left on its device) with ``weight``."""
        self._values.append(value.detach() if value.requires_grad else value)
        self._weights.append(weight)

    def compute(self) -> Tensor:
        """The weighted mean so far.

        Raises:
            ValueError: nothing was recorded.
        """
        if not self._values:
            raise ValueError("Mean.compute() before any update(); no batch was seen")
        return weighted_mean(self._values, self._weights)

    def reset(self) -> None:
        """Forget everything recorded."""
        self._values.clear()
        self._weights.clear()


def weighted_mean(values: list[Tensor], weights: list[int]) -> Tensor:
    """``sum(value * weight) / sum(weight)`` of one-element tensors, on their device: one
    stack, no host synchronisation."""
    if any(value.ndim for value in values):
        values = [value.reshape(()) for value in values]
    stacked = torch.stack(values).float()
    weighed = torch.tensor(weights, dtype=stacked.dtype, device=stacked.device)
    return (stacked * weighed).sum() / weighed.sum()


class Accuracy:
    """Fraction of predictions equal to the target.

    ``prediction`` holds class indices, or scores with one more dimension than the
    target (the last one is reduced with ``argmax``). Batches are kept (on their device)
    and compared ``chunk`` batches at a time, so a step costs no tensor operation.

    Example:
        >>> accuracy = Accuracy()
        >>> accuracy.update(torch.tensor([1, 0, 2]), torch.tensor([1, 1, 2]))
        >>> round(float(accuracy.compute()), 4)
        0.6667
    """

    def __init__(self, chunk: int = 64) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 batch, got {chunk}")
        self.chunk = chunk
        self._predictions: list[Tensor] = []
        self._targets: list[Tensor] = []
        self._correct: list[Tensor] = []
        self._count = 0

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Keep one batch; compare the kept ones when ``chunk`` of them are waiting."""
        self._predictions.append(prediction.detach() if prediction.requires_grad else prediction)
        self._targets.append(target)
        self._count += target.numel()
        if len(self._predictions) >= self.chunk:
            self._compare()

    def _compare(self) -> None:
        prediction = torch.cat(self._predictions)
        target = torch.cat(self._targets)
        if prediction.ndim == target.ndim + 1:
            prediction = prediction.argmax(dim=-1)
        self._correct.append((prediction == target).sum())
        self._predictions.clear()
        self._targets.clear()

    def compute(self) -> Tensor:
        """Correct predictions / predictions so far.

        Raises:
            ValueError: nothing was recorded.
        """
        if not self._count:
            raise ValueError("Accuracy.compute() before any update(); no batch was seen")
        if self._predictions:
            self._compare()
        return torch.stack(self._correct).sum() / self._count

    def reset(self) -> None:
        """Forget everything recorded."""
        self._predictions.clear()
        self._targets.clear()
        self._correct.clear()
        self._count = 0


def _fresh(prototype: MetricLike) -> MetricLike:
    made = copy.deepcopy(prototype)
    made.reset()
    return made


def _is_metric(value: Any) -> bool:
    return not isinstance(value, type) and all(
        callable(getattr(value, method, None)) for method in ("update", "compute", "reset")
    )


def metric_factories(
    metrics: Mapping[str, Any] | None,
) -> dict[str, Callable[[], MetricLike]]:
    """Name -> a factory that makes the metric afresh, for each phase that counts.

    A metric object (``update``/``compute``/``reset``, torchmetrics included) is a
    prototype: each phase counts in a reset deep copy of it and never touches it. Anything
    else callable (a class such as ``Accuracy``, a ``lambda``) is a factory, called once
    per phase. So phases of one service never share counts: not after an interrupted
    phase, not across threads.

    Raises:
        TypeError: ``metrics`` is not a mapping, a name is not a string, or a value is
            neither a metric nor a factory.
        ValueError: a metric is named ``'loss'`` (the name of the mean loss).

    Example:
        >>> factories = metric_factories({"accuracy": Accuracy})
        >>> factories["accuracy"]() is not factories["accuracy"]()
        True
    """
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(
            "metrics must be a mapping name -> metric (or factory), e.g. "
            f"{{'accuracy': Accuracy()}}; got {type(metrics).__name__}"
        )
    factories: dict[str, Callable[[], MetricLike]] = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise TypeError(
                f"metric names must be strings, got {name!r:.60} ({type(name).__name__})"
            )
        if name == LOSS:
            raise ValueError(
                "a metric is named 'loss', the name of the mean loss every phase reports; "
                "give it another name (for example 'criterion')"
            )
        if _is_metric(value):
            factories[name] = functools.partial(_fresh, value)
        elif callable(value):
            factories[name] = value
        else:
            raise TypeError(
                f"metric {name!r} must be a metric (update/compute/reset) or a factory that "
                f"makes one, got {type(value).__name__}"
            )
    return factories
