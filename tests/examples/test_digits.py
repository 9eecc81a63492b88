"""The example system, end to end: train, stop early, read the TensorBoard files and the
run database back.

The demo runs once as a subprocess (what ``make demo`` does); the other tests build a
fresh application with ``bootstrap()`` each, in-process.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests._environment import pythonpath
from torchsystem.training import Metric, Trained, Validated

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
EPOCHS = 60
COMMAND = [sys.executable, "-m", "src.main", "--epochs", str(EPOCHS)]
ENVIRONMENT = {**os.environ, "PYTHONPATH": pythonpath(EXAMPLE)}
HASH = re.compile(r"final weights sha256: [0-9a-f]{64}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    runs = tmp_path_factory.mktemp("runs")
    done = subprocess.run(
        [*COMMAND, "--runs", str(runs), "--checkpoints", str(runs / "checkpoints")],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300, env=ENVIRONMENT,
    )
    return done, runs


@pytest.fixture(scope="module")
def example() -> Iterator[dict[str, ModuleType]]:
    """The example's modules, imported in-process (``src`` is the example's package)."""
    import importlib

    sys.path.insert(0, str(EXAMPLE))
    try:
        yield {
            name: importlib.import_module(f"src.{name}")
            for name in ("bootstrap", "data", "model", "services.earlystopping")
        }
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [name for name in sys.modules if name == "src" or name.startswith("src.")]:
            del sys.modules[name]


def epoch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("epoch ")]


def test_the_demo_succeeds(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, runs = run
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"see the curves with: tensorboard --logdir {runs}" in done.stdout


def test_one_line_per_epoch_with_train_and_validation_loss_and_accuracy(run: Any) -> None:
    done, _ = run
    lines = epoch_lines(done.stderr)
    assert lines, done.stderr[-3000:]
    pattern = re.compile(
        r"^epoch (\d+) \| train loss [\d.]+ accuracy [\d.]+"
        r" \| validation loss [\d.]+ accuracy [\d.]+$"
    )
    numbers = []
    for line in lines:
        match = pattern.match(line)
        assert match, line
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, len(lines) + 1))


def test_training_stops_early_when_the_validation_loss_stops_improving(run: Any) -> None:
    done, _ = run
    lines = epoch_lines(done.stderr)
    assert len(lines) < EPOCHS
    assert f"stopped early after epoch {len(lines)}: validation loss did not improve on " in (
        done.stderr
    )
    assert "for 5 epoch(s)" in done.stderr
    assert f"for {len(lines)} epochs" in done.stdout


def _run_folders(runs: Path) -> list[Path]:
    return sorted({file.parent for file in runs.rglob("events.out.tfevents.*")})


def test_tensorboard_event_files_hold_every_epoch_in_the_runs_folder(run: Any) -> None:
    done, runs = run
    epochs = len(epoch_lines(done.stderr))
    [folder] = _run_folders(runs)
    model_id = folder.parent.name
    assert re.fullmatch(r"[0-9a-f]{32}", model_id)
    assert f"trained {model_id} for" in done.stdout
    board = EventAccumulator(str(folder))
    board.Reload()
    for metric in ("loss", "accuracy"):
        for phase in ("train", "validation"):
            steps = [event.step for event in board.Scalars(f"{metric}/{phase}")]
            assert steps == list(range(1, epochs + 1))
    assert [event.value for event in board.Scalars("lr/train")] == [
        pytest.approx(3e-3)] * epochs
    accuracy = board.Scalars("accuracy/validation")[-1].value
    assert accuracy > 0.9


def test_the_demo_records_its_run_in_the_run_database(run: Any) -> None:
    from torchsystem.runs import Database
    from torchsystem.runs.queries import find_runs, get_model, metric_history

    done, runs = run
    epochs = len(epoch_lines(done.stderr))
    assert f"list the runs with: torchsystem runs list --database {runs / 'runs.db'}" in (
        done.stdout)
    with Database(runs / "runs.db", create=False) as database:
        [recorded] = find_runs(database)
        assert (recorded.status, recorded.epochs) == ("stopped early", epochs)
        assert recorded.reason is not None
        assert recorded.reason.startswith("validation loss did not improve on")
        settings = recorded.hyperparameters
        assert (settings["seed"], settings["epochs"], settings["batch_size"]) == (
            0, EPOCHS, {"train": 32, "validation": 32})
        assert settings["optimizer"]["class"] == "Adam"
        assert get_model(database, recorded.model).arguments == {"nn": {
            "name": "MLP",
            "arguments": {"input": 64, "hidden": 128, "classes": 10, "dropout": 0.1}}}
        history = metric_history(database, [recorded.id], names=["accuracy", "lr"])
        assert [(p.epoch, p.phase, p.name) for p in history[-3:]] == [
            (epochs, "train", "accuracy"), (epochs, "train", "lr"),
            (epochs, "validation", "accuracy")]


def test_a_database_that_cannot_be_used_stops_the_demo_before_training(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)

    done = subprocess.run(
        [sys.executable, "-m", "src.main", "--runs", str(tmp_path), "--database", str(text)],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": pythonpath(EXAMPLE)},
    )

    assert done.returncode == 2, done.stderr[-3000:]
    assert f"error: {text} is not a SQLite database (file is not a database)" in done.stderr
    assert "Traceback" not in done.stderr
    assert epoch_lines(done.stderr) == []


# --- the composition root, in-process ----------------------------------------------------


def _classifier(app: Any, example: dict[str, ModuleType]) -> Any:
    torch.manual_seed(0)
    network = example["model"].MLP(input=64, hidden=32, classes=10)
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    return app.compiler.compile(network, torch.nn.CrossEntropyLoss(), optimizer)


def test_each_bootstrap_builds_a_fresh_application(
    example: dict[str, ModuleType], tmp_path: Path,
) -> None:
    first = example["bootstrap"].bootstrap(runs=tmp_path / "a", progress=False)
    second = example["bootstrap"].bootstrap(runs=tmp_path / "b", progress=False)

    assert first.training is not second.training
    assert first.producer is not second.producer
    assert first.provider is not second.provider
    assert not set(map(id, first.consumers)) & set(map(id, second.consumers))
    assert first.training.producer is first.producer
    assert first.compiler.provider is first.provider is first.training.provider


def test_the_application_trains_on_the_device_it_is_given(
    example: dict[str, ModuleType], tmp_path: Path,
) -> None:
    with example["bootstrap"].bootstrap(
        runs=tmp_path, device=lambda: "cpu", progress=False
    ) as app:
        classifier = _classifier(app, example)
        loaders = example["data"].digits(batch_size=64)
        ran = app.training.fit(classifier, loaders, 2)

    assert (ran, classifier.epoch) == (2, 2)
    assert next(classifier.parameters()).device.type == "cpu"
    [folder] = _run_folders(tmp_path)
    board = EventAccumulator(str(folder))
    board.Reload()
    assert len(board.Tags()["scalars"]) == 5


def test_two_runs_are_two_folders_and_two_records(
    example: dict[str, ModuleType], tmp_path: Path,
) -> None:
    from torchsystem.runs import Database
    from torchsystem.runs.queries import find_runs

    for batch_size in (64, 128):
        with example["bootstrap"].bootstrap(
            runs=tmp_path / "runs", database=tmp_path / "records.db", device=lambda: "cpu",
            progress=False,
        ) as app:
            classifier = _classifier(app, example)
            app.training.fit(classifier, example["data"].digits(batch_size=batch_size), 2)

    first, second = _run_folders(tmp_path / "runs")
    assert first.parent == second.parent  # one model: the same arguments
    assert not (tmp_path / "runs" / "runs.db").exists()
    with Database(tmp_path / "records.db", create=False) as database:
        assert [(r.status, r.epochs, r.hyperparameters["batch_size"]["train"])
                for r in find_runs(database)] == [("finished", 2, 128), ("finished", 2, 64)]


def test_the_compiler_needs_the_device_from_the_application(
    example: dict[str, ModuleType],
) -> None:
    compilation = sys.modules["src.services.compilation"]
    from torchsystem.depends import Provider

    compiler = compilation.compiler(Provider())
    network = example["model"].MLP(input=64, hidden=32, classes=10)

    optimizer = torch.optim.SGD(network.parameters())
    with pytest.raises(NotImplementedError, match="the application decides the device"):
        compiler.compile(network, torch.nn.CrossEntropyLoss(), optimizer)


def test_a_diverging_training_loss_enqueues_a_stop(
    example: dict[str, ModuleType], tmp_path: Path,
) -> None:
    consumer = example["services.earlystopping"].divergence()
    model = _classifier(example["bootstrap"].bootstrap(runs=tmp_path, progress=False), example)

    consumer.consume(Trained(model, "train", 3, (Metric("loss", math.nan),)))
    consumer.consume(Validated(model, "validation", 3, (Metric("loss", math.inf),)))

    assert [str(stop) for stop in model.events.queue] == ["training loss is nan"]


# --- checkpoints and resume ------------------------------------------------------------


def test_the_last_line_is_the_sha256_of_the_final_weights(run: Any) -> None:
    done, runs = run
    last = done.stdout.splitlines()[-1]
    assert HASH.fullmatch(last), last
    assert [path.name for path in (runs / "checkpoints").iterdir()] == [_model_id(done)]


def _model_id(done: subprocess.CompletedProcess[str]) -> str:
    match = re.search(r"^trained ([0-9a-f]{32}) for", done.stdout, re.MULTILINE)
    assert match, done.stdout
    return match.group(1)


def test_a_second_run_says_it_resumed_and_has_nothing_left_to_train(run: Any) -> None:
    first, runs = run
    epochs = len(epoch_lines(first.stderr))
    model_id = _model_id(first)

    again = subprocess.run(
        [*COMMAND, "--runs", str(runs), "--checkpoints", str(runs / "checkpoints")],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300, env=ENVIRONMENT,
    )

    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed {model_id} at epoch {epochs} from " in again.stderr
    assert f"{model_id} stopped early at epoch {epochs} (validation loss did not improve" in (
        again.stdout
    )
    assert epoch_lines(again.stderr) == []
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]


def _wait_for_epochs(log: Path, count: int, process: subprocess.Popen[str]) -> None:
    while process.poll() is None:
        if len(epoch_lines(log.read_text())) >= count:
            return
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_at_random_moments_and_rerun_it_ends_with_the_uninterrupted_weights(
    run: Any, tmp_path: Path,
) -> None:
    reference, _ = run
    epochs = len(epoch_lines(reference.stderr))
    chooser = random.Random(int.from_bytes(os.urandom(4), "big"))
    arguments = [*COMMAND, "--runs", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    log = tmp_path / "stderr"
    for number in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        with log.open("w") as errors:
            process = subprocess.Popen(arguments, cwd=EXAMPLE, stdout=subprocess.DEVNULL,
                                       stderr=errors, text=True, env=ENVIRONMENT)
            _wait_for_epochs(log, chooser.randint(1, epochs // 3), process)
            time.sleep(chooser.uniform(0, 0.05))
            process.send_signal(number)
            process.wait(60)
        if number == signal.SIGTERM and process.returncode != 0:
            assert process.returncode == 143
            assert log.read_text().splitlines()[-1].startswith("training stopped by SIGTERM ")

    final = subprocess.run(arguments, cwd=EXAMPLE, capture_output=True, text=True,
                           timeout=300, env=ENVIRONMENT)

    assert final.returncode == 0, final.stderr[-3000:]
    assert "resumed " in final.stderr
    assert final.stdout.splitlines()[-1] == reference.stdout.splitlines()[-1]
