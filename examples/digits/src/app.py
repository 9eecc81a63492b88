"""The application: the digits system's commands, run from the command line or over HTTP.

    python -m src train --epochs 5 --lr 3e-3      # in the foreground
    python -m src serve                           # http://127.0.0.1:8000
    torchsystem serve src.app:app                 # the same server

Each command is a dataclass handled by one function; the handler gets the wired system
from the composition root (``bootstrap()``) through a dependency, so a test overrides
``system`` (or anything else) with ``app.override``. ``train`` checkpoints every epoch in
``runs/checkpoints`` and resumes from there: a job stopped with ``DELETE /jobs/{id}`` (or
Ctrl-C in the foreground) continues where it stopped when the same command is run again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch.nn import CrossEntropyLoss
from torch.optim import Adam

from src.bootstrap import Application as System
from src.bootstrap import bootstrap
from src.data import digits
from src.model import MLP
from torchsystem.depends import Depends
from torchsystem.interfaces import Application, JobContext, current_job, run_recorder
from torchsystem.runs import RunRecorder

__all__ = ["CHECKPOINTS", "RUNS", "Train", "app", "system", "train"]

RUNS = "runs"  # TensorBoard files; fixed folders: nothing a request sends becomes a path
CHECKPOINTS = "runs/checkpoints"

app = Application("digits", description="Train an MLP on scikit-learn's digits.")


@dataclass(frozen=True)
class Train:
    """Train the MLP on the digits until the validation loss stops improving.

    Attributes:
        epochs: most epochs to train
        lr: Adam's learning rate
        batch_size: training batch size
        hidden: hidden units of the MLP
        seed: seed of the initial weights and of the data split and order
    """

    epochs: int = 100
    lr: float = 3e-3
    batch_size: int = 32
    hidden: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.hidden < 1 or not self.lr > 0:
            raise ValueError(f"epochs >= 0, batch_size >= 1, hidden >= 1 and lr > 0, got "
                             f"{self.epochs}, {self.batch_size}, {self.hidden} and {self.lr}")


def system(
    job: Annotated[JobContext, Depends(current_job)],
    recorder: Annotated[RunRecorder, Depends(run_recorder)],
) -> Iterator[System]:
    """The wired system for one job: on the job's device, its events streamed to the
    job's clients, its runs recorded in the job's database, checkpointed every epoch in
    ``CHECKPOINTS`` (made durable when the job is stopped), stopped on request; closed
    when the job ends. TensorBoard files go to ``RUNS``."""
    with bootstrap(runs=RUNS, recorder=recorder, device=lambda: job.device,
                   progress=None if job.foreground else False,
                   checkpoints=CHECKPOINTS) as wired:
        job.attach(wired.producer)
        yield wired


@app.command
def train(
    command: Train,
    system: Annotated[System, Depends(system)],
    recorder: Annotated[RunRecorder, Depends(run_recorder)],
) -> dict[str, Any]:
    """Train one model, resuming its newest checkpoint; its id, the epoch it resumed
    from (0: from scratch), the epochs trained and its run in the run database."""
    torch.manual_seed(command.seed)
    torch.set_num_threads(1)  # a model this small only loses from intra-op threads
    nn = MLP(input=64, hidden=command.hidden, classes=10)
    classifier = system.compiler.compile(nn, CrossEntropyLoss(), Adam(nn.parameters(),
                                                                      lr=command.lr))
    loaders = digits(command.batch_size, seed=command.seed)
    resumed = None
    if system.checkpoints is not None:
        system.checkpoints.restore_loaders(classifier, loaders)
        resumed = system.checkpoints.resumed.get(classifier.id)
    if resumed is None or resumed.stopped is None:  # else it already stopped early
        system.training.fit(classifier, loaders, command.epochs)
    return {"model": classifier.id, "resumed": 0 if resumed is None else resumed.epoch,
            "epochs": classifier.epoch, "run": recorder.run_id(classifier)}
