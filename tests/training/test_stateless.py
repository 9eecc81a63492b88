"""A service is stateless: no pass sees another call's counts, whatever happened before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, loaders
from torchsystem import Aggregate
from torchsystem.training import Accuracy, Metric, Training


class Answering(Aggregate):
    """Predicts ``answer`` for every sample; ``evaluate`` waits at ``barrier`` first."""

    id = "answering"

    def __init__(self, answer: int, barrier: threading.Barrier | None = None) -> None:
        super().__init__()
        self.nn, self.answer, self.barrier = nn.Linear(1, 1), answer, barrier

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        if self.barrier is not None:
            self.barrier.wait()  # the other thread is mid-pass too: their steps interleave
        return torch.full_like(target, self.answer), torch.tensor(0.0)


def _batches(count: int = 4) -> list[tuple[Tensor, Tensor]]:
    return [(torch.ones(4, 1), torch.tensor([1, 1, 0, 0])) for _ in range(count)]


def _values(metrics: tuple[Metric, ...]) -> dict[str, float]:
    return {metric.name: metric.value for metric in metrics}


def _interrupted(batches: list[Any], after: int) -> Iterator[Any]:
    for index, batch in enumerate(batches):
        if index == after:
            raise KeyboardInterrupt
        yield batch


@pytest.mark.parametrize("metric", [Accuracy(), Accuracy], ids=["prototype", "factory"])
def test_a_pass_after_an_interrupted_one_counts_from_nothing(metric: Any) -> None:
    training = Training(metrics={"accuracy": metric})
    always_one = Answering(1)
    with pytest.raises(KeyboardInterrupt):
        training.validate(always_one, _interrupted([(torch.ones(4, 1), torch.ones(4))] * 4, 3))

    results = training.validate(Answering(0), _batches())

    assert _values(results) == {"loss": 0.0, "accuracy": 0.5}


def test_an_interrupted_pass_leaves_the_services_metrics_untouched() -> None:
    prototype = Accuracy()
    training = Training(metrics={"accuracy": prototype})
    with pytest.raises(KeyboardInterrupt):
        training.validate(Answering(1), _interrupted(_batches(), 2))

    with pytest.raises(ValueError, match="before any update"):
        prototype.compute()


@pytest.mark.parametrize("metric", [Accuracy(), Accuracy], ids=["prototype", "factory"])
def test_two_threads_validating_through_one_service_keep_their_own_counts(metric: Any) -> None:
    training = Training(metrics={"accuracy": metric})
    barrier = threading.Barrier(2, timeout=20)
    models = {"ones": Answering(1, barrier), "zeros": Answering(0, barrier)}
    results: dict[str, Any] = {}

    def validate(name: str) -> None:
        try:
            batches = [(torch.ones(4, 1), torch.ones(4, dtype=torch.long))] * 20
            results[name] = _values(training.validate(models[name], batches))
        except BaseException as error:  # reported to the test thread below
            results[name] = error

    threads = [threading.Thread(target=validate, args=(name,)) for name in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == {
        "ones": {"loss": 0.0, "accuracy": 1.0},
        "zeros": {"loss": 0.0, "accuracy": 0.0},
    }


def test_a_factory_is_called_once_per_pass() -> None:
    made: list[Accuracy] = []

    def accuracy() -> Accuracy:
        made.append(Accuracy())
        return made[-1]

    Training(metrics={"accuracy": accuracy}).fit(Classifier(), loaders(), epochs=2)

    assert len(made) == 4  # train and validation, two epochs
    assert len({id(metric) for metric in made}) == 4


def test_a_prototype_is_copied_reset_for_each_pass() -> None:
    prototype = Accuracy()
    prototype.update(torch.tensor([0, 0]), torch.tensor([1, 1]))  # a user left counts in it
    training = Training(metrics={"accuracy": prototype})

    results = training.validate(Answering(1), _batches())

    assert _values(results)["accuracy"] == 0.5
    assert float(prototype.compute()) == 0.0  # still the user's counts, never ours
