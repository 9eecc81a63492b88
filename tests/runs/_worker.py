"""A process that records into a run database, for the tests that need real processes.

    python _worker.py URL kill      record one epoch, print the run id, wait to be killed
    python _worker.py URL write N   say ready, wait for a start file, record N epochs, flushing each
    python _worker.py URL exit      record one epoch and exit without closing the recorder
    python _worker.py URL started   start a run (batches written once an hour), wait to be killed

The model is a plain object with an id (building an optimizer would import
``torch._dynamo``: seconds of start-up for nothing here).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from torchsystem.runs import RunRecorder
from torchsystem.training import Metric, Started, Trained, Validated


class Model:
    id = "0123456789abcdef"


class Loader:
    batch_size = 16

    def __len__(self) -> int:
        return 4


def main(url: str, mode: str, count: int = 0) -> None:
    model, loader = Model(), Loader()
    if mode == "started":
        hourly = RunRecorder(url, interval=3600.0)
        hourly.consume(Started(model, 1, 10, (("train", loader),), {"epochs": 10},
                               model_id=Model.id))
        hourly.consume(Trained(model, "train", 1, (Metric("loss", 0.5),), loader, Model.id))
        print("started", flush=True)
        time.sleep(60)
        return
    recorder = RunRecorder(url, interval=0.0)
    if mode == "write":
        start = Path(sys.argv[4])
        print("ready", flush=True)
        while not start.exists():  # both writers begin together
            time.sleep(0.005)
        for epoch in range(1, count + 1):
            loss = Metric("loss", 1.0 / epoch)
            recorder.consume(Trained(model, "train", epoch, (loss, Metric("accuracy", 0.5)),
                                     loader))
            recorder.consume(Validated(model, "validation", epoch, (loss, loss), None))
            recorder.flush()  # one transaction per epoch: the two writers interleave
        recorder.close()
        return
    recorder.consume(Trained(model, "train", 1, (Metric("loss", 0.5),), loader))
    print(recorder.run_id(model), flush=True)
    if mode == "kill":
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
