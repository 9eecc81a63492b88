"""The command line: bootstrap the system, then train until early stopping.

    python -m src.main [--epochs 100] [--seed 0] [--checkpoints runs/checkpoints]
                       [--runs runs] [--batch-size 32] [--database URL]
    tensorboard --logdir runs   # then open http://localhost:6006
    torchsystem runs list       # every run recorded in runs/runs.db

Under torchrun each process trains on its shard of the data with ``--batch-size`` samples
per step (rank 0 writes the logs, records and checkpoints):

    torchrun --nproc_per_node=2 -m src.main --epochs 20

A checkpoint is written at every epoch under ``--checkpoints`` (one folder per model id);
running the same command again resumes from the newest one. SIGTERM or Ctrl-C stops after
the current step with the newest checkpoint on disk (Ctrl-C twice: at once). The last
line is ``final weights sha256: <hex>``, over the bytes of the final ``state_dict``
tensors in key order, so two runs can be compared from the shell.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from pathlib import Path

import torch
from torch.nn import CrossEntropyLoss, Module
from torch.optim import Adam

from src.bootstrap import Application, bootstrap
from src.classifier import Classifier
from src.data import digits
from src.model import MLP
from torchsystem.distributed import distribute, is_main, leave
from torchsystem.runs import RunDatabaseError
from torchsystem.runs.database import ENVIRONMENT
from torchsystem.storage import StopRequested


def weights_sha256(model: Module) -> str:
    """SHA-256 of the bytes of every ``state_dict`` tensor, in key order."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
                      .numpy().tobytes())
    return digest.hexdigest()


def train(app: Application, epochs: int, batch_size: int, seed: int) -> Classifier:
    """Build (and resume) the classifier, then train it unless it already stopped early."""
    nn = MLP(input=64, hidden=128, classes=10)
    classifier = app.compiler.compile(nn, CrossEntropyLoss(), Adam(nn.parameters(), lr=3e-3))
    loaders = distribute(digits(batch_size, seed=seed))  # this process's shard (torchrun)
    if app.checkpoints is not None:
        app.checkpoints.restore_loaders(classifier, loaders)
        resumed = app.checkpoints.resumed.get(classifier.id)
        if resumed is not None and resumed.stopped is not None:
            print(f"{classifier.id} stopped early at epoch {resumed.epoch} ({resumed.stopped}); "
                  "nothing left to train")
            return classifier
    app.training.fit(classifier, loaders, epochs)
    return classifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="most epochs to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", default="runs/checkpoints",
                        help="checkpoint folder; 'none' to train without checkpoints")
    parser.add_argument("--runs", default="runs", help="TensorBoard log directory")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="samples per step (per process under torchrun)")
    parser.add_argument("--database", metavar="URL", default=os.environ.get(ENVIRONMENT),
                        help=f"run database: SQLAlchemy URL or SQLite file (default: "
                             f"${ENVIRONMENT}, else RUNS/runs.db)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if is_main() else logging.WARNING, format="%(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a model this small only loses from intra-op threads

    checkpoints = None if args.checkpoints == "none" else args.checkpoints
    try:
        app = bootstrap(runs=args.runs, database=args.database, checkpoints=checkpoints)
    except RunDatabaseError as error:  # before any training: fix the database and rerun
        parser.error(str(error))
    try:
        with app.stop, app:
            classifier = train(app, args.epochs, args.batch_size, args.seed)
    except StopRequested as stop:
        print(stop, file=sys.stderr)
        return stop.status
    finally:
        leave()  # the process group, when torchrun started this process
    if not is_main():
        return 0
    print(f"trained {classifier.id} for {classifier.epoch} epochs; "
          f"see the curves with: tensorboard --logdir {args.runs}")
    database = args.database or Path(args.runs) / "runs.db"
    print(f"list the runs with: torchsystem runs list --database "
          f"{'URL' if '://' in str(database) else database}")
    print(f"final weights sha256: {weights_sha256(classifier)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
