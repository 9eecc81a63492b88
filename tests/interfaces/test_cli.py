"""The command line of an application: options from the fields, help from docstrings."""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import dataclass
from typing import Annotated

import pytest

from tests.interfaces._apps import Toy, build, loaders
from torchsystem.depends import Depends
from torchsystem.interfaces import Application, JobContext, current_job
from torchsystem.interfaces.cli import parser, render
from torchsystem.training import Training


def test_each_command_is_a_subcommand_with_its_fields_as_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser(build(), "toy").parse_args(["fit", "--help"])

    shown = capsys.readouterr().out
    assert "usage: toy fit [-h] [--epochs INT] [--steps INT] [--hidden INT]" in shown
    assert "Fit the toy classifier." in shown
    assert "--epochs INT  epochs to train (default: 2)" in shown


def test_types_bools_choices_lists_and_json_are_parsed() -> None:
    args = parser(build()).parse_args([
        "echo", "hi", "--times", "2", "--loud", "--mode", "upper", "--tags", "a", "b",
        "--options", '{"k": 1}'])

    assert (args.text, args.times, args.loud, args.mode, args.tags, args.options) == (
        "hi", 2, True, "upper", ["a", "b"], {"k": 1})


@pytest.mark.parametrize(("argv", "error"), [
    (["fit", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["echo", "hi", "--mode", "shout"], "argument --mode: invalid choice: 'shout'"),
    (["echo"], "the following arguments are required: text"),
    (["fitt"], "invalid choice: 'fitt'"),
])
def test_usage_errors_exit_2_naming_the_option(argv: list[str], error: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build().main(argv)

    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


def test_the_handler_runs_and_its_result_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = build().main(["echo", "hi", "--times", "2", "--tags", "x"])

    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "text     hi hi", 'tags     ["x"]', "options  {}"]


@pytest.mark.parametrize("argv", [["--json", "echo", "hi"], ["echo", "hi", "--json"]])
def test_json_for_scripts(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert build().main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"text": "hi", "tags": [], "options": {}}


def test_a_command_fails_with_its_own_exception() -> None:
    with pytest.raises(ValueError, match=r"^diverged$"):
        build().main(["fit", "--fail", "diverged", "--epochs", "1"])


def test_render_lists_of_records_and_scalars() -> None:
    assert render([{"a": 1, "b": 2.5}, {"a": 3}]).splitlines() == [
        "a       b", "1  2.5000", "3       -"]
    assert render(7) == "7"
    assert render(None) == ""


@dataclass
class Signalled:
    """Send signals to this process, then train."""

    name: str = "SIGTERM"
    times: int = 1
    attach: bool = True


def signalling() -> Application:
    app = Application("signals")

    @app.command(name="train")
    def train(command: Signalled, job: Annotated[JobContext, Depends(current_job)]) -> int:
        training = Training()
        if command.attach:
            job.attach(training.producer)
        for _ in range(command.times):
            os.kill(os.getpid(), signal.Signals[command.name])
        model = Toy()
        training.fit(model, loaders(4), 1_000)
        return int(model.epoch)

    return app


def test_a_signal_stops_the_foreground_command_after_the_step(
        capfd: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)

    status = signalling().main(["train"])

    assert status == 143
    err = capfd.readouterr().err
    assert "SIGTERM: stopping after the current step (again to exit at once)" in err
    assert re.search(r"train: stop requested for job [0-9a-f]{12} \(after step 1 of train, "
                     r"epoch 1\); no checkpoint \(none are written\)\n", err), err
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_ctrl_c_stops_the_foreground_command_at_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = signalling().main(["train", "--name", "SIGINT", "--times", "2", "--no-attach"])

    assert status == 130
    assert "train: SIGINT again: stopped at once\n" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
