"""A small registered aggregate and its loaders, and a hand-driven event stream."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from torchsystem import Aggregate
from torchsystem.registry import gethash, register
from torchsystem.training import Metric, TensorLoader, Trained, Validated


@register
class Net(nn.Module):
    def __init__(self, features: int = 8, hidden: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.layers(inputs)
        return output


class Classifier(Aggregate):
    def __init__(self, hidden: int = 8, lr: float = 0.1) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = Net(8, hidden)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=lr, momentum=0.9)

    @property
    def id(self) -> str:
        return gethash(self.nn)

    def fit(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        self.optimizer.zero_grad()
        output = self.nn(inputs)
        loss = self.criterion(output, target)
        loss.backward()
        self.optimizer.step()
        return output.argmax(dim=1), loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self.nn(inputs)
        return output.argmax(dim=1), self.criterion(output, target)


def loaders(batch_size: int = 16) -> list[tuple[str, TensorLoader]]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 8, generator=generator)
    target = (inputs.sum(dim=1) > 0).long()
    return [
        ("train", TensorLoader(inputs[:64], target[:64], batch_size=batch_size, seed=0)),
        ("validation", TensorLoader(inputs[64:], target[64:], batch_size=32, shuffle=False)),
    ]


def trained(model: Any, epoch: int, loss: float, loader: Any = None) -> Trained:
    """A ``Trained`` event as the training service dispatches it."""
    return Trained(model, "train", epoch, (Metric("loss", loss),), loader)


def validated(model: Any, epoch: int, loss: float, accuracy: float) -> Validated:
    return Validated(model, "validation", epoch,
                     (Metric("loss", loss), Metric("accuracy", accuracy)), None)
