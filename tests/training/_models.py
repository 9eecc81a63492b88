"""Small aggregates, data and recorders shared by the battery tests."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from torchsystem import Aggregate
from torchsystem.registry import gethash, register
from torchsystem.services import Consumer, Producer, event
from torchsystem.training import Accuracy, Iterated, TensorLoader, Training


@register
class MLP(nn.Module):
    """A registered network, so the aggregate has an id and registry metadata."""

    def __init__(self, in_features: int = 8, out_features: int = 2) -> None:
        super().__init__()
        self.layer = nn.Linear(in_features, out_features)

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.layer(inputs)
        return output


class Classifier(Aggregate):
    """torchsystem 1.3's classifier: ``fit``/``evaluate`` return (prediction, loss)."""

    def __init__(self, lr: float = 0.1, commits: bool = True) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = MLP(8, 2)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=lr)
        self.commits = commits

    @property
    def id(self) -> str:
        return gethash(self.nn)

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.nn(inputs)
        return output

    def fit(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        self.optimizer.zero_grad()
        output = self(inputs)
        loss = self.criterion(output, target)
        loss.backward()
        self.optimizer.step()
        return output.argmax(dim=1), loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self(inputs)
        return output.argmax(dim=1), self.criterion(output, target)

    def onepoch(self) -> None:
        if self.commits:  # 1.3's hook; without it the service's commit does it
            self.events.commit()


def data(samples: int = 64, features: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(samples, features, generator=generator)
    target = torch.randint(0, 2, (samples,), generator=generator)
    return inputs, target


def loaders(
    train_batches: int = 4, validation_batches: int = 2, batch_size: int = 16
) -> list[tuple[str, TensorLoader]]:
    train = TensorLoader(*data(train_batches * batch_size), batch_size=batch_size)
    validation = TensorLoader(
        *data(validation_batches * batch_size, seed=1), batch_size=batch_size, shuffle=False
    )
    return [("train", train), ("validation", validation)]


def stop_at(epoch: int, reason: BaseException | type[BaseException] = StopIteration) -> Consumer:
    """A consumer that enqueues ``reason`` on the aggregate when ``epoch`` is iterated."""
    stopper = Consumer()

    @stopper.handler
    def stop(event: Iterated) -> None:
        if event.epoch == epoch:
            event.model.events.enqueue(reason)

    return stopper


def recorder(producer: Producer) -> list[Any]:
    """Every event ``producer`` dispatches, in order."""
    seen: list[Any] = []
    consumer = Consumer("recorder")

    def record(message: object) -> None:
        seen.append(message)

    consumer.register(object, record)
    producer.register(consumer)
    return seen


class LegacyMetric:
    """torchsystem 1.3's ``Metric`` protocol: an object with ``name`` and ``value``."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


@event
class LegacyTrained:
    """torchsystem 1.3's event: no phase or epoch, those are read from the model."""

    model: Any
    loader: Any
    metrics: Any


@event
class LegacyValidated:
    model: Any
    loader: Any
    metrics: Any


def host_reads(monkeypatch: pytest.MonkeyPatch, batches: int, *consumers: Consumer) -> int:
    """How often ``train`` with accuracy reads a tensor on the host over ``batches``."""
    training = Training(metrics={"accuracy": Accuracy()})
    training.producer.register(*consumers)
    model, loader = Classifier(), TensorLoader(*data(batches * 4), batch_size=4)
    calls = [0]
    with monkeypatch.context() as patch:
        for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__"):
            original = getattr(torch.Tensor, name)

            def counted(self: Tensor, *args: Any, _original: Any = original) -> Any:
                calls[0] += 1
                return _original(self, *args)

            patch.setattr(torch.Tensor, name, counted)
        training.train(model, loader)
    return calls[0]
