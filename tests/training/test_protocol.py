"""``Trainable``: the aggregate protocol, checked before any batch runs; model ids."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, loaders, recorder
from torchsystem import Aggregate
from torchsystem.training import (
    Advanced,
    Ended,
    Iterated,
    MissingIdWarning,
    Started,
    Stepped,
    Stopped,
    Trained,
    Training,
    Validated,
    check_trainable,
    identify,
)


class FitOnly(Aggregate):
    """Trains, but has no ``evaluate``."""

    id = "fit-only"

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.calls = 0, 0
        self.nn = nn.Linear(8, 2)

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        self.calls += 1
        return nn.functional.cross_entropy(self.nn(inputs), target)


class EvaluateOnly(Aggregate):
    id = "evaluate-only"

    def __init__(self) -> None:
        super().__init__()
        self.nn = nn.Linear(8, 2)

    def evaluate(self, inputs: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(self.nn(inputs), target)


class PlainPhase(nn.Module):
    """An ``nn.Module`` whose ``phase`` is an ordinary attribute: it switches no mode."""

    def __init__(self) -> None:
        super().__init__()
        self.phase, self.nn = "train", nn.Linear(8, 2)

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        return self.nn(inputs).sum()


class Anonymous(Aggregate):
    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.nn = 0, nn.Linear(8, 2)

    def fit(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self.nn(inputs)
        return output, nn.functional.cross_entropy(output, target)

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        return self.fit(inputs, target)


def _weights(model: nn.Module) -> list[Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


@pytest.mark.parametrize("handler", ["train", "validate", "iterate", "fit"])
def test_a_plain_module_is_refused_before_any_batch(handler: str) -> None:
    training, model = Training(), nn.Linear(8, 2)
    seen, before = recorder(training.producer), _weights(model)
    model.fit = model.evaluate = lambda inputs, target: model(inputs).sum()  # type: ignore[assignment]
    arguments: dict[str, tuple[Any, ...]] = {
        "train": (loaders()[0][1],), "validate": (loaders()[1][1],),
        "iterate": (loaders(),), "fit": (loaders(), 2),
    }

    with pytest.raises(TypeError, match=r"Linear has no `phase` property.*torchsystem\.Aggregate"):
        training.handle(handler, model, *arguments[handler])

    assert seen == []
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not hasattr(model, "phase")


def test_a_module_whose_phase_is_a_plain_attribute_is_refused() -> None:
    with pytest.raises(TypeError, match="PlainPhase has no `phase` property"):
        Training().train(PlainPhase(), loaders()[0][1])


def test_an_object_without_phase_is_refused() -> None:
    class NoPhase:
        def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
            return inputs.sum()

    with pytest.raises(TypeError, match=r"NoPhase has no `phase`; .*torchsystem\.Aggregate"):
        Training().train(NoPhase(), loaders()[0][1])


def test_a_missing_evaluate_is_found_before_the_training_phase_runs() -> None:
    training, model = Training(), FitOnly()
    seen = recorder(training.producer)

    with pytest.raises(TypeError, match=r"FitOnly has no `evaluate` method.*evaluation phase"):
        training.fit(model, loaders(), epochs=3)

    assert (model.calls, model.epoch, seen) == (0, 0, [])


def test_a_model_without_evaluate_trains_when_no_phase_evaluates() -> None:
    model = FitOnly()

    assert Training().fit(model, [("train", loaders()[0][1])], epochs=2) == 2
    assert model.calls == 8


def test_a_missing_evaluate_is_refused_by_validate() -> None:
    training = Training()
    seen = recorder(training.producer)

    with pytest.raises(TypeError, match=r"FitOnly has no `evaluate` method"):
        training.validate(FitOnly(), loaders()[1][1])

    assert seen == []


def test_a_missing_fit_is_found_before_an_evaluation_phase_that_comes_first() -> None:
    training = Training()
    seen = recorder(training.producer)
    phases = [("validation", loaders()[1][1]), ("train", loaders()[0][1])]

    with pytest.raises(TypeError, match=r"EvaluateOnly has no `fit` method"):
        training.iterate(EvaluateOnly(), phases)

    assert seen == []


def test_a_missing_fit_is_refused_by_train() -> None:
    with pytest.raises(TypeError, match=r"EvaluateOnly has no `fit` method.*training phase"):
        Training().train(EvaluateOnly(), loaders()[0][1])


def test_a_model_without_fit_validates() -> None:
    results = Training().validate(EvaluateOnly(), loaders()[1][1])

    assert [metric.name for metric in results] == ["loss"]


@pytest.mark.parametrize("epoch", ["3", 1.5, True, None])
def test_an_epoch_that_is_not_an_integer_is_refused(epoch: Any) -> None:
    model = Classifier()
    model.__dict__["_aggregate_epoch"] = epoch

    with pytest.raises(TypeError, match=r"Classifier.epoch must be an int .*finished epochs"):
        Training().train(model, loaders()[0][1])


def test_an_aggregate_without_epoch_counts_from_zero() -> None:
    training, model = Training(), EvaluateOnly()
    seen = recorder(training.producer)

    training.validate(model, loaders()[1][1])

    assert seen[-1].epoch == 1


def test_check_trainable_accepts_an_aggregate() -> None:
    assert check_trainable(Classifier(), fits=True, evaluates=True) is None


def test_events_carry_the_models_id() -> None:
    training, model = Training(), Classifier()
    training.producer.register(stop_at(2))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=5)

    kinds = {type(event) for event in seen}
    assert kinds == {Started, Stepped, Trained, Validated, Iterated, Advanced, Stopped, Ended}
    assert {event.model_id for event in seen} == {model.id}


def stop_at(epoch: int) -> Any:
    from torchsystem.services import Consumer

    consumer = Consumer()

    @consumer.handler
    def stop(event: Iterated) -> None:
        if event.epoch == epoch:
            event.model.events.enqueue(StopIteration("enough"))

    return consumer


def test_identify_reads_the_id_as_text() -> None:
    class Numbered(Anonymous):
        id = 7

    assert identify(Numbered()) == "7"


def test_a_model_without_id_is_warned_about_where_it_is_trained() -> None:
    training, model = Training(), Anonymous()
    seen = recorder(training.producer)

    with pytest.warns(MissingIdWarning, match="Anonymous has no id") as caught:
        training.train(model, loaders()[0][1])

    assert {record.filename for record in caught} == {__file__}
    assert {event.model_id for event in seen} == {"Anonymous"}


def test_a_model_with_an_id_is_not_warned_about() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Training().fit(Classifier(), loaders(), epochs=1)
