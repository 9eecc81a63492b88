"""``GracefulStop``: a request from another thread, SIGTERM, Ctrl-C and Ctrl-C twice."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.storage import _worker
from tests.storage._models import Run, digest, loaders, train
from torchsystem.services import Consumer
from torchsystem.storage import GracefulStop, Interrupted, StopRequested
from torchsystem.training import Advanced, Validated

EPOCHS = 40


def _stopping(run: Run) -> tuple[GracefulStop, list[Interrupted]]:
    stop = GracefulStop(run.training.producer)
    seen: list[Interrupted] = []
    recorder = Consumer()
    recorder.register(Interrupted, seen.append)
    run.training.producer.register(stop, recorder)
    return stop, seen


def test_a_stop_requested_from_another_thread_ends_training_after_the_step(
    tmp_path: Path,
) -> None:
    whole = train(tmp_path / "whole", EPOCHS)
    run = Run(tmp_path / "stopped")
    stop, seen = _stopping(run)
    asker = Consumer()

    @asker.handler
    def ask_at_epoch_two(event: Advanced) -> None:
        if event.epoch == 2:
            thread = threading.Thread(target=stop.request_stop, args=("DELETE /jobs/3",))
            thread.start()
            thread.join()

    run.training.producer.register(asker)
    torch.manual_seed(0)  # as train() does
    model = run.compiler.compile()
    path = tmp_path / "stopped" / model.id / "epoch-00000002.pt"

    with pytest.raises(StopRequested, match=re.escape(
        f"training stopped by DELETE /jobs/3 during epoch 3 (after train step 1); "
        f"checkpoint of epoch 2: {path}; run it again to resume"
    )) as raised:
        run.training.fit(model, loaders(), EPOCHS)
    run.checkpoints.close()

    assert raised.value.status == 1
    assert [(event.epoch, event.phase, event.step, event.reason) for event in seen] == [
        (2, "train", 1, "DELETE /jobs/3")
    ]
    assert stop.requested is None
    resumed = train(tmp_path / "stopped", EPOCHS)
    assert digest(resumed) == digest(whole)


def test_a_stop_at_the_epoch_boundary_saves_that_epoch_even_off_schedule(tmp_path: Path) -> None:
    run = Run(tmp_path, every=5)
    stop, seen = _stopping(run)
    asker = Consumer()

    @asker.handler
    def ask_during_validation(event: Validated) -> None:
        if event.epoch == 3:
            stop.request_stop("a test")

    run.training.producer.register(asker)
    model = run.compiler.compile()

    with pytest.raises(StopRequested, match=r"training stopped by a test at the end of epoch "
                       r"3; checkpoint of epoch 3: .*epoch-00000003\.pt; run it again"):
        run.training.fit(model, loaders(), EPOCHS)
    run.checkpoints.close()

    assert [(event.epoch, event.phase, event.step) for event in seen] == [(3, None, None)]
    assert Run(tmp_path).compiler.compile().epoch == 3


def test_a_stop_before_any_checkpoint_says_so(tmp_path: Path) -> None:
    run = Run(tmp_path)
    stop, _ = _stopping(run)
    stop.request_stop("a test")

    with pytest.raises(StopRequested, match=r"during epoch 1 \(after train step 1\); no "
                       r"checkpoint was written yet \(the first is written at the end of "
                       r"epoch 1\)"):
        run.training.fit(run.compiler.compile(), loaders(), EPOCHS)
    run.checkpoints.close()


def test_without_a_producer_the_stop_is_raised_without_an_event() -> None:
    stop = GracefulStop()
    stop.request_stop("a test")
    model: Any = object()

    with pytest.raises(StopRequested, match="training stopped by a test at the end of epoch "
                       "4; nothing was saved; run it again to resume"):
        stop.consume(Advanced(model, 4, {}))


def test_the_first_request_wins_until_it_is_used_up() -> None:
    stop = GracefulStop()

    stop.request_stop("first")
    stop.request_stop("second")

    assert stop.requested == "first"


def test_outside_the_main_thread_no_signal_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    entered: list[Any] = []

    def enter() -> None:
        with GracefulStop() as stop:
            entered.append(signal.getsignal(signal.SIGTERM))
            stop.request_stop("still possible")
            entered.append(stop.requested)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()

    assert entered == [before, "still possible"]


def test_the_signal_handlers_are_put_back_after_the_block() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    with GracefulStop() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._signalled

    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# --- real processes and real signals -----------------------------------------------------


@pytest.fixture(scope="module")
def forking() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.storage._forked"])
    return context


def _start(
    context: multiprocessing.context.BaseContext, folder: Path, *options: str,
) -> multiprocessing.process.BaseProcess:
    argv = ["--directory", str(folder / "checkpoints"), "--markers", str(folder / "markers"),
            "--result", str(folder / "result"), *options]
    process = context.Process(target=_worker.child, args=(argv, str(folder / "log")))
    process.start()
    return process


def _wait_for(path: Path, text: str, process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.is_alive():
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.01)
    raise AssertionError(f"{text!r} never appeared in {path}")


pytestmark_signals = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytestmark_signals
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_after_the_step_with_one_line_and_the_run_resumes(
    forking: multiprocessing.context.BaseContext, tmp_path: Path, number: signal.Signals,
) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    reference = _start(forking, whole)
    reference.join(120)
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    process = _start(forking, stopped, "--epoch-pause", "0.005")
    _wait_for(stopped / "markers", "wrote 2", process)

    os.kill(process.pid, number)
    process.join(60)

    assert process.exitcode == 128 + number
    lines = (stopped / "log").read_text().splitlines()
    assert lines[-2] == f"{number.name}: stopping after the current step (again to exit at once)"
    assert re.fullmatch(
        rf"training stopped by {number.name} (during epoch \d+ \(after (train|validation) "
        r"step \d+\)|at the end of epoch \d+); checkpoint of epoch \d+: \S+epoch-\d{8}\.pt; "
        "run it again to resume", lines[-1],
    ), lines[-1]
    again = _start(forking, stopped)
    again.join(120)
    assert again.exitcode == 0
    assert (stopped / "result").read_text() == (whole / "result").read_text()


@pytestmark_signals
def test_a_second_ctrl_c_exits_at_once(
    forking: multiprocessing.context.BaseContext, tmp_path: Path,
) -> None:
    process = _start(forking, tmp_path, "--slow-write", "3")
    _wait_for(tmp_path / "markers", "writing 1", process)  # a 3-second write has begun
    os.kill(process.pid, signal.SIGINT)
    _wait_for(tmp_path / "log", "SIGINT: stopping", process)

    os.kill(process.pid, signal.SIGINT)
    process.join(60)

    assert process.exitcode == 130
    log = (tmp_path / "log").read_text()
    assert log.splitlines()[-1] == "SIGINT again: exiting at once"
    assert "training stopped by" not in log
