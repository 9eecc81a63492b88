"""A small regression system trained the same way in one process and under two ranks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from torchsystem import Aggregate
from torchsystem.compiler import Compiler
from torchsystem.distributed import DataParallel, RankZero, distribute
from torchsystem.distributed.parallel import average_gradients
from torchsystem.registry import gethash, register
from torchsystem.services import Consumer, Producer
from torchsystem.storage import Checkpoints
from torchsystem.training import (
    Advanced,
    Measured,
    Optimization,
    Stopped,
    TensorLoader,
    Training,
)

SAMPLES, VALIDATION, FEATURES = 64, 20, 4
"""64 training samples: whole batches for batch 8 per rank (16 in one process)."""


@register
class Linear(nn.Module):
    def __init__(self, features: int = FEATURES) -> None:
        super().__init__()
        self.layer = nn.Linear(features, 1)

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.layer(inputs)
        return output


class Regressor(Aggregate):
    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = Linear()
        self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=0.05, momentum=0.9)

    @property
    def id(self) -> str:
        return gethash(self.nn)

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.nn(inputs)
        return output

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        self.optimizer.zero_grad()
        loss = nn.functional.mse_loss(self(inputs), target)
        loss.backward()
        self.optimizer.step()
        return loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> Tensor:
        return nn.functional.mse_loss(self(inputs), target)


class Accumulating(Regressor):
    """The regressor with ``Optimization(accumulate=3)``: 4 batches an epoch make one
    full window and one of a single batch, which the service flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.optimization = Optimization(self.optimizer, accumulate=3)

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        with self.optimization.autocast():
            loss = nn.functional.mse_loss(self(inputs), target)
        self.optimization.step(loss)
        return loss


class CountedAverage:
    """DDP's communication hook (``average_gradients``), counting the all-reduces."""

    def __init__(self) -> None:
        self.calls = 0

        def hook(state: Any, bucket: Any) -> Any:
            self.calls += 1
            return average_gradients(state, bucket)

        hook.__annotations__.update(average_gradients.__annotations__)  # DDP checks them
        self.hook = hook


def data() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(SAMPLES + VALIDATION, FEATURES, generator=generator)
    targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(
        SAMPLES + VALIDATION, 1, generator=generator)
    return inputs[:SAMPLES], targets[:SAMPLES], inputs[SAMPLES:], targets[SAMPLES:]


def loaders(batch_size: int, kind: str = "tensor") -> list[tuple[str, Any]]:
    """Training and validation loaders (this rank's shards), as ``Training.fit`` takes them."""
    x, y, held_x, held_y = data()
    if kind == "tensor":
        made = [("train", TensorLoader(x, y, batch_size=batch_size, seed=11)),
                ("validation", TensorLoader(held_x, held_y, batch_size=3, shuffle=False))]
    else:
        made = [("train", DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)),
                ("validation", DataLoader(TensorDataset(held_x, held_y), batch_size=3))]
    return distribute(made, seed=11)


class Recorder(Consumer):
    """Every ``Measured`` and ``Stopped`` event seen by this process."""

    def __init__(self) -> None:
        super().__init__("recorder")
        self.measured: list[tuple[str, int, dict[str, float]]] = []
        self.stopped: list[str] = []
        self.register(Measured, self._measured)
        self.register(Stopped, self._stopped)

    def _measured(self, event: Measured) -> None:
        values = {metric.name: metric.value for metric in event.metrics}
        self.measured.append((event.phase, event.epoch, values))

    def _stopped(self, event: Stopped) -> None:
        self.stopped.append(str(event.reason))


class System:
    """Compiler, training service and consumers, wired as an application would be."""

    def __init__(self, checkpoints: Path | None = None, timeout: float = 20.0,
                 aggregate: type[Regressor] = Regressor) -> None:
        self.producer = Producer()
        self.recorder, self.written = Recorder(), Recorder()
        self.training = Training(self.producer)
        self.compiler = Compiler[Regressor]()
        self.compiler.register(aggregate)
        self.hook = CountedAverage()
        self.checkpoints = None if checkpoints is None else Checkpoints(checkpoints, keep=5)
        if self.checkpoints is not None:
            self.compiler.register(self.checkpoints.restore)
        self.compiler.register(DataParallel(timeout=timeout, comm_hook=self.hook.hook))
        consumers: list[Any] = [self.recorder, RankZero(self.written)]
        if self.checkpoints is not None:
            consumers.append(RankZero(self.checkpoints, barrier=Advanced, durable=True))
        self.producer.register(*consumers)

    def model(self) -> Regressor:
        torch.manual_seed(0)  # the same initial weights everywhere
        return self.compiler.compile()

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()


def weights(model: nn.Module) -> dict[str, Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}
