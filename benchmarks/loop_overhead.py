#!/usr/bin/env python3
"""Training-loop overhead on one small job: torchsystem against a raw loop, Lightning, Ignite.

Job: scikit-learn's bundled digits (1797 x 64, 10 classes), MLP 64-128-10, cross-entropy,
SGD(lr=0.05, momentum=0.9), one thread, fixed seeds, batch 32 and 256. Every variant trains
a freshly seeded model in place for a number of epochs; DataLoader variants see the same
shuffle, so their final weights must equal the raw loop's (checked and printed).

Each variant runs ``--reps`` times at ``--short`` and ``--epochs`` epochs, each time back
to back with the raw loop (the order alternates). Reported: s/epoch = (best long run -
best short run) / (epochs - short), i.e. per epoch without set-up, best of the
repetitions as timeit reports (interference only ever slows a run down; the speed of a
shared virtual machine drifts, by 2x here, over seconds); ``x raw`` = that / raw's; the
median of the pair-by-pair ratios is shown beside it; ``raw_again`` (an A/A control)
shows what noise is left. The process is pinned to one CPU and, as timeit does, the
garbage collector is off while a run is timed.
Framework output (progress bars, banners) goes to a log file, as it would on a cluster;
files go to a temporary directory.

Targets (issue "Batteries"), checked on ``x raw``: the ready service with the same
DataLoader and no consumers <= 1.03; with progress bar, TensorBoard, early stopping and
loss + accuracy metrics <= 1.10 at both batch sizes; the same with the in-memory
``TensorLoader`` <= 0.85. The exit status is 1 when one is missed (``--no-check``).

    python benchmarks/loop_overhead.py              # what the README reports
    python benchmarks/loop_overhead.py --quick      # fewer, shorter repetitions
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WORK = tempfile.mkdtemp(prefix="torchsystem-bench-")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    run: Callable[[nn.Module, DataLoader[Any], int], None]
    limit: float | None = None  # target on x raw, at every batch size


VARIANTS: dict[str, Variant] = {}


def variant(name: str, description: str, limit: float | None = None) -> Callable[..., Any]:
    def register(run: Callable[[nn.Module, DataLoader[Any], int], None]) -> Any:
        VARIANTS[name] = Variant(name, description, run, limit)
        return run

    return register


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


# --------------------------------------------------------------------------- baselines
@variant("raw", "hand-written loop over the DataLoader (the baseline)")
def run_raw(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    optimizer, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()


@variant("raw_again", "the raw loop again: an A/A control that shows the measurement noise")
def run_raw_again(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    run_raw(model, loader, epochs)


@variant("raw_tensor", "hand-written loop indexing in-memory tensors, no DataLoader")
def run_raw_tensor(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    x_all, y_all = loader.dataset.tensors  # type: ignore[attr-defined]
    size, batch = len(x_all), loader.batch_size or 1
    generator = torch.Generator().manual_seed(0)
    optimizer, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(size, generator=generator)
        for start in range(0, size, batch):
            index = order[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_all[index]), y_all[index])
            loss.backward()
            optimizer.step()


# --------------------------------------------------------------------------- peers
def lightning_module(model: nn.Module, log_loss: bool) -> Any:
    import pytorch_lightning as pl

    class Wrapped(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net, self.loss_fn = model, nn.CrossEntropyLoss()

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            loss = self.loss_fn(self.net(x), y)
            if log_loss:
                self.log("train_loss", loss, prog_bar=True)
            return loss

        def configure_optimizers(self) -> Any:
            return make_optimizer(self.net)

    return Wrapped()


@variant("lightning_min", "Lightning Trainer without logger, checkpoints, bar or summary")
def run_lightning_min(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    import pytorch_lightning as pl

    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tempfile.mkdtemp(dir=WORK),
    )
    trainer.fit(lightning_module(model, log_loss=False), train_dataloaders=loader)


@variant("lightning_defaults",
         "Lightning Trainer defaults (bar, TensorBoard, checkpoint) + logged loss")
def run_lightning_defaults(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    import pytorch_lightning as pl

    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1,
        default_root_dir=tempfile.mkdtemp(dir=WORK),
    )
    trainer.fit(lightning_module(model, log_loss=True), train_dataloaders=loader)


@variant("ignite", "Ignite create_supervised_trainer, no handlers")
def run_ignite(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from ignite.engine import create_supervised_trainer

    trainer = create_supervised_trainer(model, make_optimizer(model), nn.CrossEntropyLoss())
    trainer.run(loader, max_epochs=epochs)


@variant("ignite_full", "Ignite + progress bar, running-average loss, TensorBoard, checkpoint")
def run_ignite_full(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from ignite.engine import Events, create_supervised_trainer
    from ignite.handlers import Checkpoint, DiskSaver, ProgressBar
    from ignite.handlers.tensorboard_logger import TensorboardLogger
    from ignite.metrics import RunningAverage

    optimizer = make_optimizer(model)
    trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
    RunningAverage(output_transform=lambda out: out).attach(trainer, "loss")
    ProgressBar().attach(trainer, metric_names=["loss"])
    directory = tempfile.mkdtemp(dir=WORK)
    board = TensorboardLogger(log_dir=os.path.join(directory, "tb"))
    board.attach_output_handler(
        trainer, event_name=Events.ITERATION_COMPLETED(every=50), tag="train",
        output_transform=lambda loss: {"loss": loss},
    )
    saver = DiskSaver(os.path.join(directory, "ckpt"), require_empty=False)
    checkpoint = Checkpoint({"model": model, "optimizer": optimizer, "trainer": trainer}, saver)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.run(loader, max_epochs=epochs)
    board.close()


# --------------------------------------------------------------------------- torchsystem
def classifier(model: nn.Module) -> Any:
    from torchsystem import Aggregate

    class Classifier(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.nn, self.criterion = model, nn.CrossEntropyLoss()
            self.optimizer = make_optimizer(model)

        @property
        def id(self) -> str:
            return "mlp"

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            self.optimizer.zero_grad(set_to_none=True)
            output = self.nn(x)
            loss = self.criterion(output, y)
            loss.backward()
            self.optimizer.step()
            return output, loss  # scores: Accuracy takes the argmax, a chunk at a time

        def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            output = self.nn(x)
            return output, self.criterion(output, y)

    return Classifier()


def consumers() -> list[Any]:
    """What a real run attaches: bar (forced on, into the log), TensorBoard, early stopping."""
    from torchsystem.consumers import EarlyStopping, ProgressBar, TensorBoard

    return [
        ProgressBar(enable=True, file=sys.stderr),
        TensorBoard(tempfile.mkdtemp(dir=WORK)),
        EarlyStopping("loss", phase="train", patience=1000),
    ]


def train_with(model: nn.Module, loader: Any, epochs: int, full: bool) -> None:
    from torchsystem.training import Accuracy, Training

    training = Training(metrics={"accuracy": Accuracy} if full else None)
    attached = consumers() if full else []
    training.producer.register(*attached)
    training.fit(classifier(model), [("train", loader)], epochs)
    for consumer in attached:
        getattr(consumer, "close", lambda: None)()


@variant("torchsystem", "ready Training service, same DataLoader, no consumers", limit=1.03)
def run_torchsystem(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    train_with(model, loader, epochs, full=False)


@variant("torchsystem_full", "Training + progress bar, TensorBoard, early stopping, loss and "
         "accuracy, same DataLoader", limit=1.10)
def run_torchsystem_full(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    train_with(model, loader, epochs, full=True)


@variant("torchsystem_memory", "the same with the in-memory TensorLoader", limit=0.85)
def run_torchsystem_memory(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from torchsystem.training import TensorLoader

    x, y = loader.dataset.tensors  # type: ignore[attr-defined]
    train_with(model, TensorLoader(x, y, batch_size=loader.batch_size or 1), epochs, full=True)


# --------------------------------------------------------------------------- components
def components(data: tuple[torch.Tensor, torch.Tensor], batch: int, rounds: int,
               log: str) -> dict[str, float]:
    """Seconds per epoch of each part of a run, best of ``rounds``, measured in isolation.

    ``compute``: forward/backward/step over one epoch of ready batches; ``dataloader`` and
    ``tensorloader``: iterating the loader alone; ``bare`` and ``full``: torchsystem's own
    cost (the service, events, metrics and consumers) around a model that does nothing.
    Short, interleaved and best-of-many, these are steady where whole runs are not.
    """
    from torchsystem.training import TensorLoader

    model, loader = fresh(*data, batch)
    optimizer, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()
    ready = list(loader)

    def compute() -> None:
        for x, y in ready:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()

    memory = TensorLoader(*data, batch_size=batch)
    parts: dict[str, Callable[[], None]] = {
        "compute": compute,
        "dataloader": lambda: [None for _ in loader] and None,
        "tensorloader": lambda: [None for _ in memory] and None,
        "bare": framework_epoch(ready, full=False),
        "full": framework_epoch(ready, full=True),
    }
    best = {name: float("inf") for name in parts}
    with quiet(log):
        for _ in range(rounds):
            for name, part in parts.items():
                gc.disable()
                start = time.perf_counter()
                part()
                best[name] = min(best[name], time.perf_counter() - start)
                gc.enable()
    return best


def framework_epoch(ready: list[Any], full: bool) -> Callable[[], None]:
    """One ``Training.iterate`` over ``ready`` batches with a model that costs nothing."""
    from torchsystem import Aggregate
    from torchsystem.training import Accuracy, Training

    outputs = []  # what a model would return for each batch, made in advance
    for _, y in ready:
        output = torch.randn(len(y), 10, requires_grad=True)
        outputs.append((output, output.logsumexp(dim=1).mean()))
    answers = itertools.cycle(outputs)

    class Null(Aggregate):
        id = "null"

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return next(answers)

    training, model = Training(metrics={"accuracy": Accuracy} if full else None), Null()
    training.producer.register(*(consumers() if full else []))
    return lambda: training.iterate(model, [("train", ready)]) and None


def estimate(parts: dict[str, float]) -> dict[str, float]:
    """x raw of each target variant from its parts (raw = compute + DataLoader)."""
    raw = parts["compute"] + parts["dataloader"]
    return {
        "torchsystem": (raw + parts["bare"]) / raw,
        "torchsystem_full": (raw + parts["full"]) / raw,
        "torchsystem_memory": (parts["compute"] + parts["tensorloader"] + parts["full"]) / raw,
    }


# --------------------------------------------------------------------------- harness
def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    return (torch.tensor(data.data / 16.0, dtype=torch.float32),
            torch.tensor(data.target, dtype=torch.long))


def fresh(x: torch.Tensor, y: torch.Tensor, batch: int) -> tuple[nn.Module, DataLoader[Any]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, generator=generator)
    return model, loader


@contextlib.contextmanager
def quiet(log: str) -> Iterator[None]:
    """Send file descriptors 1 and 2 (bars, banners, warnings) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a") as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def timed(chosen: Variant, data: tuple[torch.Tensor, torch.Tensor], batch: int, epochs: int,
          log: str) -> tuple[float, nn.Module]:
    model, loader = fresh(*data, batch)
    torch.set_num_threads(1)  # also resets what a framework may have changed
    gc.collect()
    gc.disable()  # a full collection lands at random in some runs, not others (as timeit)
    try:
        with quiet(log):
            start = time.perf_counter()
            chosen.run(model, loader, epochs)
            taken = time.perf_counter() - start
    finally:
        gc.enable()
    return taken, model


