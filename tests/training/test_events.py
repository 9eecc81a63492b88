"""The training events and ``metric_items``."""

import dataclasses

import pytest
import torch

from tests.training._models import SeedMetric
from torchsystem.training import Iterated, Metric, Stepped, Trained, Validated, metric_items


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
    metrics = [Metric("loss", 0.5), SeedMetric("accuracy", 0.75)]

    assert list(metric_items(metrics)) == [("loss", 0.5), ("accuracy", 0.75)]


def test_metric_items_turns_tensors_into_floats() -> None:
    items = list(metric_items([SeedMetric("loss", torch.tensor(0.25))]))

    assert items == [("loss", 0.25)]
    assert type(items[0][1]) is float


def test_measured_is_the_common_base_of_trained_and_validated() -> None:
    from torchsystem.services import Consumer
    from torchsystem.training import Measured

    consumer, seen = Consumer(), []

    @consumer.handler
    def measured(event: Measured) -> None:
        seen.append(type(event).__name__)

    consumer.consume(Trained(None, "train", 1, ()))
    consumer.consume(Validated(None, "validation", 1, ()))

    assert seen == ["Trained", "Validated"]
