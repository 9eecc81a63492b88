"""The example system, end to end: train, stop early, read the TensorBoard files back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
EPOCHS = 60


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    runs = tmp_path_factory.mktemp("runs")
    done = subprocess.run(
        [sys.executable, "-m", "src.main", "--epochs", str(EPOCHS), "--runs", str(runs)],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLE)},
    )
    return done, runs


def epoch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("epoch ")]


def test_the_demo_succeeds(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = run
    assert done.returncode == 0, done.stderr[-3000:]


def test_one_line_per_epoch_with_train_and_validation_loss_and_accuracy(run) -> None:
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


def test_training_stops_early_through_a_domain_event(run) -> None:
    done, _ = run
    lines = epoch_lines(done.stderr)
    assert len(lines) < EPOCHS
    assert f"stopped early after epoch {len(lines)}:" in done.stderr
    assert f"for {len(lines)} epochs" in done.stdout


def test_tensorboard_event_files_hold_every_epoch(run) -> None:
    done, runs = run
    epochs = len(epoch_lines(done.stderr))
    files = list(runs.glob("events.out.tfevents.*"))
    assert files, list(runs.iterdir())
    board = EventAccumulator(str(runs))
    board.Reload()
    tags = board.Tags()["scalars"]
    model_ids = {tag.split("/")[0] for tag in tags}
    assert len(model_ids) == 1
    (model_id,) = model_ids
    assert re.fullmatch(r"[0-9a-f]{32}", model_id)
    for metric in ("loss", "accuracy"):
        for phase in ("train", "validation"):
            steps = [event.step for event in board.Scalars(f"{model_id}/{metric}/{phase}")]
            assert steps == list(range(1, epochs + 1))
    accuracy = board.Scalars(f"{model_id}/accuracy/validation")[-1].value
    assert accuracy > 0.9
