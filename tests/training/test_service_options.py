"""``Training`` options a Lightning user expects: validation every N epochs, a limit on
batches per phase, and the end of each training pass for ``Optimization`` attributes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, data, loaders, recorder
from torchsystem import Aggregate
from torchsystem.services import Consumer
from torchsystem.training import (
    Iterated,
    Optimization,
    Stepped,
    TensorLoader,
    Trained,
    Training,
    Validated,
)


class Accumulating(Aggregate):
    """An aggregate whose ``fit`` hands its loss to an ``Optimization``."""

    id = "accumulating"

    def __init__(self, accumulate: int = 4, scheduler: bool = False) -> None:
        super().__init__()
        self.epoch = 0
        torch.manual_seed(0)
        self.nn = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
        self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=0.1, momentum=0.9)
        self.scheduler = (
            torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)
            if scheduler else None
        )
        self.optimization = Optimization(
            self.optimizer, accumulate=accumulate, scheduler=self.scheduler
        )

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        loss: Tensor = nn.functional.cross_entropy(self.nn(inputs), target)
        self.optimization.step(loss)
        return loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> Tensor:
        loss: Tensor = nn.functional.cross_entropy(self.nn(inputs), target)
        return loss


def ordered(samples: int, batch_size: int = 8) -> TensorLoader:
    return TensorLoader(*data(samples), batch_size=batch_size, shuffle=False)


def test_the_service_flushes_the_leftover_at_the_end_of_every_training_pass() -> None:
    model = Accumulating(accumulate=4)
    reference = copy.deepcopy(model.nn)
    inputs, target = data(48)  # 6 batches of 8: a window of 4, then 2 left over

    Training().fit(model, [("train", ordered(48))], epochs=2)

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        for window in (slice(0, 32), slice(32, 48)):
            optimizer.zero_grad()
            nn.functional.cross_entropy(reference(inputs[window]), target[window]).backward()
            optimizer.step()
    gaps = [float((a - b).detach().abs().max()) for a, b in
            zip(model.nn.parameters(), reference.parameters(), strict=True)]
    assert max(gaps) < 1e-6
    assert model.optimization.steps == 4


def test_trained_sees_the_flushed_weights_and_the_learning_rate_the_epoch_used() -> None:
    model = Accumulating(accumulate=4, scheduler=True)
    training = Training()
    seen: list[tuple[int, int, float]] = []
    consumer = Consumer()

    @consumer.handler
    def record(event: Trained) -> None:
        optimization = event.model.optimization
        seen.append((optimization.counted, optimization.steps,
                     event.model.optimizer.param_groups[0]["lr"]))

    training.producer.register(consumer)
    training.fit(model, [("train", ordered(48))], epochs=3)

    assert seen == [(0, 2, 0.1), (0, 4, 0.05), (0, 6, 0.025)]
    assert model.optimizer.param_groups[0]["lr"] == 0.0125


def test_validation_evaluates_the_weights_after_the_flush() -> None:
    model = Accumulating(accumulate=4)
    validation = ordered(16)

    results = Training().iterate(model, [("train", ordered(48)), ("validation", validation)])

    inputs, target = validation.tensors
    with torch.inference_mode():
        expected = float(nn.functional.cross_entropy(model.nn(inputs), target))
    assert results["validation"][0].value == pytest.approx(expected, abs=1e-6)


def test_validation_runs_every_n_epochs() -> None:
    training = Training(validate_every=2)
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(), epochs=5)

    validated = [event.epoch for event in seen if isinstance(event, Validated)]
    assert validated == [2, 4]
    assert [event.epoch for event in seen if isinstance(event, Trained)] == [1, 2, 3, 4, 5]
    phases = [sorted(event.results) for event in seen if isinstance(event, Iterated)]
    assert phases == [["train"], ["train", "validation"]] * 2 + [["train"]]


def test_validate_every_counts_the_epochs_of_the_model_when_resumed() -> None:
    training, model = Training(validate_every=3), Classifier()
    model.epoch = 4
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=7)

    assert [event.epoch for event in seen if isinstance(event, Validated)] == [6]


def test_validate_every_given_per_call_wins() -> None:
    training = Training(validate_every=2)
    seen = recorder(training.producer)

    results = training.iterate(Classifier(), loaders(), validate_every=1)
    training.fit(Classifier(), loaders(), epochs=2, validate_every=1)

    assert "validation" in results
    assert [event.epoch for event in seen if isinstance(event, Validated)] == [1, 1, 2]


def test_batches_are_limited_per_phase() -> None:
    training = Training(limit_batches=2)
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(train_batches=4, validation_batches=3), epochs=1)

    steps = [(event.phase, event.step, event.total) for event in seen
             if isinstance(event, Stepped)]
    assert steps == [("train", 1, 2), ("train", 2, 2), ("validation", 1, 2), ("validation", 2, 2)]


def test_a_mapping_limits_the_phases_it_names() -> None:
    training = Training(limit_batches={"training": 1})
    seen = recorder(training.producer)

    training.iterate(Classifier(), loaders(train_batches=4, validation_batches=3))

    phases = [event.phase for event in seen if isinstance(event, Stepped)]
    assert phases == ["train", "validation", "validation", "validation"]


def test_a_limit_given_per_call_wins_and_reaches_train_and_validate() -> None:
    training = Training(limit_batches=3)
    seen = recorder(training.producer)
    (_, train), (_, validation) = loaders(train_batches=4, validation_batches=3)

    training.train(Classifier(), train, limit_batches=1)
    training.validate(Classifier(), validation, limit_batches={"validation": 2})
    training.validate(Classifier(), validation, phase="test", limit_batches={"validation": 2})

    steps = [event.phase for event in seen if isinstance(event, Stepped)]
    assert steps == ["train"] + ["validation"] * 2 + ["test"] * 3


def test_a_dry_run_takes_one_batch_of_each_phase() -> None:
    """Lightning's ``fast_dev_run``: one batch per phase, one epoch, nothing registered."""
    model = Classifier()
    calls: list[str] = []
    fit, evaluate = model.fit, model.evaluate
    model.fit = lambda *batch: calls.append("fit") or fit(*batch)  # type: ignore[method-assign]
    model.evaluate = (  # type: ignore[method-assign]
        lambda *batch: calls.append("evaluate") or evaluate(*batch)
    )

    results = Training(limit_batches=1).iterate(model, loaders())

    assert calls == ["fit", "evaluate"]
    assert sorted(results) == ["train", "validation"]
    assert model.epoch == 1


