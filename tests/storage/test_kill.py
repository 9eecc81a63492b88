"""SIGKILL at random moments, writes included: every restart resumes from the newest
complete checkpoint, no damaged file is ever loaded, and the final weights equal those of
an uninterrupted run.

The training processes are forked from a server that imported torch once (the
``forkserver`` start method), so each restart costs milliseconds, not an import of
PyTorch; each is a real process killed with a real SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from tests.storage import _worker
from torchsystem.storage import CheckpointStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork"),
]

KILLS = 22
SLOW_WRITE = 0.1  # seconds per checkpoint write: kills land inside writes


@pytest.fixture(scope="module")
def forking() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.storage._forked"])
    return context


def _start(context: multiprocessing.context.BaseContext, folder: Path, log: Path,
           *options: str) -> multiprocessing.process.BaseProcess:
    argv = ["--directory", str(folder / "checkpoints"), "--markers", str(folder / "markers"),
            "--result", str(folder / "result"), *options]
    process = context.Process(target=_worker.child, args=(argv, str(log)))
    process.start()
    return process


def _markers(folder: Path) -> list[str]:
    path = folder / "markers"
    return path.read_text().splitlines() if path.exists() else []


def _last(lines: list[str], word: str) -> int | None:
    found = [int(line.split()[1]) for line in lines if line.startswith(f"{word} ")]
    return found[-1] if found else None


@pytest.mark.timeout(240)
def test_sigkill_at_random_moments_never_loses_or_corrupts_a_checkpoint(
    forking: multiprocessing.context.BaseContext, tmp_path: Path,
) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    reference = _start(forking, whole, whole / "log", "--slow-write", str(SLOW_WRITE))
    reference.join(120)
    assert reference.exitcode == 0, (whole / "log").read_text()[-3000:]
    expected = (whole / "result").read_text()

    chooser = random.Random(int.from_bytes(os.urandom(4), "big"))
    kills, during_writes, jobs = 0, 0, 0
    while kills < KILLS:
        jobs += 1
        folder = tmp_path / f"job{jobs}"
        folder.mkdir()
        log = folder / "log"
        while True:
            before = _markers(folder)
            process = _start(forking, folder, log, "--slow-write", str(SLOW_WRITE))
            if kills >= KILLS:
                process.join(120)
                break
            process.join(chooser.uniform(0.0, 0.35))
            if not process.is_alive():
                break
            lines = _markers(folder)
            process.kill()  # SIGKILL; nothing when it ended since is_alive()
            process.join(30)
            if process.exitcode == 0:  # it finished just before the kill
                break
            assert process.exitcode == -signal.SIGKILL
            kills += 1
            during_writes += _writing(lines[len(before):])
        assert process.exitcode == 0, log.read_text()[-3000:]
        assert (folder / "result").read_text() == expected, f"job {jobs}"
        text = log.read_text()
        assert "truncated or damaged" not in text
        _check_folder(folder)

    assert during_writes >= 3, f"only {during_writes} of {kills} kills landed in a write"


def _writing(lines: list[str]) -> bool:
    """Whether the process was killed between a ``writing N`` and its ``wrote N``."""
    started = [line for line in lines if line.startswith(("writing ", "wrote "))]
    return bool(started) and started[-1].startswith("writing ")


def _check_folder(folder: Path) -> None:
    lines = _markers(folder)
    starts = [index for index, line in enumerate(lines) if line == "fresh" or
              line.startswith("resumed ")]
    for start in starts[1:]:
        durable = _last(lines[:start], "wrote") or 0
        attempted = _last(lines[:start], "writing") or 0
        line = lines[start]
        resumed = 0 if line == "fresh" else int(line.split()[1])
        assert durable <= resumed <= max(attempted, durable), (line, durable, attempted)
    store = CheckpointStore(folder / "checkpoints")
    (model_folder,) = (folder / "checkpoints").iterdir()
    entries = store.entries(model_folder.name)
    assert entries
    for entry in entries:
        store.read(entry.path, model_folder.name)
    assert not [name for name in os.listdir(model_folder) if name.endswith(".tmp")]
