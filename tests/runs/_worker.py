"""A process that records into a run database, for the tests that need real processes.

    python _worker.py URL kill      record one epoch, print the run id, wait to be killed
    python _worker.py URL write N   wait for URL's start file, record N epochs, close
    python _worker.py URL exit      record one epoch and exit without closing the recorder
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.runs._models import Classifier, loaders, trained, validated  # noqa: E402
from torchsystem.runs import RunRecorder  # noqa: E402


def main(url: str, mode: str, count: int = 0) -> None:
    model = Classifier()
    recorder = RunRecorder(url, interval=0.0)
    if mode == "write":
        start = Path(sys.argv[4])
        while not start.exists():  # both writers begin together
            time.sleep(0.005)
        loader = loaders()[0][1]
        for epoch in range(1, count + 1):
            recorder.consume(trained(model, epoch, 1.0 / epoch, loader))
            recorder.consume(validated(model, epoch, 1.0 / epoch, 0.5))
        recorder.close()
        return
    recorder.consume(trained(model, 1, 0.5))
    print(recorder.run_id(model), flush=True)
    if mode == "kill":
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
