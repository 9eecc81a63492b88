"""The example system under ``torchrun --standalone --nproc_per_node=2`` (gloo on CPU), as
the README runs it: rank 0 writes the only run record, checkpoints and final line."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests._environment import pythonpath

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.mark.timeout(120)
def test_the_example_trains_under_torchrun_with_two_processes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "src.main", "--epochs", "2",
         "--runs", str(runs), "--checkpoints", str(runs / "checkpoints")],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=100,
        env={**os.environ, "PYTHONPATH": pythonpath(EXAMPLE)},
    )

    assert done.returncode == 0, done.stderr[-4000:]
    assert len(re.findall(r"final weights sha256: [0-9a-f]{64}", done.stdout)) == 1
    assert re.search(r"trained [0-9a-f]+ for 2 epochs", done.stdout)
    with sqlite3.connect(runs / "runs.db") as database:
        assert database.execute("select count(*) from runs").fetchone() == (1,)
    assert len(list((runs / "checkpoints").glob("*/epoch-*.pt"))) == 2
