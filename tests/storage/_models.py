"""An aggregate with every kind of state a checkpoint holds, its data, and helpers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from torchsystem import Aggregate
from torchsystem.compiler import Compiler
from torchsystem.consumers import EarlyStopping
from torchsystem.registry import gethash, register
from torchsystem.storage import Checkpoints
from torchsystem.training import Accuracy, TensorLoader, Training


@register
class Network(nn.Module):
    """Linear, ReLU, dropout (so the torch generator matters), linear."""

    def __init__(self, features: int = 8, hidden: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, classes)
        )

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.layers(inputs)
        return output


class Counter:
    """A helper object with state (as an accumulation counter would be)."""

    def __init__(self) -> None:
        self.count = 0

    def state_dict(self) -> dict[str, int]:
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.count = int(state["count"])


class Model(Aggregate):
    """Adam, a StepLR stepped in ``onepoch``, a counter of steps; ``onepochs`` counts the
    calls of ``onepoch`` (a restore must not add one)."""

    def __init__(self, hidden: int = 32, lr: float = 1e-2) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = Network(hidden=hidden)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.nn.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=3, gamma=0.7)
        self.counter = Counter()
        self.onepochs = 0

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
        self.counter.count += 1
        return output.argmax(dim=1), loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self(inputs)
        return output.argmax(dim=1), self.criterion(output, target)

    def onepoch(self) -> None:
        self.onepochs += 1
        self.scheduler.step()


def data(samples: int = 240, seed: int = 1) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(samples, 8, generator=generator)
    mixing = torch.randn(8, 3, generator=generator)
    noise = 0.8 * torch.randn(samples, 3, generator=generator)
    return inputs, (inputs @ mixing + noise).argmax(dim=1)


def loaders(kind: str = "tensor") -> list[tuple[str, Any]]:
    """Train and validation loaders over ``data()``: ``TensorLoader``s, or a shuffling
    ``DataLoader`` with its own generator for training (``kind='dataloader'``)."""
    inputs, target = data()
    if kind == "dataloader":
        generator = torch.Generator().manual_seed(7)
        train: Any = DataLoader(
            TensorDataset(inputs[:180], target[:180]), batch_size=20, shuffle=True,
            generator=generator,
        )
    else:
        train = TensorLoader(inputs[:180], target[:180], batch_size=20, seed=3)
    validation = TensorLoader(inputs[180:], target[180:], batch_size=30, seed=4)
    return [("train", train), ("validation", validation)]


def digest(model: nn.Module) -> str:
    """SHA-256 of the state_dict tensors' bytes, in key order."""
    found = hashlib.sha256()
    for value in model.state_dict().values():
        found.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return found.hexdigest()


class Run:
    """One process's worth of training: a fresh service, stopper, checkpoints, compiler."""

    def __init__(
        self, directory: Path, *, patience: int = 4, made: type[Checkpoints] = Checkpoints,
        **options: Any,
    ) -> None:
        self.stopper = EarlyStopping("loss", patience=patience, min_delta=1e-4)
        self.checkpoints = made(directory, stateful={"early-stopping": self.stopper}, **options)
        self.training = Training(metrics={"accuracy": Accuracy})
        self.training.producer.register(self.stopper, self.checkpoints)
        self.compiler = Compiler[Model]()
        self.compiler.register(lambda: Model())
        self.compiler.register(self.checkpoints.restore)

    def fit(self, epochs: int, kind: str = "tensor", seed: int = 0, close: bool = True) -> Model:
        """Seed, build and restore, restore the loaders, train unless it stopped early."""
        torch.manual_seed(seed)
        model = self.compiler.compile()
        chosen = loaders(kind)
        self.checkpoints.restore_loaders(model, chosen)
        resumed = self.checkpoints.resumed.get(model.id)
        if resumed is None or resumed.stopped is None:
            self.training.fit(model, chosen, epochs)
        if close:
            self.checkpoints.close()
        return model


def train(directory: Path, epochs: int, kind: str = "tensor", **options: Any) -> Model:
    return Run(directory, **options).fit(epochs, kind)


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files (mode 0o500, or immutable as root)."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root without chattr: no folder can be made unwritable")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)
