"""``handler`` and ``DeclaredService``: handlers declared on the class, bound per instance."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from tests.training._models import Classifier, loaders, recorder
from torchsystem import Depends
from torchsystem.services import Producer
from torchsystem.training import Accuracy, DeclaredService, Trained, Training, device, handler


def scale() -> int:
    raise NotImplementedError("override me")


class Explaining(Training):
    """A subclass that adds a handler with one decorator."""

    @handler
    def explain(self, model: Any, inputs: torch.Tensor, factor: int = Depends(scale)) -> Any:
        return model(inputs).argmax(dim=1) * factor


class Named(Training):
    @handler(name="score-batch")
    def score(self, model: Any) -> str:
        return "scored"

    @handler
    def predict_batch(self, model: Any) -> str:
        return "predicted"


class Overriding(Training):
    """Overrides ``train`` without the decorator: it stays the handler named 'train'."""

    def train(self, *args: Any, **kwargs: Any) -> Any:
        return "overridden"


class Withdrawn(Explaining):
    explain = None  # type: ignore[assignment]
    predict = None  # type: ignore[assignment]


def test_a_subclass_adds_a_handler_with_one_decorator() -> None:
    assert sorted(Explaining().handlers) == [
        "explain", "fit", "iterate", "predict", "train", "validate",
    ]


def test_a_declared_handler_is_injected_by_name_and_directly() -> None:
    service, model = Explaining(), Classifier()
    service.override(scale, lambda: 10)
    inputs = torch.randn(3, 8)

    by_name = service.handle("explain", model, inputs)
    direct = service.explain(model, inputs)

    expected = model(inputs).argmax(dim=1) * 10
    assert torch.equal(by_name, expected)
    assert torch.equal(direct, expected)


def test_handlers_are_named_explicitly_or_by_the_services_naming() -> None:
    service = Named()

    assert service.handle("score-batch", None) == "scored"
    assert service.handle("predict-batch", None) == "predicted"


def test_an_override_without_the_decorator_stays_registered() -> None:
    service = Overriding()

    assert service.handle("train", None, None) == "overridden"
    assert service.train(None, None) == "overridden"


def test_a_subclass_can_withdraw_an_inherited_handler() -> None:
    assert sorted(Withdrawn().handlers) == ["fit", "iterate", "train", "validate"]


def test_the_table_is_collected_once_per_class() -> None:
    assert Explaining._declared == {
        "train": None, "validate": None, "iterate": None, "fit": None, "predict": None,
        "explain": None,
    }
    assert Named._declared["score"] == "score-batch"
    assert "explain" not in Training._declared


def test_each_instance_binds_its_own_handlers() -> None:
    first, second = Training(), Training()
    first_seen, second_seen = recorder(first.producer), recorder(second.producer)

    first.handle("train", Classifier(), loaders()[0][1])

    assert first.train is not second.train
    assert first.handlers["train"] is first.train
    assert any(isinstance(event, Trained) for event in first_seen)
    assert second_seen == []


def test_a_deep_copy_dispatches_to_its_own_producer() -> None:
    training = Training()
    copied = copy.deepcopy(training)
    original, seen = recorder(training.producer), recorder(copied.producer)

    copied.train(Classifier(), loaders()[0][1])
    copied.handle("validate", Classifier(), loaders()[1][1])

    assert [type(event).__name__ for event in seen][-1] == "Validated"
    assert any(isinstance(event, Trained) for event in seen)
    assert original == []


def test_a_deep_copy_has_its_own_overrides() -> None:
    training = Explaining()
    training.override(scale, lambda: 1)
    copied = copy.deepcopy(training)

    copied.override(scale, lambda: 0)

    inputs = torch.randn(4, 8)
    assert int(training.explain(Classifier(), inputs).abs().sum()) >= 0
    assert training.dependency_overrides[scale]() == 1
    assert int(copied.explain(Classifier(), inputs).abs().sum()) == 0


def test_a_shallow_copy_binds_its_handlers_to_itself() -> None:
    training = Training()
    copied = copy.copy(training)
    copied.producer = Producer()
    seen = recorder(copied.producer)

    copied.train(Classifier(), loaders()[0][1])

    assert any(isinstance(event, Trained) for event in seen)


def test_a_handler_registered_on_an_instance_is_registered_on_its_copy() -> None:
    training = Training()

    @training.handler
    def describe(model: Any, where: Any = Depends(device)) -> str:
        return f"{type(model).__name__} on {where}"

    copied = copy.deepcopy(training)
    copied.override(device, lambda: "meta")

    assert copied.handle("describe", Classifier()) == "Classifier on meta"
    assert training.handle("describe", Classifier()) == "Classifier on None"


def test_a_declared_service_needs_no_training() -> None:
    class Greeting(DeclaredService):
        @handler
        def greet(self, name: str) -> str:
            return f"hello {name}"

    assert Greeting().handle("greet", "mlp") == "hello mlp"
    assert list(Greeting().handlers) == ["greet"]


def test_an_unknown_handler_lists_the_declared_ones() -> None:
    with pytest.raises(KeyError, match="known: train, validate, iterate, fit, predict, explain"):
        Explaining().handle("explian")


def on_the_cpu() -> str:
    return "cpu"


def test_a_pickled_service_binds_its_handlers_to_itself() -> None:
    import pickle

    training = Training(metrics={"accuracy": Accuracy})
    training.override(device, on_the_cpu)  # pickled by reference, as any function

    restored = pickle.loads(pickle.dumps(training))
    seen = recorder(restored.producer)
    restored.train(Classifier(), loaders()[0][1])

    assert sorted(restored.handlers) == ["fit", "iterate", "predict", "train", "validate"]
    assert [m.name for m in seen[-1].metrics] == ["loss", "accuracy"]
    assert list(restored.dependency_overrides) == [device]
