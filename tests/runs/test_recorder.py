"""``RunRecorder``: runs, hyperparameters and metrics recorded from the training events."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import func, select

from torchsystem.consumers import EarlyStopping
from torchsystem.runs import Database, RunDatabaseError, RunRecorder
from torchsystem.runs.queries import find_runs, get_model, get_run, metric_history
from torchsystem.runs.schema import metrics
from torchsystem.training import Accuracy, Ended, Metric, Started, Stopped, Trained, Training

from ._models import Classifier, loaders, trained, validated

WORKER = Path(__file__).with_name("_worker.py")


def _history(database: Database, run: int) -> dict[tuple[int, str, str], Any]:
    return {(p.epoch, p.phase, p.name): p.value for p in metric_history(database, [run])}


def test_a_fit_is_recorded_with_its_model_hyperparameters_and_history(url: str) -> None:
    torch.manual_seed(5)
    model, training = Classifier(hidden=6), Training(metrics={"accuracy": Accuracy()})
    with RunRecorder(url, hyperparameters={"epochs": 3, "data": ("digits", 2)}) as recorder:
        training.producer.register(recorder)
        training.fit(model, loaders(), epochs=3)

    with Database(url) as database:
        [run] = find_runs(database)
        assert (run.model, run.model_name, run.status, run.epochs) == (
            model.id, "Classifier", "finished", 3)
        assert get_model(database, model.id).arguments == {
            "nn": {"name": "Net", "arguments": {"features": 8, "hidden": 6}}}
        settings = run.hyperparameters
        assert settings["optimizer"]["class"] == "SGD"
        assert settings["optimizer"]["param_groups"][0]["lr"] == 0.1
        assert settings["optimizer"]["param_groups"][0]["momentum"] == 0.9
        assert (settings["seed"], settings["epochs"], settings["data"]) == (5, 3, ["digits", 2])
        assert settings["batch_size"] == {"train": 16, "validation": 32}
        assert settings["model"] == {"nn": {"name": "Net", "arguments": {"features": 8,
                                                                          "hidden": 6}}}
        assert run.command == sys.orig_argv
        history = metric_history(database, [run.id])
        assert [(p.epoch, p.step, p.phase, p.name) for p in history[:7]] == [
            (1, 4, "train", "loss"), (1, 4, "train", "accuracy"), (1, 4, "train", "lr"),
            (1, 4, "validation", "loss"), (1, 4, "validation", "accuracy"),
            (2, 8, "train", "loss"), (2, 8, "train", "accuracy")]
        assert len(history) == 15


def test_a_run_starts_when_fit_starts_and_ends_when_fit_ends_without_close(
    sqlite_url: str,
) -> None:
    model, training = Classifier(), Training()
    recorder = RunRecorder(sqlite_url)
    training.producer.register(recorder)
    before = time.time()
    training.fit(model, loaders(), epochs=2)
    after = time.time()
    recorder.flush()  # written; the recorder stays open

    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        first = min(point.time for point in metric_history(database, [run.id]))
        assert (run.status, run.epochs, run.reason) == ("finished", 2, None)
        assert before <= run.started < first
        assert run.ended is not None
        assert run.ended <= after
        assert (run.hyperparameters["epochs"], run.hyperparameters["batch_size"]) == (
            2, {"train": 16, "validation": 32})
    recorder.close()


def test_each_fit_is_a_run_of_its_own(sqlite_url: str) -> None:
    model, training = Classifier(), Training()
    with RunRecorder(sqlite_url) as recorder:
        training.producer.register(recorder)
        training.fit(model, loaders(), epochs=2)
        training.fit(model, loaders(), epochs=3)  # trained on: epoch 3 only

    with Database(sqlite_url) as database:
        second, first = find_runs(database)
        assert [(run.status, run.hyperparameters["epochs"]) for run in (first, second)] == [
            ("finished", 2), ("finished", 3)]
        assert sorted({p.epoch for p in metric_history(database, [second.id])}) == [3]


class Broken(Classifier):
    def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
        if self.epoch == 1:
            raise KeyError("no such column")
        return super().fit(inputs, target)


class Interrupted(Classifier):
    def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
        raise KeyboardInterrupt


@pytest.mark.parametrize(("model", "raised", "status", "reason"), [
    (Broken, KeyError, "failed", "KeyError: 'no such column'"),
    (Interrupted, KeyboardInterrupt, "interrupted", "KeyboardInterrupt"),
])
def test_a_fit_that_raises_ends_its_run_with_the_error(
    sqlite_url: str, model: type[Classifier], raised: type[BaseException], status: str,
    reason: str,
) -> None:
    training, recorder = Training(), RunRecorder(sqlite_url)
    training.producer.register(recorder)

    with pytest.raises(raised):
        training.fit(model(), loaders(), epochs=3)
    recorder.flush()

    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        assert (run.status, run.reason) == (status, reason)
    recorder.close()


def test_the_model_is_the_id_the_events_carry_and_its_id_is_never_read(
    sqlite_url: str,
) -> None:
    class Counting(Classifier):
        reads = 0

        @property
        def id(self) -> str:
            type(self).reads += 1
            return "live"

    model = Counting()
    carried = {"model": {"nn": {"name": "Net", "arguments": {"hidden": 3}}}, "seed": 3,
               "batch_size": {"train": 8}}
    with RunRecorder(sqlite_url, hyperparameters={"seed": 4, "data": "v2"}) as recorder:
        recorder.consume(Started(model, 1, 1, (), carried, 100.0, model_id="carried"))
        recorder.consume(Trained(model, "train", 1, (Metric("loss", 0.5),), None, "carried",
                                 (Metric("lr", 0.25),)))
        recorder.consume(Ended(model, 1, "finished", None, 101.0, model_id="carried"))

    assert Counting.reads == 0
    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        assert (run.model, run.started, run.ended, run.status) == (
            "carried", 100.0, 101.0, "finished")
        assert run.hyperparameters == {**carried, "seed": 4, "data": "v2"}
        assert get_model(database, "carried").arguments == carried["model"]
        assert _history(database, run.id) == {(1, "train", "loss"): 0.5,
                                              (1, "train", "lr"): 0.25}


def test_an_outcome_a_run_cannot_end_with_is_refused(sqlite_url: str) -> None:
    with RunRecorder(sqlite_url) as recorder, pytest.raises(
        ValueError, match=r"a run ends as one of \['finished', 'stopped early', "
                          r"'interrupted', 'failed'\], not 'done'"):
        recorder.consume(Ended(Classifier(), 1, "done"))


def test_passwords_in_the_command_line_are_not_recorded(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["python", "-m", "src.main", "--database",
            "postgresql+psycopg://me:s3cr:et@db.internal:5432/runs", "--url=http://a:b@c/d",
            "--note", "me:you@home"]
    monkeypatch.setattr(sys, "orig_argv", argv)
    with RunRecorder(sqlite_url) as recorder:
        recorder.consume(trained(Classifier(), 1, 0.5))

    with Database(sqlite_url) as database:
        assert find_runs(database)[0].command == [
            "python", "-m", "src.main", "--database",
            "postgresql+psycopg://me:***@db.internal:5432/runs", "--url=http://a:***@c/d",
            "--note", "me:you@home"]


class TwoGroups(Classifier):
    """An aggregate with two param groups and a scheduler stepped at each epoch."""

    def __init__(self) -> None:
        super().__init__()
        first, second = self.nn.layers[0], self.nn.layers[2]
        self.optimizer = torch.optim.Adam([
            {"params": first.parameters(), "lr": 0.1},
            {"params": second.parameters(), "lr": 0.01, "weight_decay": 0.5},
        ])
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)

    def onepoch(self) -> None:
        self.scheduler.step()


def test_the_learning_rate_of_every_param_group_is_a_metric_per_epoch(sqlite_url: str) -> None:
    model, training = TwoGroups(), Training()
    with RunRecorder(sqlite_url) as recorder:
        training.producer.register(recorder)
        training.fit(model, loaders()[:1], epochs=3)

    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        history = _history(database, run.id)
        assert [history[(epoch, "train", "lr.0")] for epoch in (1, 2, 3)] == [0.1, 0.05, 0.025]
        assert [history[(epoch, "train", "lr.1")] for epoch in (1, 2, 3)] == [
            0.01, 0.005, 0.0025]
        groups = run.hyperparameters["optimizer"]["param_groups"]
        assert [(g["lr"], g["weight_decay"], g["betas"]) for g in groups] == [
            (0.1, 0, [0.9, 0.999]), (0.01, 0.5, [0.9, 0.999])]
        scheduler = run.hyperparameters["scheduler"]
        assert (scheduler["class"], scheduler["step_size"], scheduler["gamma"]) == (
            "StepLR", 1, 0.5)


def test_values_are_those_of_the_moment_the_event_was_handled(sqlite_url: str) -> None:
    model = Classifier()
    with RunRecorder(sqlite_url, interval=3600) as recorder:
        recorder.consume(trained(model, 1, 0.5, loaders()[0][1]))
        for group in model.optimizer.param_groups:  # changed before anything is written
            group["lr"], group["momentum"] = 99.0, 0.0
        recorder.flush()

        with Database(sqlite_url) as database:
            [run] = find_runs(database)
            assert _history(database, run.id)[(1, "train", "lr")] == 0.1
            assert run.hyperparameters["optimizer"]["param_groups"][0]["momentum"] == 0.9


def test_an_early_stop_ends_the_run_stopped_early_with_the_reason(sqlite_url: str) -> None:
    model, training = Classifier(lr=0.0), Training()  # lr 0: the loss never improves
    with RunRecorder(sqlite_url) as recorder:
        training.producer.register(EarlyStopping("loss", patience=2), recorder)
        ran = training.fit(model, loaders(), epochs=20)

    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        assert (run.status, run.epochs, ran) == ("stopped early", 3, 3)
        assert run.reason is not None
        assert run.reason.startswith("validation loss did not improve on")


def test_a_model_trained_again_after_a_stop_gets_a_new_run(sqlite_url: str) -> None:
    model = Classifier()
    with RunRecorder(sqlite_url) as recorder:
        recorder.consume(trained(model, 1, 0.5))
        recorder.consume(Stopped(model, 1, StopIteration()))
        recorder.consume(trained(model, 2, 0.4))
        second = recorder.run_id(model)

    with Database(sqlite_url) as database:
        assert [(run.id, run.status, run.reason) for run in find_runs(database)] == [
            (second, "finished", None), (1, "stopped early", "StopIteration")]


def test_two_models_are_two_runs_and_each_run_id_is_known(sqlite_url: str) -> None:
    small, large = Classifier(hidden=4), Classifier(hidden=16)
    with RunRecorder(sqlite_url) as recorder:
        recorder.consume(trained(small, 1, 0.5))
        recorder.consume(trained(large, 1, 0.7))
        ids = recorder.run_id(small), recorder.run_id(large)

    with Database(sqlite_url) as database:
        assert {run.id: run.model for run in find_runs(database)} == {
            ids[0]: small.id, ids[1]: large.id}


class Failure(Exception):
    pass


def test_an_error_in_the_with_block_marks_the_run_failed(sqlite_url: str) -> None:
    model = Classifier()
    def train() -> None:
        with RunRecorder(sqlite_url) as recorder:
            recorder.consume(trained(model, 1, 0.5))
            raise Failure("loader broke")

    with pytest.raises(Failure, match="loader broke"):
        train()

    with Database(sqlite_url) as database:
        run = find_runs(database)[0]
        assert (run.status, run.reason) == ("failed", "Failure: loader broke")


def test_ctrl_c_in_the_with_block_marks_the_run_interrupted(sqlite_url: str) -> None:
    model = Classifier()
    def train() -> None:
        with RunRecorder(sqlite_url) as recorder:
            recorder.consume(trained(model, 1, 0.5))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train()

    with Database(sqlite_url) as database:
        assert find_runs(database)[0].status == "interrupted"


def test_a_process_that_exits_without_closing_leaves_its_run_interrupted(
    sqlite_url: str,
) -> None:
    done = subprocess.run([sys.executable, str(WORKER), sqlite_url, "exit"],
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    with Database(sqlite_url) as database:
        run = get_run(database, int(done.stdout))
        assert (run.status, run.reason) == (
            "interrupted", "the process exited before the recorder was closed")


def test_nothing_queued_is_lost_on_close(sqlite_url: str) -> None:
    model = Classifier()
    recorder = RunRecorder(sqlite_url, interval=3600)
    for epoch in range(1, 301):
        recorder.consume(trained(model, epoch, 1 / epoch))
        recorder.consume(validated(model, epoch, 1 / epoch, 0.5))
    recorder.close()

    with Database(sqlite_url) as database:
        [run] = find_runs(database)
        assert (run.epochs, run.status, len(metric_history(database, [run.id]))) == (
            300, "finished", 300 * 4)


def test_a_nan_metric_is_kept_as_nan(url: str) -> None:
    with RunRecorder(url) as recorder:
        recorder.consume(trained(Classifier(), 1, math.nan))

    with Database(url) as database:
        [run] = find_runs(database)
        assert math.isnan(_history(database, run.id)[(1, "train", "loss")])


def test_a_failed_write_warns_training_goes_on_and_it_is_retried(
    sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    model = Classifier()
    recorder = RunRecorder(sqlite_url, interval=0)
    recorder.consume(trained(model, 1, 0.5))
    recorder.flush()
    with recorder.database.transaction() as connection:
        metrics.drop(connection)  # every write of metrics fails from now on

    with caplog.at_level(logging.WARNING, logger="torchsystem.runs"):
        recorder.consume(trained(model, 2, 0.4))  # no error on the training thread
        with pytest.raises(RunDatabaseError, match=(
            r"^1 run record\(s\) could not be written to .*runs.db: the run database .* "
            r"failed: no such table: metrics"
        )):
            recorder.flush()
    assert "cannot write 1 run record(s)" in caplog.text

    with recorder.database.transaction() as connection:
        metrics.create(connection)
    recorder.close()  # the kept records are written now
    with Database(sqlite_url) as database, database.transaction(write=False) as connection:
        assert connection.execute(select(func.count()).select_from(metrics)).scalar() == 2


def test_close_raises_what_could_not_be_written(sqlite_url: str) -> None:
    recorder = RunRecorder(sqlite_url, interval=0)
    recorder.consume(trained(Classifier(), 1, 0.5))
    recorder.flush()
    with recorder.database.transaction() as connection:
        metrics.drop(connection)
    recorder.consume(trained(Classifier(), 1, 0.5))

    with pytest.raises(RunDatabaseError, match=r"could not be written .* no such table"):
        recorder.close()


def test_a_closed_recorder_refuses_events(sqlite_url: str) -> None:
    recorder = RunRecorder(sqlite_url)
    recorder.close()
    recorder.close()  # closing again does nothing

    with pytest.raises(RuntimeError, match=r"RunRecorder\('.*runs.db'\) is closed"):
        recorder.consume(trained(Classifier(), 1, 0.5))


def test_the_heartbeat_is_renewed_while_the_run_is_open(sqlite_url: str) -> None:
    model = Classifier()
    with RunRecorder(sqlite_url, heartbeat=0.05) as recorder:
        recorder.consume(trained(model, 1, 0.5))
        run = recorder.run_id(model)
        assert run is not None
        deadline = time.monotonic() + 10
        with Database(sqlite_url) as database:
            started = get_run(database, run).started
            while (get_run(database, run).heartbeat or 0) <= started:
                assert time.monotonic() < deadline, "the heartbeat was never renewed"
                time.sleep(0.02)


def test_two_processes_writing_one_database_at_once_lose_no_row(
    url: str, tmp_path: Path,
) -> None:
    Database(url).close()
    start, epochs = tmp_path / "start", 100
    workers = [subprocess.Popen([sys.executable, str(WORKER), url, "write", str(epochs),
                                 str(start)], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        assert [worker.stdout.readline() for worker in workers if worker.stdout] == [
            "ready\n"] * 2
        start.touch()
        assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill()

    with Database(url) as database:
        runs = find_runs(database)
        assert [(run.status, run.epochs) for run in runs] == [("finished", epochs)] * 2
        spans = []
        for run in runs:
            history = metric_history(database, [run.id])
            assert len(history) == epochs * 4
            spans.append((min(p.time for p in history), max(p.time for p in history)))
        assert spans[0][0] < spans[1][1], "the writers did not overlap"
        assert spans[1][0] < spans[0][1], "the writers did not overlap"


def test_settings_that_would_lose_runs_are_refused(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match=r"heartbeat must be between 0 and half the "
                                         r"database's stale_after \(120 s\), got 90"):
        RunRecorder(sqlite_url, heartbeat=90)
    with pytest.raises(ValueError, match=r"interval must be a number of seconds >= 0, got -1"):
        RunRecorder(sqlite_url, interval=-1)
