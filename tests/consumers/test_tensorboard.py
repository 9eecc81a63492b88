"""``TensorBoard``: a folder per run, ``metric/phase`` tags, learning rates, hparams."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

from tests.training._models import Classifier, LegacyMetric, LegacyTrained, loaders
from torchsystem import Aggregate
from torchsystem.consumers import Background, EarlyStopping, TensorBoard
from torchsystem.consumers.tensorboard import run_folder
from torchsystem.registry import gethash, register
from torchsystem.training import (
    Accuracy,
    Ended,
    Iterated,
    Metric,
    MissingIdWarning,
    Started,
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


class TwoGroups(Classifier):
    """Two param groups, and a scheduler that halves both at every epoch boundary."""

    def __init__(self) -> None:
        super().__init__(commits=False)
        self.optimizer = torch.optim.SGD([
            {"params": self.nn.layer.weight, "lr": 0.1},
            {"params": self.nn.layer.bias, "lr": 0.01},
        ])
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)

    def onepoch(self) -> None:
        self.scheduler.step()


class FakeWriter:
    """A writer without TensorBoard's files: what it was asked to write, in order."""

    def __init__(self, folder: str) -> None:
        self.folder, self.closed = folder, False
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Writers(list[FakeWriter]):
    """A writer factory that keeps every writer it made."""

    def __call__(self, folder: str) -> FakeWriter:
        self.append(FakeWriter(folder))
        return self[-1]


def _read(path: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(path))
    accumulator.Reload()
    return accumulator


def _runs(log_dir: Path) -> list[Path]:
    """The folders that hold event files, in the order they were made."""
    return sorted({file.parent for file in log_dir.rglob("events.out.tfevents.*")},
                  key=lambda folder: (folder.name, str(folder)))


def _steps(folder: Path, tag: str) -> list[tuple[int, float]]:
    return [(scalar.step, pytest.approx(scalar.value)) for scalar in _read(folder).Scalars(tag)]