def test_a_limit_over_a_loader_without_length_leaves_the_total_unknown() -> None:
    training = Training(limit_batches=2)
    seen = recorder(training.producer)
    batches = list(TensorLoader(*data(32), batch_size=8))

    class Unsized:
        def __iter__(self) -> Any:
            return iter(batches)

    training.train(Classifier(), Unsized())

    assert [(event.step, event.total) for event in seen if isinstance(event, Stepped)] == [
        (1, None), (2, None),
    ]


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"validate_every": 0}, ValueError, "validate_every must be 1 or more, got 0"),
    ({"validate_every": True}, TypeError, "validate_every must be a whole number of epochs"),
    ({"validate_every": 1.5}, TypeError, "validate_every must be a whole number of epochs"),
    ({"limit_batches": 0}, ValueError, "limit_batches must be 1 or more, got 0; to skip a phase"),
    ({"limit_batches": 0.5}, TypeError, r"limit_batches must be a whole number of batches"),
    ({"limit_batches": {"train": -1}}, ValueError, r"limit_batches\['train'\] must be 1 or more"),
    ({"limit_batches": {1: 2}}, TypeError, "limit_batches maps phase names to numbers, got key 1"),
])
def test_bad_options_are_refused_when_the_service_is_made(
    arguments: dict[str, Any], error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        Training(**arguments)


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"validate_every": 0}, ValueError, "validate_every must be 1 or more"),
    ({"limit_batches": "2"}, TypeError, "limit_batches must be a whole number of batches"),
])
def test_bad_options_per_call_are_refused_before_anything_runs(
    arguments: dict[str, Any], error: type[Exception], message: str,
) -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    with pytest.raises(error, match=message):
        training.fit(model, loaders(), epochs=2, **arguments)

    assert seen == []
    assert model.epoch == 0
