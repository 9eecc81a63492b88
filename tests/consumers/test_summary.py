"""``EpochSummary``: one ``logging`` line per epoch with every phase's metrics."""

from __future__ import annotations

import logging

import pytest

from tests.training._models import Classifier, LegacyMetric, LegacyTrained, LegacyValidated, loaders
from torchsystem import Aggregate
from torchsystem.consumers import EpochSummary
from torchsystem.training import Accuracy, Iterated, Metric, Stopped, Trained, Training, Validated

LOGGER = "torchsystem.summary"


class Model(Aggregate):
    id = "model"

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0


def _lines(caplog: pytest.LogCaptureFixture, logger: str = LOGGER) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


def _segments(line: str) -> dict[str, str]:
    """``phase -> its part of the line`` (the part after ``epoch N``)."""
    parts = line.split(" | ")[1:]
    return {part.split(" ", 1)[0]: part for part in parts}


def test_fit_writes_one_line_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    training = Training(metrics={"accuracy": Accuracy()})
    training.producer.register(EpochSummary())

    training.fit(Classifier(), loaders(), epochs=3)

    assert len(_lines(caplog)) == 3


def test_each_line_names_its_epoch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    training = Training()
    training.producer.register(EpochSummary())

    training.fit(Classifier(), loaders(), epochs=2)

    assert [line.split(" | ")[0] for line in _lines(caplog)] == ["epoch 1", "epoch 2"]


def test_each_line_has_every_phases_loss_and_accuracy(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    training = Training(metrics={"accuracy": Accuracy()})
    training.producer.register(EpochSummary())

    training.fit(Classifier(), loaders(), epochs=2)

    for line in _lines(caplog):
        segments = _segments(line)
        assert sorted(segments) == ["train", "validation"]
        for segment in segments.values():
            assert "loss" in segment.split()
            assert "accuracy" in segment.split()


def test_the_line_shows_the_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    summary, model = EpochSummary(), Model()
    summary.consume(Trained(model, "train", 1, (Metric("loss", 0.25), Metric("accuracy", 0.5))))
    summary.consume(Validated(model, "validation", 1, (Metric("loss", 0.75),)))

    summary.consume(Iterated(model, 1, {}))

    assert _lines(caplog) == [
        "epoch 1 | train loss 0.2500 accuracy 0.5000 | validation loss 0.7500"
    ]


def test_nothing_is_written_before_the_epoch_ends(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    summary = EpochSummary()

    summary.consume(Trained(Model(), "train", 1, (Metric("loss", 0.25),)))

    assert _lines(caplog) == []


def test_a_custom_logger_and_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="digits")
    summary, model = EpochSummary(logging.getLogger("digits"), level=logging.DEBUG), Model()
    summary.consume(Trained(model, "train", 1, (Metric("loss", 0.25),)))

    summary.flush()

    assert [record.levelno for record in caplog.records if record.name == "digits"] == [
        logging.DEBUG
    ]


def test_models_get_separate_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    summary, first, second = EpochSummary(), Model(), Model()
    summary.consume(Trained(first, "train", 1, (Metric("loss", 0.25),)))
    summary.consume(Trained(second, "train", 1, (Metric("loss", 0.5),)))

    summary.flush()

    assert sorted(_lines(caplog)) == ["epoch 1 | train loss 0.2500", "epoch 1 | train loss 0.5000"]


def test_an_early_stop_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    summary = EpochSummary()

    summary.consume(Stopped(Model(), 3, StopIteration("loss stalled")))

    assert _lines(caplog) == ["stopped early after epoch 3: loss stalled"]


def test_the_seeds_events_give_one_line_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    summary, model = EpochSummary(), Model()
    for epoch in range(2):
        model.phase, model.epoch = "train", epoch
        summary.consume(LegacyTrained(model, None, [LegacyMetric("loss", 0.5)]))
        model.phase = "evaluation"
        summary.consume(LegacyValidated(model, None, [LegacyMetric("loss", 0.25)]))

    summary.flush()

    lines = _lines(caplog)
    assert len(lines) == 2
    assert all(
        _segments(line)
        == {
            "train": "train loss 0.5000",
            "evaluation": "evaluation loss 0.2500",
        }
        for line in lines
    )