def _sessions(log_dir: Path) -> dict[str, Any]:
    """What TensorBoard's HParams dashboard shows: per run folder, its hyperparameters,
    the final value of each metric and the status (TensorBoard's own code reads them)."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(log_dir))
    board = base_plugin.TBContext(logdir=str(log_dir), multiplexer=multiplexer,
                                  data_provider=provider)
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100, allowed_statuses=list(api_pb2.Status.values()))
    response = list_session_groups.Handler(
        context.RequestContext(), backend_context.Context(board), "", request).run()
    return {
        group.name: {
            "hparams": {name: _value(value) for name, value in group.hparams.items()},
            "metrics": {metric.name.tag: (metric.training_step, pytest.approx(metric.value))
                        for metric in group.metric_values},
            "status": [api_pb2.Status.Name(session.status) for session in group.sessions],
        }
        for group in response.session_groups
    }


def _value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    return {"number_value": value.number_value, "string_value": value.string_value,
            "bool_value": value.bool_value}[kind]


def _fit(log_dir: Path, model: Any = None, epochs: int = 2, **consumers: Any) -> Any:
    """Fit ``model`` (a fresh classifier) with accuracy for ``epochs``, logging to ``log_dir``."""
    model = Classifier() if model is None else model
    training = Training(metrics={"accuracy": Accuracy})
    board = TensorBoard(log_dir)
    training.producer.register(board, *consumers.values())
    training.fit(model, loaders(), epochs=epochs)
    board.close()
    return model


def _trained(model: Any, epoch: int = 1, **metrics: float) -> Trained:
    return Trained(model, "train", epoch, tuple(Metric(n, v) for n, v in metrics.items()))


# --- folders ------------------------------------------------------------------------------


def test_each_fit_is_a_folder_of_its_own_under_the_model_id(tmp_path: Path) -> None:
    model = _fit(tmp_path, epochs=2)
    _fit(tmp_path, model, epochs=5)  # the same aggregate trained on: a second run

    first, second = _runs(tmp_path)
    assert first.parent == second.parent == tmp_path / model.id
    assert [step for step, _ in _steps(first, "loss/train")] == [1, 2]
    assert [step for step, _ in _steps(second, "loss/train")] == [3, 4, 5]


def test_two_runs_of_one_model_never_share_a_folder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    first = _fit(tmp_path, Classifier(), epochs=3)
    torch.manual_seed(0)
    second = _fit(tmp_path, Classifier(), epochs=3)  # the same id, the same second

    assert first.id == second.id
    folders = _runs(tmp_path)
    assert len(folders) == 2
    for folder in folders:  # each line goes 1, 2, 3 once: no zig-zag
        assert [step for step, _ in _steps(folder, "loss/validation")] == [1, 2, 3]


def test_the_folder_is_named_by_the_local_time_the_run_started(tmp_path: Path) -> None:
    started = time.mktime((2026, 11, 27, 17, 44, 33, 0, 0, -1))

    names = [run_folder(tmp_path, "3f2a/../x y", started).name for _ in range(3)]

    assert names == ["2026-11-27_17-44-33", "2026-11-27_17-44-33-2", "2026-11-27_17-44-33-3"]
    assert [path.name for path in tmp_path.iterdir()] == ["3f2a_.._x_y"]


def test_an_id_of_dots_cannot_leave_the_log_dir(tmp_path: Path) -> None:
    folder = run_folder(tmp_path / "runs", "..", 0.0)

    assert folder.parent == tmp_path / "runs" / "__"


def test_the_started_events_time_names_the_folder(tmp_path: Path) -> None:
    writers, model = Writers(), Model()
    board = TensorBoard(tmp_path, writer=writers)
    started = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))

    board.consume(Started(model, 1, 3, (), {}, started, model_id="carried"))

    assert [writer.folder for writer in writers] == [
        str(tmp_path / "carried" / "2026-01-02_03-04-05")]
    assert board.folders == [tmp_path / "carried" / "2026-01-02_03-04-05"]


def test_no_file_is_written_before_the_first_event(tmp_path: Path) -> None:
    TensorBoard(tmp_path / "runs")

    assert not (tmp_path / "runs").exists()


def test_events_without_metrics_open_no_run(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path / "runs"), Model()

    board.consume(Stepped(model, "train", 1, 1, 2, torch.tensor(0.5)))
    board.consume(Iterated(model, 1, {}))
    board.consume(Ended(model, 1, "finished"))

    assert not (tmp_path / "runs").exists()


# --- tags and values ----------------------------------------------------------------------


def test_scalars_are_tagged_metric_slash_phase(tmp_path: Path) -> None:
    _fit(tmp_path)

    [folder] = _runs(tmp_path)
    assert set(_read(folder).Tags()["scalars"]) == {
        "loss/train", "accuracy/train", "lr/train", "loss/validation", "accuracy/validation"}


def test_scalars_are_written_per_epoch_with_the_events_values(tmp_path: Path) -> None:
    writers, model = Writers(), Model()
    board = TensorBoard(tmp_path, writer=writers)

    board.consume(_trained(model, 4, loss=0.5, accuracy=0.75))

    assert writers[0].scalars == [("loss/train", 0.5, 4), ("accuracy/train", 0.75, 4)]


def test_the_learning_rate_of_each_param_group_is_a_scalar_per_epoch(tmp_path: Path) -> None:
    training, board = Training(), TensorBoard(tmp_path)
    training.producer.register(board)

    training.fit(TwoGroups(), loaders()[:1], epochs=3)
    board.close()

    [folder] = _runs(tmp_path)
    assert _steps(folder, "lr.0/train") == [(1, 0.1), (2, 0.05), (3, 0.025)]
    assert _steps(folder, "lr.1/train") == [(1, 0.01), (2, 0.005), (3, 0.0025)]


def test_the_learning_rates_are_those_the_event_carries(tmp_path: Path) -> None:
    writers, model = Writers(), Classifier()  # its optimizer's lr is 0.1
    event = _trained(model, 2, loss=0.5)
    event.learning_rates = (Metric("lr", 0.25),)

    TensorBoard(tmp_path, writer=writers).consume(event)

    assert writers[0].scalars == [("loss/train", 0.5, 2), ("lr/train", 0.25, 2)]


def test_the_id_an_event_carries_is_used_without_reading_the_model(tmp_path: Path) -> None:
    class Counting(Model):
        reads = 0

        @property
        def id(self) -> str:
            type(self).reads += 1
            return "live"

    writers, model = Writers(), Counting()
    board = TensorBoard(tmp_path, writer=writers)

    board.consume(Trained(model, "train", 2, (Metric("loss", 0.5),), model_id="carried"))
    board.consume(Started(Counting(), 1, 2, model_id="started"))

    assert [Path(writer.folder).parent.name for writer in writers] == ["carried", "started"]
    assert Counting.reads == 0


def test_a_model_without_id_is_filed_under_its_class_name_and_warned_about(
    tmp_path: Path,
) -> None:
    writers = Writers()

    with pytest.warns(MissingIdWarning, match="Anonymous has no id"):
        TensorBoard(tmp_path, writer=writers).consume(_trained(Anonymous(), loss=0.5))

    assert Path(writers[0].folder).parent == tmp_path / "Anonymous"


def test_the_1_3_event_is_tagged_with_the_models_phase_and_epoch(tmp_path: Path) -> None:
    writers, model = Writers(), Model()
    model.phase, model.epoch = "evaluation", 3
    board = TensorBoard(tmp_path, writer=writers)

    board.consume(LegacyTrained(model, None, [LegacyMetric("loss", 0.5)]))

    assert writers[0].scalars == [("loss/evaluation", 0.5, 3)]


def test_the_1_3_events_tensor_metric_values_are_written_as_numbers(tmp_path: Path) -> None:
    writers = Writers()

    TensorBoard(tmp_path, writer=writers).consume(
        LegacyTrained(Model(), None, [LegacyMetric("loss", torch.tensor(0.5))])
    )

    assert writers[0].scalars == [("loss/train", 0.5, 0)]


# --- hyperparameters and status -----------------------------------------------------------


def test_hyperparameters_are_linked_to_the_runs_final_metrics(tmp_path: Path) -> None:
    torch.manual_seed(7)
    model = _fit(tmp_path, epochs=3)

    [folder] = _runs(tmp_path)
    final = {tag: (3, pytest.approx(_read(folder).Scalars(tag)[-1].value))
             for tag in _read(folder).Tags()["scalars"]}
    session = _sessions(tmp_path)[f"{model.id}/{folder.name}"]
    assert session["metrics"] == final
    assert session["status"] == ["STATUS_SUCCESS"]
    assert session["hparams"] == {
        "model.nn.name": "MLP",
        "model.nn.arguments.in_features": 8,
        "model.nn.arguments.out_features": 2,
        "optimizer.class": "SGD",
        "optimizer.param_groups.0.lr": 0.1,
        "optimizer.param_groups.0.momentum": 0,
        "optimizer.param_groups.0.dampening": 0,
        "optimizer.param_groups.0.weight_decay": 0,
        "optimizer.param_groups.0.nesterov": False,
        "optimizer.param_groups.0.maximize": False,
        "optimizer.param_groups.0.differentiable": False,
        "seed": 7,
        "epochs": 3,
        "batch_size.train": 16,
        "batch_size.validation": 16,
    }


def test_every_run_is_a_session_of_its_own(tmp_path: Path) -> None:
    first = _fit(tmp_path, epochs=2)
    _fit(tmp_path, first, epochs=3)

    sessions = _sessions(tmp_path)
    assert sorted(session["metrics"]["loss/validation"][0] for session in sessions.values()) == [
        2, 3]
    assert sorted(session["hparams"]["epochs"] for session in sessions.values()) == [2, 3]


def test_an_early_stop_is_a_success(tmp_path: Path) -> None:
    _fit(tmp_path, Classifier(lr=0.0), epochs=20,  # lr 0: the loss never improves
         stopper=EarlyStopping("loss", patience=1))

    [session] = _sessions(tmp_path).values()
    assert session["status"] == ["STATUS_SUCCESS"]
    assert session["metrics"]["loss/validation"][0] == 2


class Broken(Classifier):
    def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
        if self.epoch == 1:
            raise KeyError("no such column")
        return super().fit(inputs, target)


class Interrupted(Classifier):
    def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
        raise KeyboardInterrupt


@pytest.mark.parametrize(("model", "raised", "status"), [
    (Broken, KeyError, "STATUS_FAILURE"), (Interrupted, KeyboardInterrupt, "STATUS_FAILURE"),
])
def test_a_fit_that_raises_ends_its_run_with_that_status(
    tmp_path: Path, model: type[Classifier], raised: type[BaseException], status: str,
) -> None:
    with pytest.raises(raised):
        _fit(tmp_path, model(), epochs=3)

    [session] = _sessions(tmp_path).values()
    assert session["status"] == [status]


def test_a_registered_model_is_described_itself_without_started(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path), Registered(3)

    board.consume(_trained(model, loss=0.5))
    board.close()

    [session] = _sessions(tmp_path).values()
    assert session["hparams"] == {
        "model.width": 3, "model.name": "wide"}
    assert session["status"] == ["STATUS_UNKNOWN"]  # close() does not know how it ended


def test_a_model_without_registry_metadata_writes_no_hparams_without_started(
    tmp_path: Path,
) -> None:
    board = TensorBoard(tmp_path)

    board.consume(_trained(Model(), loss=0.5))
    board.close()

    [folder] = _runs(tmp_path)
    with pytest.raises(KeyError, match="'hparams' could not be found"):
        _read(folder).PluginTagToContent("hparams")


def test_a_writer_without_the_hparams_plumbing_gets_the_scalars_only(tmp_path: Path) -> None:
    writers, model = Writers(), Classifier()
    board = TensorBoard(tmp_path, writer=writers)

    board.consume(Started(model, 1, 1, (), {"seed": 1}, model_id="m"))
    board.consume(_trained(model, loss=0.5))
    board.consume(Ended(model, 1, "finished", model_id="m"))

    assert writers[0].scalars == [("loss/train", 0.5, 1)]
    assert writers[0].closed


# --- flushing, closing, threads -----------------------------------------------------------


def test_flush_makes_the_scalars_readable(tmp_path: Path) -> None:
    board = TensorBoard(tmp_path)
    board.consume(_trained(Model(), loss=0.5))

    board.flush()

    [folder] = _runs(tmp_path)
    assert _read(folder).Tags()["scalars"] == ["loss/train"]
    board.close()


def test_ended_closes_the_runs_writer_and_a_new_fit_opens_another(tmp_path: Path) -> None:
    writers, model = Writers(), Model()
    board = TensorBoard(tmp_path, writer=writers)

    board.consume(Started(model, 1, 1, model_id="m"))
    board.consume(_trained(model, 1, loss=0.5))
    board.consume(Ended(model, 1, "finished", model_id="m"))
    board.consume(Started(model, 2, 2, model_id="m"))

    assert [writer.closed for writer in writers] == [True, False]
    assert len(board.folders) == 1
    board.close()
    assert writers[1].closed


def test_an_event_after_close_opens_a_new_run(tmp_path: Path) -> None:
    board, model = TensorBoard(tmp_path), Model()
    board.consume(_trained(model, 1, loss=0.5))
    board.close()

    board.consume(_trained(model, 2, loss=0.25))
    board.close()

    assert [[step for step, _ in _steps(folder, "loss/train")] for folder in _runs(tmp_path)] == [
        [1], [2]]


def test_it_writes_from_a_background_thread(tmp_path: Path) -> None:
    training, model = Training(), TwoGroups()
    with Background(TensorBoard(tmp_path)) as background:
        training.producer.register(background)
        training.fit(model, loaders(), epochs=2)

    [folder] = _runs(tmp_path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", folder.name)
    assert set(_read(folder).Tags()["scalars"]) == {
        "loss/train", "loss/validation", "lr.0/train", "lr.1/train"}
    assert _steps(folder, "lr.0/train") == [(1, 0.1), (2, 0.05)]
    assert gethash(model.nn) == folder.parent.name
