"""What a user's type checker says of a training system written as the README shows it:
``mypy --strict`` (the project's own settings) on a small program that uses the public
API. It reuses the cache ``make typecheck`` leaves, so it takes a second or two there."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = '''
from __future__ import annotations

from torch import Tensor, nn

from torchsystem import Aggregate
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
'''


@pytest.mark.timeout(300)  # without the cache, mypy reads torch's stubs first
def test_an_aggregate_needs_only_the_steps_it_defines_for_the_type_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = tmp_path / "system.py"
    program.write_text(PROGRAM)
    monkeypatch.chdir(ROOT)  # the package, the settings and the cache of the repository

    report, errors, status = mypy_api.run(
        [str(program), "--config-file", str(ROOT / "pyproject.toml"), "--strict"]
    )

    assert status == 0, report + errors