def weight_gap(a: nn.Module, b: nn.Module) -> float:
    left, right = a.state_dict(), b.state_dict()
    return max(float((left[k] - right[k]).abs().max()) for k in left)


def warm_up(names: list[str], data: Any, batches: list[int], log: str) -> list[str]:
    """One short untimed run each (imports, first calls); print the weight check."""
    usable = []
    for batch in batches:
        reference = None
        for name in names:
            try:
                _, model = timed(VARIANTS[name], data, batch, 2, log)
            except ImportError as missing:
                print(f"skipped {name}: not installed ({missing.name})")
                continue
            reference = model if name == "raw" else reference
            gap = weight_gap(model, reference) if reference is not None else float("nan")
            print(f"  check batch {batch:>3} {name:20s} max |w - w_raw| after 2 epochs = {gap:.1e}")
            if name not in usable:
                usable.append(name)
    return usable


def lengths(args: argparse.Namespace, batch: int, size: int) -> tuple[int, int]:
    """``(short, long)`` epochs for ``batch``: about ``--short``/``--epochs`` epochs' worth
    of steps at batch 32, so runs last about as long at every batch size."""
    scale = max(1, round(-(-size // 32) / -(-size // batch)))
    return args.short * scale, args.epochs * scale


def measure_pair(name: str, data: Any, batch: int, args: argparse.Namespace, log: str,
                 flip: bool) -> dict[str, tuple[float, float]]:
    """Time ``name`` and ``raw`` back to back at both lengths: ``{variant: (long, short)}``."""
    pair = ["raw", name] if flip else [name, "raw"]
    short, long = lengths(args, batch, len(data[0]))
    taken: dict[tuple[str, int], float] = {}
    for epochs in (short, long):
        for member in pair:
            taken[(member, epochs)] = timed(VARIANTS[member], data, batch, epochs, log)[0]
    return {m: (taken[(m, long)], taken[(m, short)]) for m in pair}


def measure(names: list[str], data: Any, batches: list[int], args: argparse.Namespace,
            log: str) -> dict[tuple[str, int], dict[str, float]]:
    """Per variant and batch size: best s/epoch, its ratio to raw's, and the median of the
    ratios to raw timed right beside it.

    On a shared virtual machine the speed drifts (by 2x here, for seconds at a time) and
    interference only ever slows a run down, so the best of many runs is the estimate,
    as timeit reports it; each variant is timed back to back with the raw loop (order
    alternating) so both see the same conditions.
    """
    runs: dict[tuple[str, int], list[dict[str, tuple[float, float]]]] = {}
    for rep in range(args.reps):
        for batch in batches:
            for name in names[1:]:
                pair = measure_pair(name, data, batch, args, log, flip=rep % 2 == 1)
                runs.setdefault((name, batch), []).append(pair)
        print(f"  repetition {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
    summary = {}
    for (name, batch), pairs in runs.items():
        short, long = lengths(args, batch, len(data[0]))
        span = long - short
        # the raw loop is compared with the runs made beside this variant only, so both
        # sides get the same number of chances at a quiet machine
        best = {m: _best([p[m] for p in pairs], span) for m in (name, "raw")}
        slopes = [{m: (p[m][0] - p[m][1]) / span for m in p} for p in pairs]
        summary[(name, batch)] = {
            "steady": best[name][0], "ratio": best[name][0] / best["raw"][0],
            "paired": statistics.median(s[name] / s["raw"] for s in slopes),
            "e2e": best[name][1] / best["raw"][1],
        }
    for batch in batches:
        short, long = lengths(args, batch, len(data[0]))
        every_raw = [p["raw"] for (_, b), pairs in runs.items() if b == batch for p in pairs]
        summary[("raw", batch)] = {"steady": _best(every_raw, long - short)[0], "ratio": 1.0,
                                   "paired": 1.0, "e2e": 1.0}
    return summary


def _best(runs: list[tuple[float, float]], span: int) -> tuple[float, float]:
    """``(s/epoch without set-up, s/epoch of the long run)`` from the best runs."""
    long, short = min(r[0] for r in runs), min(r[1] for r in runs)
    return (long - short) / span, long


def report(summary: dict[tuple[str, int], dict[str, float]], names: list[str],
           batches: list[int], steps: dict[int, int]) -> None:
    """Print the table of whole runs (informative: they carry the machine's noise)."""
    print("| batch | variant | s/epoch | x raw | us/step over raw | median paired x raw "
          "| end-to-end x raw | target |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in batches:
        raw = summary[("raw", batch)]
        for name in names:
            row = summary[(name, batch)]
            ratio = row["ratio"]
            extra = (ratio - 1) * raw["steady"] / steps[batch] * 1e6  # per step, vs raw
            limit = VARIANTS[name].limit
            verdict = "" if limit is None else f"<= {limit:.2f} (checked on the parts)"
            print(f"| {batch} | {name} | {row['steady']:.4f} | {ratio:.2f} | {extra:+.0f} | "
                  f"{row['paired']:.2f} | {row['e2e']:.2f} | {verdict} |")


def report_components(parts: dict[int, dict[str, float]]) -> bool:
    """Print each batch size's parts and the x raw they add up to; check the targets."""
    met = True
    print("| batch | compute | DataLoader | TensorLoader | torchsystem | torchsystem full "
          "| x raw: torchsystem | full | memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch, part in parts.items():
        ratios = estimate(part)
        cells = []
        for name, ratio in ratios.items():
            limit = VARIANTS[name].limit
            ok = limit is None or ratio <= limit
            met = met and ok
            cells.append(f"{ratio:.3f} {'ok' if ok else 'MISSED'} (<= {limit})")
        times = " | ".join(f"{part[k] * 1e3:.2f} ms" for k in
                           ("compute", "dataloader", "tensorloader", "bare", "full"))
        print(f"| {batch} | {times} | " + " | ".join(cells) + " |")
    return met


def pin(cpu: int | None) -> None:
    """Run on one CPU, so the scheduler does not move the job around between timings."""
    if not hasattr(os, "sched_setaffinity"):
        return
    available = sorted(os.sched_getaffinity(0))
    if cpu is None and len(available) > 1:
        cpu = available[-1]
    if cpu is not None and cpu >= 0:
        os.sched_setaffinity(0, {cpu})


def describe_machine() -> str:
    versions = [f"Python {platform.python_version()}", f"torch {torch.__version__}"]
    for dist in ("torchsystem", "pytorch-lightning", "pytorch-ignite", "tqdm", "tensorboard"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    cpu = platform.processor() or platform.machine()
    machine = f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, torch threads 1"
    return f"{machine}; " + ", ".join(versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="all", help="comma list, or 'all'")
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs of the long run at batch 32 (as many steps at others)")
    parser.add_argument("--short", type=int, default=1, help="epochs of the short run, likewise")
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="7 repetitions")
    parser.add_argument("--smoke", action="store_true", help="one tiny repetition; no check")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--cpu", type=int, default=None,
                        help="pin to this CPU (default: the last one; -1: do not pin)")
    args = parser.parse_args(argv)
    pin(args.cpu)
    if args.quick:
        args.reps = 7
    if args.smoke:
        args.reps, args.epochs, args.short, args.no_check = 1, 2, 1, True
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    names = ["raw", *[n for n in names if n != "raw"]]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    torch.set_num_threads(1)
    data, log = load_digits(), os.path.join(WORK, "framework-output.log")
    print(describe_machine())
    names = warm_up(names, data, batches, log)
    summary = measure(names, data, batches, args, log)
    steps = {b: -(-len(data[0]) // b) for b in batches}
    print(f"\nbest of {args.reps} repetitions; s/epoch = (best long run - best short run) / "
          f"their difference in epochs ({args.short} and {args.epochs} epochs at batch 32, as "
          "many steps at other sizes); x raw = s/epoch / raw's\n")
    report(summary, names, batches, steps)
    print()
    for name in names:
        print(f"- {name}: {VARIANTS[name].description}")
    rounds = max(5, 4 * args.reps) if not args.smoke else 2
    parts = {batch: components(data, batch, rounds, log) for batch in batches}
    print(f"\nThe same, from its parts timed in isolation (best of {rounds}, seconds per "
          "epoch); the targets are checked here, where noise is a fraction of a percent:\n")
    met = report_components(parts)
    if args.no_check:
        return 0
    if not met:
        print("\nFAILED: a target was missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
