"""Start N ranks as torchrun would: one process each, with its environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests._environment import pythonpath

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Rank:
    returncode: int | None
    output: str


def launch(arguments: list[str], world: int = 2, timeout: float = 45.0) -> list[Rank]:
    """Run ``python -m tests.distributed._worker *arguments`` as ``world`` ranks; kill
    every rank still running after ``timeout`` seconds (its returncode is then ``None``)."""
    port = free_port()
    processes = []
    for rank in range(world):
        environment = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath(ROOT)}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.distributed._worker", *arguments], cwd=ROOT,
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    deadline = time.monotonic() + timeout
    ranks = []
    for process in processes:
        try:
            output, _ = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
            ranks.append(Rank(process.returncode, output))
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            ranks.append(Rank(None, output))
    return ranks
