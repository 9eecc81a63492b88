"""``TensorBoard``: per-epoch scalars ``{model.id}/{metric}/{phase}`` and hyperparameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.training._models import Classifier, LegacyMetric, LegacyTrained, loaders, recorder
from torchsystem import Aggregate
from torchsystem.consumers import Background, TensorBoard
from torchsystem.registry import gethash, register
from torchsystem.training import (
    Accuracy,
    Iterated,
    Metric,
    MissingIdWarning,
    Stepped,
    Trained,
    Training,
)


class Model(Aggregate):
    """An aggregate with an id and nothing registered."""

    id = "model"

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0


class Anonymous(Aggregate):
    """An aggregate that does not define ``id``."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0


@register
class Registered(Aggregate):
    """An aggregate whose own constructor arguments are recorded."""

    id = "registered"

    def __init__(self, width: int, name: str = "wide") -> None:
        super().__init__()
        self.epoch = 0


class FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))


def _read(path: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(path))
    accumulator.Reload()
    return accumulator


def _hparams(path: Path) -> dict[str, Any]:
    content = _read(path).PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return {
        key: value.string_value if value.HasField("string_value") else value.number_value
        for key, value in data.session_start_info.hparams.items()
    }


def _trained(model: Any, epoch: int = 1, **metrics: float) -> Trained:
    return Trained(model, "train", epoch, tuple(Metric(n, v) for n, v in metrics.items()))


def _fitted(path: Path, epochs: int = 2) -> tuple[Classifier, list[Any]]:
    """Fit a classifier with accuracy for ``epochs``, logging to ``path``."""
    training, model = Training(metrics={"accuracy": Accuracy()}), Classifier()
    board = TensorBoard(path)
    training.producer.register(board)
    seen = recorder(training.producer)
    training.fit(model, loaders(), epochs=epochs)
    board.close()
    return model, seen


def test_scalars_are_tagged_model_metric_phase(tmp_path: Path) -> None:
    model, _ = _fitted(tmp_path)

    assert set(_read(tmp_path).Tags()["scalars"]) == {
        f"{model.id}/{metric}/{phase}"
        for metric in ("loss", "accuracy")
        for phase in ("train", "validation")
    }


def test_scalars_are_written_per_epoch_with_the_events_values(tmp_path: Path) -> None:
    model, seen = _fitted(tmp_path, epochs=3)
    expected = [
        (event.epoch, event.metrics[1].value) for event in seen if isinstance(event, Trained)
    ]

    scalars = _read(tmp_path).Scalars(f"{model.id}/accuracy/train")

    assert [(s.step, pytest.approx(s.value)) for s in scalars] == expected
    assert [s.step for s in scalars] == [1, 2, 3]


def test_registry_metadata_is_written_as_hyperparameters(tmp_path: Path) -> None:
    model, _ = _fitted(tmp_path, epochs=1)

    assert _hparams(tmp_path) == {
        "nn.name": "MLP",
        "nn.arguments.in_features": 8,
        "nn.arguments.out_features": 2,
        "nn.hash": gethash(model.nn),
    }


def test_the_hparams_plugin_data_is_present(tmp_path: Path) -> None:
    _fitted(tmp_path, epochs=1)

    assert set(_read(tmp_path).PluginTagToContent("hparams")) == {
        "_hparams_/experiment",
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }


def test_a_registered_model_is_described_itself(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path), Registered(3)

    board.consume(_trained(model, loss=0.5))
    board.close()

    assert _hparams(tmp_path) == {
        "model.name": "Registered",
        "model.arguments.width": 3,
        "model.arguments.name": "wide",
        "model.hash": gethash(model),
    }


def test_a_model_without_registry_metadata_writes_no_hparams(tmp_path: Path) -> None:
    board = TensorBoard(tmp_path)

    board.consume(_trained(Model(), loss=0.5))
    board.close()

    accumulator = _read(tmp_path)
    assert accumulator.Tags()["scalars"] == ["model/loss/train"]
    with pytest.raises(KeyError, match="'hparams' could not be found"):
        accumulator.PluginTagToContent("hparams")


def test_no_file_is_written_before_the_first_event(tmp_path: Path) -> None:
    TensorBoard(tmp_path / "runs")

    assert not (tmp_path / "runs").exists()


def test_events_without_metrics_open_no_writer(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path / "runs"), Model()

    board.consume(Stepped(model, "train", 1, 1, 2, torch.tensor(0.5)))
    board.consume(Iterated(model, 1, {}))

    assert not (tmp_path / "runs").exists()


def test_flush_makes_the_scalars_readable(tmp_path: Path) -> None:
    board = TensorBoard(tmp_path)
    board.consume(_trained(Model(), loss=0.5))

    board.flush()

    assert _read(tmp_path).Tags()["scalars"] == ["model/loss/train"]
    board.close()


def test_an_event_after_close_is_written_too(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path), Model()
    board.consume(_trained(model, 1, loss=0.5))
    board.close()

    board.consume(_trained(model, 2, loss=0.25))
    board.close()

    assert [s.step for s in _read(tmp_path).Scalars("model/loss/train")] == [1, 2]


def test_an_injected_writer_receives_the_scalars() -> None:
    writer = FakeWriter()
    board = TensorBoard(writer=writer)

    board.consume(_trained(Model(), 4, loss=0.5, accuracy=0.75))

    assert writer.scalars == [("model/loss/train", 0.5, 4), ("model/accuracy/train", 0.75, 4)]


def test_a_model_without_id_is_tagged_with_its_class_name_and_warned_about() -> None:
    writer = FakeWriter()

    with pytest.warns(MissingIdWarning, match="Anonymous has no id"):
        TensorBoard(writer=writer).consume(_trained(Anonymous(), loss=0.5))

    assert writer.scalars == [("Anonymous/loss/train", 0.5, 1)]


def test_the_id_an_event_carries_is_used_without_reading_the_model() -> None:
    class Counting(Model):
        reads = 0

        @property
        def id(self) -> str:
            type(self).reads += 1
            return "live"

    writer, model = FakeWriter(), Counting()

    TensorBoard(writer=writer).consume(
        Trained(model, "train", 2, (Metric("loss", 0.5),), model_id="carried")
    )

    assert writer.scalars == [("carried/loss/train", 0.5, 2)]
    assert Counting.reads == 0


def test_the_seeds_event_is_tagged_with_the_models_phase_and_epoch() -> None:
    writer, model = FakeWriter(), Model()
    model.phase, model.epoch = "evaluation", 3

    TensorBoard(writer=writer).consume(LegacyTrained(model, None, [LegacyMetric("loss", 0.5)]))

    assert writer.scalars == [("model/loss/evaluation", 0.5, 3)]


def test_the_seeds_tensor_metric_values_are_written_as_numbers() -> None:
    writer = FakeWriter()

    TensorBoard(writer=writer).consume(
        LegacyTrained(Model(), None, [LegacyMetric("loss", torch.tensor(0.5))])
    )

    assert writer.scalars == [("model/loss/train", 0.5, 0)]


def test_it_writes_from_a_background_thread(tmp_path: Path) -> None:
    training = Training()
    with Background(TensorBoard(tmp_path)) as background:
        training.producer.register(background)
        training.fit(Classifier(), loaders(), epochs=2)

    scalars = _read(tmp_path).Tags()["scalars"]
    assert len(scalars) == 2  # loss of train and validation
