"""``ProgressBar``: a tqdm bar per phase on a terminal, quiet elsewhere."""

from __future__ import annotations

import io

import pytest
import torch

from tests.training._models import (
    Classifier,
    LegacyMetric,
    LegacyTrained,
    host_reads,
    loaders,
    recorder,
)
from torchsystem import Aggregate
from torchsystem.consumers import ProgressBar
from torchsystem.training import Accuracy, Stepped, Trained, Training, Validated


class Terminal(io.StringIO):
    """A file that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Model(Aggregate):
    id = "model"

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0


class CountedLoss:
    """A loss that counts how often it is read on the host."""

    def __init__(self) -> None:
        self.reads = 0

    def __float__(self) -> float:
        self.reads += 1
        return 0.5


def _fit(bar: ProgressBar, epochs: int = 1) -> list[object]:
    training = Training(metrics={"accuracy": Accuracy()})
    training.producer.register(bar)
    seen = recorder(training.producer)
    training.fit(Classifier(), loaders(), epochs=epochs)
    return seen


def test_quiet_when_the_file_is_not_a_terminal() -> None:
    bar = ProgressBar(file=io.StringIO())

    assert not bar.enabled


def test_a_quiet_bar_registers_no_per_step_handler() -> None:
    bar = ProgressBar(file=io.StringIO())

    assert bar.routes(Stepped) == ()


def test_a_quiet_bar_writes_nothing() -> None:
    file = io.StringIO()

    _fit(ProgressBar(file=file))

    assert file.getvalue() == ""


def test_enable_false_is_quiet_on_a_terminal() -> None:
    file = Terminal()
    bar = ProgressBar(file=file, enable=False)

    _fit(bar)

    assert bar.routes(Stepped) == ()
    assert file.getvalue() == ""


def test_enable_true_shows_the_bars_on_any_file() -> None:
    file = io.StringIO()

    _fit(ProgressBar(file=file, enable=True))

    assert "epoch 1 train" in file.getvalue()


def test_a_terminal_shows_each_phases_bar() -> None:
    file = Terminal()

    _fit(ProgressBar(file=file), epochs=2)

    output = file.getvalue()
    for label in ("epoch 1 train", "epoch 1 validation", "epoch 2 train", "epoch 2 validation"):
        assert label in output


def test_by_default_a_finished_phase_clears_its_bar() -> None:
    # The epoch's record is EpochSummary's line; bars only show work in progress.
    file = Terminal()

    _fit(ProgressBar(file=file))

    last_line = file.getvalue().rsplit("\r", 2)[-2]
    assert last_line.strip() == ""


def test_leave_keeps_each_phases_final_metrics_on_screen() -> None:
    file = Terminal()

    seen = _fit(ProgressBar(file=file, leave=True))

    lines = file.getvalue().splitlines()
    for event in seen:
        if isinstance(event, (Trained, Validated)):
            last = [line for line in lines if f"epoch 1 {event.phase}:" in line][-1]
            for metric in event.metrics:
                assert f"{metric.name}={metric.value:.4f}" in last


def test_the_loss_is_read_at_most_once_per_interval() -> None:
    bar, model, loss = ProgressBar(file=Terminal(), interval=3600), Model(), CountedLoss()

    for step in range(1, 51):
        bar.consume(Stepped(model, "train", 1, step, 50, loss))

    assert loss.reads <= 1


def test_a_phase_of_unknown_length_still_counts_its_steps() -> None:
    file = Terminal()
    bar, model = ProgressBar(file=file, leave=True), Model()
    for step in range(1, 4):
        bar.consume(Stepped(model, "train", 1, step, None, torch.tensor(0.5)))

    bar.close()

    assert "3it" in file.getvalue()


def test_close_closes_the_open_bars() -> None:
    file = Terminal()
    bar, model = ProgressBar(file=file, leave=True), Model()
    bar.consume(Stepped(model, "train", 1, 1, 4, torch.tensor(0.5)))

    bar.close()

    assert file.getvalue().endswith("\n")


def test_a_legacy_event_finishes_the_bar_of_the_models_phase_and_epoch() -> None:
    # torchsystem 1.3's Trained(model, loader, metrics): phase and epoch come from the model
    file = Terminal()
    bar, model = ProgressBar(file=file, leave=True), Model()
    model.phase, model.epoch = "train", 2
    bar.consume(Stepped(model, "train", 2, 1, 4, torch.tensor(0.5)))

    bar.consume(LegacyTrained(model, None, [LegacyMetric("loss", 0.125)]))
    drawn = file.getvalue()
    bar.close()

    assert "epoch 2 train" in drawn
    assert "loss=0.1250" in drawn
    assert file.getvalue() == drawn  # the bar was closed by the event, nothing left open


def test_a_legacy_event_of_another_epoch_leaves_the_bar_open() -> None:
    file = Terminal()
    bar, model = ProgressBar(file=file, leave=True), Model()
    model.phase, model.epoch = "train", 1
    bar.consume(Stepped(model, "train", 2, 1, 4, torch.tensor(0.5)))

    bar.consume(LegacyTrained(model, None, [LegacyMetric("loss", 0.125)]))

    assert "loss=0.1250" not in file.getvalue()


def test_a_disabled_bar_adds_no_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def reads(batches: int) -> int:
        return host_reads(monkeypatch, batches, ProgressBar(file=Terminal(), enable=False))

    few, many = reads(2), reads(24)

    assert few == many
    assert 0 < many <= 2
