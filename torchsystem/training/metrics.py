"""Metrics accumulated on the device: no host synchronisation until ``compute()``.

They follow the ``update`` / ``compute`` / ``reset`` protocol of torchmetrics, so a
torchmetrics metric can stand in for any of them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["Accuracy", "Mean", "MetricLike"]


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
        values = self._values
        if any(value.ndim for value in values):
            values = [value.reshape(()) for value in values]
        stacked = torch.stack(values).float()
        weights = torch.tensor(self._weights, dtype=stacked.dtype, device=stacked.device)
        return (stacked * weights).sum() / weights.sum()

    def reset(self) -> None:
        """Forget everything recorded."""
        self._values.clear()
        self._weights.clear()


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
