"""The domain, as protocols: what the services rely on, with no implementation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer

from torchsystem import Events


class Model(Protocol):
    """An aggregate: a network with its loss and optimizer, an identity and an epoch."""

    id: Any
    phase: str
    epoch: int
    events: Events
    nn: Module
    criterion: Module
    optimizer: Optimizer

    def fit(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]: ...

    def evaluate(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]: ...


class Metric(Protocol):
    """A computed metric."""

    name: str
    value: Any


class Metrics(Protocol):
    """Accumulates batches, then computes (torchmetrics' protocol)."""

    def update(self, prediction: Tensor, target: Tensor) -> None: ...

    def compute(self) -> Any: ...

    def reset(self) -> None: ...


class Loader(Protocol):
    """Batches of (input, target)."""

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def __len__(self) -> int: ...


Results = Sequence[Metric]
