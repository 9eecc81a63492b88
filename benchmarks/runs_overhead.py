#!/usr/bin/env python3
"""What recording runs costs the training loop: the digits job with and without ``RunRecorder``.

Job: scikit-learn's bundled digits (1797 x 64, 10 classes), MLP 64-128-10, cross-entropy,
SGD(lr=0.05, momentum=0.9), one thread, fixed seeds, a shuffling DataLoader, batch 32
and 256 (the job of ``loop_overhead.py``). Variants:

- ``raw``: the hand-written loop (the reference);
- ``full``: the ready ``Training`` service with loss + accuracy, a progress bar,
  TensorBoard and early stopping (``loop_overhead.py``'s ``torchsystem_full``);
- ``full+runs``: the same with a ``RunRecorder`` writing to a SQLite file (default
  batching: one transaction a second);
- ``full+runs/0``: the same with ``interval=0`` (a transaction per event: the worst case).

Whole runs: seconds per epoch without set-up, (best long run - best short run) / (epochs
difference), the variants interleaved run by run. Parts: the framework's own cost per
epoch around a model that does nothing (``full`` and ``full+runs``, training thread
only), best of many short interleaved timings, added to the raw loop's compute and
DataLoader time: ``(compute + DataLoader + part) / (compute + DataLoader)``, the check of
the target (<= 1.10, as ``loop_overhead.py`` checks its own). Exit status 1 when missed.

    python benchmarks/runs_overhead.py            # what the README reports
    python benchmarks/runs_overhead.py --quick    # fewer, shorter repetitions
"""

from __future__ import annotations

