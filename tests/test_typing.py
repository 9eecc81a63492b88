"""What a user's type checker says of a training system written as the README shows it:
``mypy --strict`` (the project's own settings) on a small program that uses the public
API: aggregates that define only the steps they need, ``predict``'s list and stream, and
a dependency as a typed parameter's default (``device: str = Depends(device)``). It reuses
the cache ``make typecheck`` leaves, so it takes a second or two there."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = '''
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from torchsystem import Aggregate, Depends
from torchsystem.depends import DependsMarker, Provider, inject
from torchsystem.training import Training


class OnlyFit(Aggregate):
    """Trained, never evaluated: it defines no `evaluate`."""

    id = "only-fit"

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = nn.Linear(2, 2)

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        loss: Tensor = self.nn(inputs).sum()
        return loss


class Evaluated(OnlyFit):
    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        return self.nn(inputs), target


training = Training()
training.fit(OnlyFit(), [("train", [])], 1)
training.train(OnlyFit(), [])
training.fit(Evaluated(), [("train", []), ("validation", [])], 1)
training.validate(Evaluated(), [])

outputs: list[Any] = training.predict(Evaluated(), [])
streamed: Iterator[Any] = training.predict(Evaluated(), [], stream=True)
labels: Tensor = torch.cat(training.predict(Evaluated(), []))


def device() -> str:
    return "cpu"


@inject(Provider())
def place(model: str, device: str = Depends(device)) -> str:
    return f"{model} on {device}"


placed: str = place("mlp")
marker: DependsMarker = DependsMarker(device)
'''


@pytest.mark.timeout(300)  # without the cache, mypy reads torch's stubs first
def test_a_system_written_as_documented_passes_mypy_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = tmp_path / "system.py"
    program.write_text(PROGRAM)
    monkeypatch.chdir(ROOT)  # the package, the settings and the cache of the repository

    report, errors, status = mypy_api.run(
        [str(program), "--config-file", str(ROOT / "pyproject.toml"), "--strict"]
    )

    assert status == 0, report + errors
