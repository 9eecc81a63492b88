"""The aggregate: network, loss and optimizer treated as one unit (1.3's Classifier).

It does not commit its domain events itself: the Training service commits them once per
epoch, at the epoch boundary, so an enqueued StopIteration ends training there."""

from __future__ import annotations

from torch import Tensor, argmax
from torch.nn import Flatten, Module
from torch.optim import Optimizer

from torchsystem.domain import Aggregate
from torchsystem.registry import gethash


class Classifier(Aggregate):
    def __init__(self, nn: Module, criterion: Module, optimizer: Optimizer):
        super().__init__()
        self.epoch = 0
        self.nn = nn
        self.criterion = criterion
        self.optimizer = optimizer
        self.flatten = Flatten()

    @property
    def id(self) -> str:
        return gethash(self.nn)  # the network's constructor arguments identify the aggregate

    def forward(self, input: Tensor) -> Tensor:
        return self.nn(self.flatten(input))

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self.criterion(output, target)

    def fit(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        self.optimizer.zero_grad()
        output = self(input)
        loss = self.loss(output, target)
        loss.backward()
        self.optimizer.step()
        return argmax(output, dim=1), loss

    def evaluate(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self(input)
        return argmax(output, dim=1), self.loss(output, target)
