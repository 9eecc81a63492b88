"""A small application for the interface tests: a toy classifier trained in a blink.

``build()`` makes a fresh one per test; ``app`` is the one a job's own process imports
(``tests.interfaces._apps:app``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import torch
from torch import Tensor, nn

from torchsystem import Aggregate
from torchsystem.depends import Depends
from torchsystem.interfaces import Application, JobContext, current_job, run_recorder
from torchsystem.registry import gethash, register
from torchsystem.runs import RunRecorder
from torchsystem.storage import Checkpoints
from torchsystem.training import TensorLoader, Training


@register
class Tiny(nn.Module):
    def __init__(self, features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, inputs: Tensor) -> Tensor:
        output: Tensor = self.layers(inputs)
        return output


class Toy(Aggregate):
    def __init__(self, hidden: int = 8, lr: float = 0.1) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = Tiny(4, hidden)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=lr)

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


def loaders(steps: int, seed: int = 0) -> list[tuple[str, TensorLoader]]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(steps * 8, 4, generator=generator)
    targets = (inputs.sum(dim=1) > 0).long()
    return [("train", TensorLoader(inputs, targets, batch_size=8, seed=seed)),
            ("validation", TensorLoader(inputs[:16], targets[:16], batch_size=8, shuffle=False))]


@dataclass
class Fit:
    """Fit the toy classifier.

    Attributes:
        epochs: epochs to train
        steps: training batches per epoch
        hidden: hidden units
        fail: raise a ValueError with this message in the first epoch's validation
    """

    epochs: int = 2
    steps: int = 4
    hidden: int = 8
    fail: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")


@dataclass
class Echo:
    """Answer with what was sent."""

    text: str
    times: int = 1
    loud: bool = False
    mode: Literal["plain", "upper"] = "plain"
    tags: list[str] = field(default_factory=list)
    options: dict[str, int] = field(default_factory=dict)


@dataclass
class Crash:
    """End the job's process at once, without a word."""

    status: int = 3


class _Failing:
    """A loader that raises ``ValueError(message)`` when it is iterated."""

    def __init__(self, loader: TensorLoader, message: str) -> None:
        self.loader, self.message = loader, message

    def __iter__(self) -> Any:
        raise ValueError(self.message)


def build(database: str | None = None, gate: threading.Event | None = None,
          checkpoints: str | None = None) -> Application:
    """A fresh toy application; with ``gate``, ``fit`` waits for it before training; with
    ``checkpoints`` (a folder), ``fit`` checkpoints every epoch there and resumes."""
    app = Application("toy", description="A toy system for the tests.", database=database,
                      devices=["cpu"])

    @app.command
    def fit(command: Fit, job: Annotated[JobContext, Depends(current_job)],
            recorder: Annotated[RunRecorder, Depends(run_recorder)]) -> dict[str, Any]:
        if gate is not None and not gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        training = Training()
        training.producer.register(recorder)
        saved = None if checkpoints is None else Checkpoints(checkpoints, keep=2)
        if saved is not None:
            training.producer.register(saved)
        job.attach(training.producer)
        model, data = Toy(command.hidden), loaders(command.steps)
        if saved is not None:
            saved.restore(model)
            saved.restore_loaders(model, data)
        resumed = model.epoch
        try:
            if command.fail is not None:
                train, validation = data
                training.fit(model, [train, ("validation", _Failing(validation[1],
                                                                    command.fail))],
                             command.epochs)
            training.fit(model, data, command.epochs)
        finally:
            if saved is not None:
                saved.close()
        return {"epochs": model.epoch, "pid": os.getpid(), "device": job.device,
                "run": recorder.run_id(model), "resumed": resumed,
                "nice": os.nice(0) if hasattr(os, "nice") else None}

    @app.command
    def echo(command: Echo) -> dict[str, Any]:
        text = command.text.upper() if command.mode == "upper" or command.loud else command.text
        return {"text": " ".join([text] * command.times), "tags": command.tags,
                "options": command.options}

    @app.command
    def crash(command: Crash) -> None:
        os._exit(command.status)

    return app


app = build()
