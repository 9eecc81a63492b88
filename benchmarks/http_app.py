"""The application ``http_load.py`` serves: the digits example's training loop as a
command that reports its own speed.

``loop`` trains the example's MLP through its composition root (``bootstrap()``: the
ready service with loss and accuracy, TensorBoard, the event stream of the job), records
the run in the server's run database, and returns the seconds per epoch of ``fit``
(set-up excluded). Early stopping is off, so every job trains ``epochs`` epochs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "digits")
sys.path.insert(0, EXAMPLE)

import torch  # noqa: E402
from src.bootstrap import Application as System  # noqa: E402
from src.bootstrap import bootstrap  # noqa: E402
from src.data import digits  # noqa: E402
from src.model import MLP  # noqa: E402
from torch.nn import CrossEntropyLoss  # noqa: E402
from torch.optim import SGD  # noqa: E402

from torchsystem.depends import Depends  # noqa: E402
from torchsystem.interfaces import Application, JobContext, current_job, run_recorder  # noqa: E402
from torchsystem.runs import RunRecorder  # noqa: E402

app = Application("digits-bench", devices=["cpu"])


@dataclass
class Loop:
    """Train the digits MLP for ``epochs`` epochs and report the seconds per epoch.

    Attributes:
        epochs: epochs to train (no early stop)
        batch_size: training batch size
    """

    epochs: int = 20
    batch_size: int = 32


def system(job: Annotated[JobContext, Depends(current_job)]) -> Iterator[System]:
    runs = tempfile.mkdtemp(prefix="torchsystem-http-bench-tb-")
    try:
        with bootstrap(runs=runs, device=lambda: job.device, progress=False,
                       patience=10**9) as wired:
            job.attach(wired.producer)
            yield wired
    finally:
        shutil.rmtree(runs, ignore_errors=True)  # the job's TensorBoard files


@app.command
def loop(command: Loop, system: Annotated[System, Depends(system)],
         recorder: Annotated[RunRecorder, Depends(run_recorder)]) -> dict[str, Any]:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    system.producer.register(recorder)
    nn = MLP(input=64, hidden=128, classes=10)
    model = system.compiler.compile(nn, CrossEntropyLoss(),
                                    SGD(nn.parameters(), lr=0.05, momentum=0.9))
    loaders = digits(command.batch_size)
    start = time.perf_counter()
    system.training.fit(model, loaders, command.epochs)
    seconds = time.perf_counter() - start
    return {"seconds_per_epoch": seconds / command.epochs, "epochs": model.epoch}
