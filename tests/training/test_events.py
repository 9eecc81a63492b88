"""The training events and ``metric_items``."""

import copy
import dataclasses
import pickle

import pytest
import torch

from tests.training._models import Classifier, LegacyMetric
from torchsystem.training import (
    Iterated,
    Measured,
    Metric,
    Stepped,
    Stopped,
    Trained,
    Validated,
    metric_items,
)


def test_metric_is_frozen() -> None:
    metric = Metric("loss", 0.5)

    with pytest.raises(dataclasses.FrozenInstanceError):
        metric.value = 0.1  # type: ignore[misc]


def test_phase_events_carry_model_phase_epoch_and_metrics() -> None:
    metrics = (Metric("loss", 0.5),)

    trained = Trained("model", "train", 3, metrics)
    validated = Validated("model", "test", 3, metrics, loader="loader")

    assert (trained.model, trained.phase, trained.epoch, trained.metrics) == (
        "model",
        "train",
        3,
        metrics,
    )
    assert trained.loader is None
    assert (validated.phase, validated.loader) == ("test", "loader")


def test_stepped_carries_the_step_and_the_total() -> None:
    stepped = Stepped("model", "train", 0, 2, 5, torch.tensor(0.1))

    assert (stepped.step, stepped.total) == (2, 5)


def test_iterated_carries_the_results_of_every_phase() -> None:
    results = {"train": (Metric("loss", 0.5),)}

    assert Iterated("model", 1, results).results is results


def test_metric_items_reads_a_mapping() -> None:
    assert list(metric_items({"loss": 0.5, "accuracy": 1})) == [
        ("loss", 0.5),
        ("accuracy", 1.0),
    ]


def test_metric_items_reads_objects_with_name_and_value() -> None:
    metrics = [Metric("loss", 0.5), LegacyMetric("accuracy", 0.75)]

    assert list(metric_items(metrics)) == [("loss", 0.5), ("accuracy", 0.75)]


def test_metric_items_turns_tensors_into_floats() -> None:
    items = list(metric_items([LegacyMetric("loss", torch.tensor(0.25))]))

    assert items == [("loss", 0.25)]
    assert type(items[0][1]) is float


def test_measured_is_the_common_base_of_trained_and_validated() -> None:
    from torchsystem.services import Consumer

    consumer, seen = Consumer(), []

    @consumer.handler
    def measured(event: Measured) -> None:
        seen.append(type(event).__name__)

    consumer.consume(Trained(None, "train", 1, ()))
    consumer.consume(Validated(None, "validation", 1, ()))

    assert seen == ["Trained", "Validated"]


def _every_event() -> list[object]:
    model, metrics = Classifier(), (Metric("loss", 0.5), Metric("accuracy", 0.75))
    return [
        Metric("loss", 0.5),
        Stepped(model, "train", 1, 2, 4, torch.tensor(0.25), "mlp"),
        Trained(model, "train", 1, metrics, None, "mlp"),
        Validated(model, "validation", 1, metrics, [1, 2], "mlp"),
        Iterated(model, 1, {"train": metrics}, "mlp"),
        Stopped(model, 3, StopIteration("plateau"), "mlp"),
    ]


def _same(copied: object, original: object) -> None:
    assert type(copied) is type(original)
    for field in dataclasses.fields(original):  # type: ignore[arg-type]
        left, right = getattr(copied, field.name), getattr(original, field.name)
        if field.name == "model":
            assert type(left) is type(right)
            assert left is not right
            assert left.state_dict().keys() == right.state_dict().keys()
        elif isinstance(right, BaseException):
            assert (type(left), left.args) == (type(right), right.args)
        elif isinstance(right, torch.Tensor):
            assert torch.equal(left, right)
        else:
            assert left == right


@pytest.mark.parametrize("made", _every_event(), ids=lambda event: type(event).__name__)
def test_every_event_survives_pickle(made: object) -> None:
    _same(pickle.loads(pickle.dumps(made)), made)


@pytest.mark.parametrize("made", _every_event(), ids=lambda event: type(event).__name__)
def test_every_event_survives_deepcopy(made: object) -> None:
    _same(copy.deepcopy(made), made)


def test_events_carry_the_model_id_last_and_optional() -> None:
    assert Trained("model", "train", 1, ()).model_id is None
    assert Stepped("model", "train", 1, 1, None, 0.5, "mlp").model_id == "mlp"
    assert Iterated("model", 1, {}, model_id="mlp").model_id == "mlp"


def test_a_repr_leaves_the_model_and_the_loader_out() -> None:
    event = Trained(Classifier(), "train", 2, (Metric("loss", 0.5),), [1, 2, 3], "mlp")

    assert repr(event) == (
        "Trained(phase='train', epoch=2, metrics=(Metric(name='loss', value=0.5),), "
        "model_id='mlp', learning_rates=None)"
    )
