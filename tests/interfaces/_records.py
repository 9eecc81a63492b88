"""A run database filled by hand: models, runs and metric histories."""

from __future__ import annotations

import math
import os

from torchsystem.runs import Database
from torchsystem.runs.records import add_metrics, add_model, end_run, start_run


def fill(url: str, runs: int = 3, epochs: int = 4) -> list[int]:
    """``runs`` finished runs of two models (``3f2a...`` MLP, ``9c01...`` CNN), each with
    loss and accuracy per phase and epoch (run 2's last validation loss is NaN); their ids."""
    ids = []
    with Database(url) as database, database.transaction() as connection:
        add_model(connection, "3f2a9c01b7de00", "MLP", {"hidden": 16}, created=1.0)
        add_model(connection, "9c01aa77", "CNN", {"channels": 8}, created=2.0)
        for index in range(runs):
            model = "3f2a9c01b7de00" if index % 2 == 0 else "9c01aa77"
            run = start_run(connection, model, hyperparameters={"lr": 0.1 * (index + 1)},
                            started=100.0 + index, pid=os.getpid())
            rows = [{"run": run, "epoch": epoch, "phase": phase, "name": name,
                     "value": value, "step": epoch * 10}
                    for epoch in range(1, epochs + 1)
                    for phase in ("train", "validation")
                    for name, value in (("loss", 1 / epoch + index), ("accuracy", epoch / 10))]
            if index == 1:
                rows[-2]["value"] = math.nan
            add_metrics(connection, rows)
            end_run(connection, run, "finished", ended=200.0 + index)
            ids.append(run)
    return ids