import argparse
import atexit
import gc
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WORK = tempfile.mkdtemp(prefix="torchsystem-runs-bench-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
TARGET = 1.10


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    return (torch.tensor(data.data / 16.0, dtype=torch.float32),
            torch.tensor(data.target, dtype=torch.long))


def fresh(data: tuple[torch.Tensor, torch.Tensor], batch: int) -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    loader = DataLoader(TensorDataset(*data), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    return model, loader


def optimizer_of(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def run_raw(model: nn.Module, loader: Any, epochs: int) -> None:
    optimizer, loss_fn = optimizer_of(model), nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()


def aggregate(model: nn.Module) -> Any:
    from torchsystem import Aggregate

    class Classifier(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch, self.nn, self.criterion = 0, model, nn.CrossEntropyLoss()
            self.optimizer = optimizer_of(model)

        id = "digits-mlp"

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            self.optimizer.zero_grad(set_to_none=True)
            output = self.nn(x)
            loss = self.criterion(output, y)
            loss.backward()
            self.optimizer.step()
            return output, loss

    return Classifier()


def consumers(interval: float | None) -> list[Any]:
    from torchsystem.consumers import EarlyStopping, ProgressBar, TensorBoard
    from torchsystem.runs import RunRecorder

    chosen: list[Any] = [
        ProgressBar(enable=True, file=open(os.devnull, "w")),  # noqa: SIM115
        TensorBoard(tempfile.mkdtemp(dir=WORK)),
        EarlyStopping("loss", phase="train", patience=1000),
    ]
    if interval is not None:
        chosen.append(RunRecorder(f"{WORK}/runs.db", interval=interval))
    return chosen


def run_full(interval: float | None) -> Callable[[nn.Module, Any, int], None]:
    def run(model: nn.Module, loader: Any, epochs: int) -> None:
        from torchsystem.training import Accuracy, Training

        training = Training(metrics={"accuracy": Accuracy()})
        attached = consumers(interval)
        training.producer.register(*attached)
        training.fit(aggregate(model), [("train", loader)], epochs)
        for consumer in attached:
            getattr(consumer, "close", lambda: None)()

    return run


VARIANTS: dict[str, Callable[[nn.Module, Any, int], None]] = {
    "raw": run_raw, "full": run_full(None), "full+runs": run_full(1.0),
    "full+runs/0": run_full(0.0),
}


def timed(run: Callable[[nn.Module, Any, int], None], data: Any, batch: int,
          epochs: int) -> float:
    model, loader = fresh(data, batch)
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        run(model, loader, epochs)
        return time.perf_counter() - start
    finally:
        gc.enable()


def whole_runs(data: Any, batch: int, reps: int, short: int, long: int) -> dict[str, float]:
    best = {(name, n): float("inf") for name in VARIANTS for n in (short, long)}
    names = list(VARIANTS)
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name, n in itertools.product(order, (short, long)):
            best[name, n] = min(best[name, n], timed(VARIANTS[name], data, batch, n))
    return {name: (best[name, long] - best[name, short]) / (long - short) for name in names}


def parts(data: Any, batch: int, rounds: int) -> dict[str, float]:
    """Seconds per epoch: compute, DataLoader, and the framework around a null model."""
    from torchsystem import Aggregate
    from torchsystem.training import Accuracy, Training

    model, loader = fresh(data, batch)
    optimizer, loss_fn, ready = optimizer_of(model), nn.CrossEntropyLoss(), list(loader)
    outputs = [(o, o.logsumexp(dim=1).mean()) for o in
               (torch.randn(len(y), 10, requires_grad=True) for _, y in ready)]
    answers = itertools.cycle(outputs)

    class Null(Aggregate):
        id = "null"

        def __init__(self) -> None:
            super().__init__()
            self.epoch, self.optimizer = 0, optimizer

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return next(answers)

    attached: list[Any] = []

    def framework(interval: float | None) -> Callable[[], None]:
        training, null = Training(metrics={"accuracy": Accuracy()}), Null()
        chosen = consumers(interval)
        attached.extend(chosen)  # closed when the timings are done
        training.producer.register(*chosen)
        return lambda: training.iterate(null, [("train", ready)]) and None

    def compute() -> None:
        for x, y in ready:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()

    timings: dict[str, Callable[[], None]] = {
        "compute": compute, "dataloader": lambda: [None for _ in loader] and None,
        "full": framework(None), "full+runs": framework(1.0),
    }
    best = dict.fromkeys(timings, float("inf"))
    for _ in range(rounds):
        for name, part in timings.items():
            gc.disable()
            start = time.perf_counter()
            part()
            best[name] = min(best[name], time.perf_counter() - start)
            gc.enable()
    return best


def event_cost(count: int) -> float:
    """Microseconds the training thread spends per ``Trained`` event the recorder handles
    (copy and queue; the writer thread runs meanwhile, as in training). The events are
    made as ``Training`` makes them, with the learning rates it reads."""
    from torchsystem.runs import RunRecorder
    from torchsystem.training import Metric, Started, Trained
    from torchsystem.training.hyperparameters import hyperparameters, learning_rates

    model, loader = fresh(load_digits(), 32)
    classifier = aggregate(model)
    metrics, rates = (Metric("loss", 0.5), Metric("accuracy", 0.9)), learning_rates(classifier)
    recorder = RunRecorder(f"{WORK}/events.db")
    phases = (("train", loader),)
    recorder.consume(Started(classifier, 1, count + 1, phases,
                             hyperparameters(classifier, phases, count + 1),
                             model_id=classifier.id))
    best = float("inf")
    for _ in range(5):
        events = [Trained(classifier, "train", epoch, metrics, loader, classifier.id, rates)
                  for epoch in range(1, count + 1)]
        gc.disable()
        start = time.perf_counter()
        for event in events:
            recorder.consume(event)
        best = min(best, time.perf_counter() - start)
        gc.enable()
    recorder.close()
    return best / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=60, help="timings of each part")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, 20 rounds")
    parser.add_argument("--smoke", action="store_true", help="one tiny repetition; no check")
    args = parser.parse_args(argv)
    reps, rounds, short, long = args.reps, args.rounds, 2, 12
    if args.quick:
        reps, rounds = 3, 20
    if args.smoke:
        reps, rounds, short, long = 1, 2, 1, 2
    torch.set_num_threads(1)
    data, ok = load_digits(), True
    print(f"RunRecorder on the training thread: {event_cost(200 if args.smoke else 5000):.1f} "
          "us per Trained event (capture + queue)\n")
    print("| batch | raw s/epoch | full x raw | full+runs x raw | full+runs/0 x raw "
          "| recorder us/epoch (parts) | parts: full+runs x raw | target |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        whole = whole_runs(data, batch, reps, short, long)
        part = parts(data, batch, rounds)
        raw = part["compute"] + part["dataloader"]
        ratio = (raw + part["full+runs"]) / raw
        met = args.smoke or ratio <= TARGET
        ok = ok and met
        print(f"| {batch} | {whole['raw']:.4f} | {whole['full'] / whole['raw']:.3f} "
              f"| {whole['full+runs'] / whole['raw']:.3f} "
              f"| {whole['full+runs/0'] / whole['raw']:.3f} "
              f"| {(part['full+runs'] - part['full']) * 1e6:+.0f} | {ratio:.3f} "
              f"| <= {TARGET} {'ok' if met else 'MISSED'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
