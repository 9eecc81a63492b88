"""The command line: bootstrap the system, then train until early stopping.

    python -m src.main [--epochs 100] [--runs runs] [--batch-size 32] [--seed 0]
                       [--database URL]
    tensorboard --logdir runs   # then open http://localhost:6006
    torchsystem runs list       # every run recorded in runs/runs.db
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
from torch.nn import CrossEntropyLoss
from torch.optim import Adam

from src.bootstrap import bootstrap
from src.data import digits
from src.model import MLP
from torchsystem.runs import RunDatabaseError
from torchsystem.runs.database import ENVIRONMENT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="most epochs to train")
    parser.add_argument("--runs", default="runs", help="TensorBoard log directory")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", metavar="URL", default=os.environ.get(ENVIRONMENT),
                        help=f"run database: SQLAlchemy URL or SQLite file (default: "
                             f"${ENVIRONMENT}, else RUNS/runs.db)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a model this small only loses from intra-op threads

    try:
        app = bootstrap(runs=args.runs, database=args.database)
    except RunDatabaseError as error:  # before any training: fix the database and rerun
        parser.error(str(error))
    with app:
        nn = MLP(input=64, hidden=128, classes=10)
        classifier = app.compiler.compile(nn, CrossEntropyLoss(), Adam(nn.parameters(), lr=3e-3))
        app.training.fit(classifier, digits(args.batch_size, seed=args.seed), args.epochs)
    print(f"trained {classifier.id} for {classifier.epoch} epochs; "
          f"see the curves with: tensorboard --logdir {args.runs}")
    database = args.database or Path(args.runs) / "runs.db"
    print(f"list the runs with: torchsystem runs list --database "
          f"{'URL' if '://' in str(database) else database}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
