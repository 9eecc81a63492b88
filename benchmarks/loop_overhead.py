#!/usr/bin/env python3
"""Training-loop overhead, measured as a user runs it: whole runs of one small job by
torchsystem, hand-written loops, Lightning and Ignite.

Job: scikit-learn's bundled digits (1797 x 64, 10 classes), MLP 64-128-10, cross-entropy,
SGD(lr=0.05, momentum=0.9), one thread on one CPU, fixed seeds, batch 32. DataLoader
variants see the same shuffle, so their weights must equal their baseline's (checked and
printed before timing).

Whole runs. A run is what a user's script does: make the optimizer (and the aggregate,
the service and its consumers), then train a freshly seeded model for ``--epochs``
epochs. Its CPU time (``time.process_time``: every thread of the process, on the one CPU
it is pinned to) and its wall time are taken. A shared virtual machine drifts in speed
and other jobs take the CPU away, so:

- every round runs each variant once, in an order rotated from round to round;
- each variant runs right between two runs of its baseline and is divided by their
  geometric mean: a drift of the machine's speed cancels out;
- the figure is the median of these per-round ratios over ``--rounds`` rounds, with its
  95% confidence interval (order statistics: no assumption on the distribution);
- ``raw_again``, the raw loop under another name, is the A/A control: its ratio is what
  the measurement itself reads, and should be 1.00;
- the garbage collector runs before each run and is off during it (as ``timeit``).

Targets, checked on the median CPU-time ratio (CPU time leaves out the time other jobs
hold the CPU; on an idle machine it equals wall time): ``torchsystem`` (the ready service,
no consumers) <= 1.01 x raw; ``torchsystem_full`` (loss + accuracy, progress bar,
TensorBoard, early stopping) <= 1.05 x raw; ``torchsystem_memory`` (the same with the
in-memory ``TensorLoader``) <= 0.75 x raw; ``torchsystem_amp_accum`` (bf16 autocast and
accumulation over 4 batches through ``Optimization``) <= 1.02 x ``hand_amp_accum``, the
same written by hand. The exit status is 1 when one is missed (``--no-check``).

Parts in isolation (informative): the compute, each loader and torchsystem's own cost
around a model that does nothing, best of many short interleaved timings, added up.

Inside whole runs (informative): stopwatches around the model's step and the loader's
``next`` in whole runs of the raw loop, the bare service and the full set; what is left
is each loop's own time, timed where it really runs (``--inside`` runs of each).

    python benchmarks/loop_overhead.py            # what `make bench` and the README report
    python benchmarks/loop_overhead.py --quick    # fewer rounds
    python benchmarks/loop_overhead.py --peers 0  # leave Lightning and Ignite out
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib.metadata
import itertools
import math
import os
import platform
import shutil
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

WORK = tempfile.mkdtemp(prefix="torchsystem-bench-")  # logs and runs' folders
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
ACCUMULATE = 4  # batches per optimiser step in the bf16 + accumulation pair


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    run: Callable[[nn.Module, DataLoader[Any], int], None]
    baseline: str = "raw"  # what it is divided by, timed right beside it
    limit: float | None = None  # target on the median ratio to the baseline
    peer: bool = False  # another framework: informative, fewer rounds


VARIANTS: dict[str, Variant] = {}


def variant(name: str, description: str, *, baseline: str = "raw", limit: float | None = None,
            peer: bool = False) -> Callable[..., Any]:
    def register(run: Callable[[nn.Module, DataLoader[Any], int], None]) -> Any:
        VARIANTS[name] = Variant(name, description, run, baseline, limit, peer)
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


@variant("lightning_min", "Lightning Trainer without logger, checkpoints, bar or summary",
         peer=True)
def run_lightning_min(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    import pytorch_lightning as pl

    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tempfile.mkdtemp(dir=WORK),
    )
    trainer.fit(lightning_module(model, log_loss=False), train_dataloaders=loader)


@variant("lightning_defaults",
         "Lightning Trainer defaults (bar, TensorBoard, checkpoint) + logged loss", peer=True)
def run_lightning_defaults(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    import pytorch_lightning as pl

    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1,
        default_root_dir=tempfile.mkdtemp(dir=WORK),
    )
    trainer.fit(lightning_module(model, log_loss=True), train_dataloaders=loader)


@variant("ignite", "Ignite create_supervised_trainer, no handlers", peer=True)
def run_ignite(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from ignite.engine import create_supervised_trainer

    trainer = create_supervised_trainer(model, make_optimizer(model), nn.CrossEntropyLoss())
    trainer.run(loader, max_epochs=epochs)


@variant("ignite_full", "Ignite + progress bar, running-average loss, TensorBoard, checkpoint",
         peer=True)
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


def train_with(model: nn.Module, loader: Any, epochs: int, full: bool,
               step: Stopwatch | None = None) -> None:
    """The ready service with (``full``) or without consumers; ``step`` times the
    aggregate's ``fit`` (for the measurement inside whole runs)."""
    from torchsystem.training import Accuracy, Training

    training = Training(metrics={"accuracy": Accuracy} if full else None)
    attached = consumers() if full else []
    training.producer.register(*attached)
    aggregate = classifier(model)
    if step is not None:
        aggregate.fit = step.function(aggregate.fit)
    training.fit(aggregate, [("train", loader)], epochs)
    for consumer in attached:
        getattr(consumer, "close", lambda: None)()


@variant("torchsystem", "ready Training service, same DataLoader, no consumers", limit=1.01)
def run_torchsystem(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    train_with(model, loader, epochs, full=False)


@variant("torchsystem_full", "Training + progress bar, TensorBoard, early stopping, loss and "
         "accuracy, same DataLoader", limit=1.05)
def run_torchsystem_full(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    train_with(model, loader, epochs, full=True)


@variant("torchsystem_memory", "the same with the in-memory TensorLoader", limit=0.75)
def run_torchsystem_memory(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from torchsystem.training import TensorLoader

    x, y = loader.dataset.tensors  # type: ignore[attr-defined]
    train_with(model, TensorLoader(x, y, batch_size=loader.batch_size or 1), epochs, full=True)




# --------------------------------------------------------------------------- bf16 + accumulation
@variant("hand_amp_accum", "hand-written loop: bf16 autocast, gradients accumulated over 4 "
         "batches, the leftover stepped at the end of each epoch", baseline="hand_amp_accum")
def run_hand_amp_accum(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    optimizer, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        index = 0
        for index, (x, y) in enumerate(loader, start=1):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(x), y)
            (loss / ACCUMULATE).backward()
            if index % ACCUMULATE == 0:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        leftover = index % ACCUMULATE
        if leftover:  # the incomplete last window: the mean gradient of its batches
            for parameter in model.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(ACCUMULATE / leftover)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)


@variant("torchsystem_amp_accum", "ready Training service, aggregate with Optimization("
         "accumulate=4, precision='bf16-mixed'), no consumers", baseline="hand_amp_accum",
         limit=1.02)
def run_torchsystem_amp_accum(model: nn.Module, loader: DataLoader[Any], epochs: int) -> None:
    from torchsystem import Aggregate
    from torchsystem.training import Optimization, Training

    class Mixed(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch, self.nn, self.criterion = 0, model, nn.CrossEntropyLoss()
            self.optimization = Optimization(
                make_optimizer(model), accumulate=ACCUMULATE, precision="bf16-mixed"
            )

        id = "mlp"

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with self.optimization.autocast():
                output = self.nn(x)
                loss = self.criterion(output, y)
            self.optimization.step(loss)
            return output, loss

    Training().fit(Mixed(), [("train", loader)], epochs)


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


# --------------------------------------------------------------------------- inside whole runs
class Stopwatch:
    """The seconds spent inside what it wraps: a function, or a loader's ``next``."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def function(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args)
            finally:
                self.seconds += time.perf_counter() - start

        return timed

    def loader(self, loader: Any) -> Any:
        watch = self

        class Timed:
            def __len__(self) -> int:
                return len(loader)

            def __iter__(self) -> Iterator[Any]:
                batches = iter(loader)
                while True:
                    start = time.perf_counter()
                    try:
                        batch = next(batches)
                    except StopIteration:
                        return
                    finally:
                        watch.seconds += time.perf_counter() - start
                    yield batch

        return Timed()


@dataclass(frozen=True)
class Inside:
    total: float  # seconds of the whole run (wall clock, median)
    step: float  # of them, inside the model's step (``fit``)
    loader: float  # inside the loader's ``next``

    @property
    def own(self) -> float:
        """What is left: the loop itself and, for torchsystem, the service's own work."""
        return self.total - self.step - self.loader


def in_situ(data: tuple[torch.Tensor, torch.Tensor], batch: int, epochs: int, rounds: int,
            log: str) -> dict[str, Inside]:
    """Whole runs with a stopwatch around the model's step and one around the loader's
    ``next``; the rest of each run is the loop's own time. Timed where it really runs,
    between steps that leave the caches to the model, unlike the parts in isolation. The
    raw loop gets the same stopwatches (a function for its step, the same loader wrapper),
    so what torchsystem adds is its own time less the raw loop's. Medians of ``rounds``
    interleaved runs."""

    def raw(model: nn.Module, loader: Any, step: Stopwatch, loading: Stopwatch) -> None:
        optimizer, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()

        def fit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        timed_fit = step.function(fit)
        model.train()
        for _ in range(epochs):
            for x, y in loading.loader(loader):
                timed_fit(x, y)

    def service(full: bool) -> Callable[[nn.Module, Any, Stopwatch, Stopwatch], None]:
        def run(model: nn.Module, loader: Any, step: Stopwatch, loading: Stopwatch) -> None:
            train_with(model, loading.loader(loader), epochs, full, step)

        return run

    runs = {"raw": raw, "torchsystem": service(False), "torchsystem_full": service(True)}
    found: dict[str, list[Inside]] = {name: [] for name in runs}
    with quiet(log):
        for index in range(rounds + 1):  # the first round warms up, untimed
            for name, run in runs.items():
                model, loader = fresh(*data, batch)
                step, loading = Stopwatch(), Stopwatch()
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                run(model, loader, step, loading)
                total = time.perf_counter() - start
                gc.enable()
                if index:
                    found[name].append(Inside(total, step.seconds, loading.seconds))
    return {name: Inside(*(statistics.median(getattr(row, field) for row in rows)
                           for field in ("total", "step", "loader")))
            for name, rows in found.items()}


def report_in_situ(inside: dict[int, dict[str, Inside]], epochs: int,
                   data_size: int) -> None:
    """Print what each variant's own time adds to the raw loop, per batch size."""
    print("| batch | variant | own time per run | over raw | us/step | x raw, own time alone "
          "| step x raw | loader x raw |")
    print("|---|---|---|---|---|---|---|---|")
    for batch, found in inside.items():
        raw, steps = found["raw"], -(-data_size // batch) * epochs
        for name, row in found.items():
            extra = row.own - raw.own
            print(f"| {batch} | {name} | {row.own * 1e3:.2f} ms | {extra * 1e3:+.2f} ms "
                  f"| {extra / steps * 1e6:+.1f} | {(raw.total + extra) / raw.total:.3f} "
                  f"| {row.step / raw.step:.3f} | {row.loader / raw.loader:.3f} |")


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


@dataclass(frozen=True)
class Timing:
    cpu: float  # seconds of CPU time, every thread of the process
    wall: float


def timed(chosen: Variant, data: tuple[torch.Tensor, torch.Tensor], batch: int, epochs: int,
          log: str) -> tuple[Timing, nn.Module]:
    """One whole run of ``chosen``: a fresh model and loader, ``epochs`` epochs."""
    model, loader = fresh(*data, batch)
    torch.set_num_threads(1)  # also resets what a framework may have changed
    with quiet(log):
        gc.collect()
        gc.disable()  # a collection lands at random in some runs, not others (as timeit)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            chosen.run(model, loader, epochs)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            gc.enable()
    return Timing(cpu, wall), model


def weight_gap(a: nn.Module, b: nn.Module) -> float:
    left, right = a.state_dict(), b.state_dict()
    return max(float((left[k] - right[k]).abs().max()) for k in left)


def warm_up(names: list[str], data: Any, batch: int, log: str) -> list[str]:
    """One short untimed run each (imports, first calls); print the weight check: each
    variant against its baseline after 2 epochs (0 where both see the same batches)."""
    usable, trained = [], {}
    for name in names:
        chosen = VARIANTS[name]
        try:
            _, trained[name] = timed(chosen, data, batch, 2, log)
        except ImportError as missing:
            print(f"skipped {name}: not installed ({missing.name})")
            continue
        reference = trained.get(chosen.baseline)
        gap = float("nan") if reference is None else weight_gap(trained[name], reference)
        print(f"  check batch {batch:>3} {name:22s} max |w - w_{chosen.baseline}| after 2 "
              f"epochs = {gap:.1e}")
        usable.append(name)
    return usable


def baselines_first(names: list[str]) -> list[str]:
    """``names`` with every baseline they need, baselines first."""
    needed = [VARIANTS[name].baseline for name in names]
    ordered = list(dict.fromkeys([*needed, *names]))
    return sorted(ordered, key=lambda name: VARIANTS[name].baseline != name)


def rounds_of(names: list[str], count: int, data: Any, batch: int, epochs: int, log: str,
              label: str) -> dict[str, list[tuple[Timing, Timing]]]:
    """``count`` rounds; in each, every variant of ``names`` runs once, right between two
    runs of its baseline (shared with the next variant: B X B Y B ...), in an order
    rotated from round to round. Returns ``{variant: [(its run, baseline's mean)]}`` with
    the baseline's mean the geometric mean of the runs before and after it."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if VARIANTS[name].baseline != name:
            groups.setdefault(VARIANTS[name].baseline, []).append(name)
    found: dict[str, list[tuple[Timing, Timing]]] = {name: [] for name in names}
    for index in range(count):
        for baseline, members in groups.items():
            shift = index % len(members)
            before = timed(VARIANTS[baseline], data, batch, epochs, log)[0]
            for name in members[shift:] + members[:shift]:
                taken = timed(VARIANTS[name], data, batch, epochs, log)[0]
                after = timed(VARIANTS[baseline], data, batch, epochs, log)[0]
                mean = Timing(math.sqrt(before.cpu * after.cpu),
                              math.sqrt(before.wall * after.wall))
                found[name].append((taken, mean))
                found[baseline].append((before, mean))
                before = after
        print(f"  {label} round {index + 1}/{count} done", file=sys.stderr, flush=True)
    return {name: pairs for name, pairs in found.items() if pairs}


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(median, low, high)``: the sample median and a distribution-free confidence
    interval for the true median, between the k-th smallest and k-th largest values
    with the largest k for which ``2 P(Binomial(n, 1/2) <= k - 1) <= 1 - confidence``
    (the whole range when there are too few values)."""
    ordered, n = sorted(values), len(values)
    k, tail = 1, 0.0
    for candidate in range(1, n // 2 + 1):
        tail += math.comb(n, candidate - 1) / 2**n  # P(Binomial(n, 1/2) <= candidate - 1)
        if 2 * tail > 1 - confidence:
            break
        k = candidate
    return statistics.median(ordered), ordered[k - 1], ordered[n - k]


@dataclass(frozen=True)
class Summary:
    seconds: float  # median CPU seconds of a whole run
    cpu: tuple[float, float, float]  # ratio to the baseline: median, low, high
    wall: tuple[float, float, float]
    rounds: int


def summarize(found: dict[str, list[tuple[Timing, Timing]]]) -> dict[str, Summary]:
    summary = {}
    for name, pairs in found.items():
        baseline = VARIANTS[name].baseline == name
        summary[name] = Summary(
            statistics.median(taken.cpu for taken, _ in pairs),
            (1.0, 1.0, 1.0) if baseline else median_interval([t.cpu / m.cpu for t, m in pairs]),
            (1.0, 1.0, 1.0) if baseline else median_interval([t.wall / m.wall for t, m in pairs]),
            len(pairs),
        )
    return summary


def report(summary: dict[str, Summary], names: list[str], batch: int, epochs: int,
           steps: int, check: bool) -> bool:
    """Print the whole-run table; True when every target is met."""
    met = True
    print(f"| batch | variant | baseline | s/run (CPU, {epochs} epochs) | x baseline, CPU time "
          "[95% CI] | x baseline, wall [95% CI] | us/step over baseline | target |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        if name not in summary:
            continue
        row, chosen = summary[name], VARIANTS[name]
        ratio, low, high = row.cpu
        extra = (ratio - 1) * summary[chosen.baseline].seconds / (steps * epochs) * 1e6
        verdict = ""
        if chosen.limit is not None:
            ok = ratio <= chosen.limit
            met = met and ok
            verdict = f"<= {chosen.limit:.2f} {'ok' if ok else 'MISSED'}" if check else (
                f"<= {chosen.limit:.2f}")
        wall = "{:.3f} [{:.3f}, {:.3f}]".format(*row.wall)
        print(f"| {batch} | {name} | {chosen.baseline} | {row.seconds:.3f} | {ratio:.3f} "
              f"[{low:.3f}, {high:.3f}] | {wall} | {extra:+.1f} | {verdict} |")
    control = summary.get("raw_again")
    if control is not None and abs(control.cpu[0] - 1) > 0.01:
        print(f"\nnoisy: the A/A control reads {control.cpu[0]:.3f} (it should be 1.000), so a "
              "1 % target cannot be judged here; rerun on an idle machine")
    return met


def report_components(parts: dict[int, dict[str, float]]) -> None:
    """Print each batch size's parts and the x raw they add up to (informative)."""
    print("| batch | compute | DataLoader | TensorLoader | torchsystem | torchsystem full "
          "| sum, x raw: torchsystem | full | memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch, part in parts.items():
        ratios = " | ".join(f"{ratio:.3f}" for ratio in estimate(part).values())
        times = " | ".join(f"{part[k] * 1e3:.2f} ms" for k in
                           ("compute", "dataloader", "tensorloader", "bare", "full"))
        print(f"| {batch} | {times} | {ratios} |")


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
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(
        os, "getloadavg") else "unknown"
    machine = f"{platform.system()} {cpu}, {os.cpu_count()} CPUs (load {load}), torch threads 1"
    return f"{machine}; " + ", ".join(versions)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--variants", default="all", help="comma list, or 'all'")
    parser.add_argument("--batch-sizes", default="32", help="comma list (targets: every one)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of a whole run")
    parser.add_argument("--rounds", type=int, default=41, help="rounds of the targets' runs")
    parser.add_argument("--peers", type=int, default=7,
                        help="rounds of Lightning and Ignite (informative; 0: leave them out)")
    parser.add_argument("--inside", type=int, default=15,
                        help="runs of each variant timed from inside (informative)")
    parser.add_argument("--quick", action="store_true", help="15 rounds, 3 of the peers")
    parser.add_argument("--smoke", action="store_true", help="one tiny round; no check")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--cpu", type=int, default=None,
                        help="pin to this CPU (default: the last one; -1: do not pin)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.peers = 15, min(args.peers, 3)
    if args.smoke:
        args.rounds, args.peers, args.epochs, args.no_check = 1, min(args.peers, 1), 1, True
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    args.names = baselines_first(names)
    args.batches = [int(b) for b in args.batch_sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    pin(args.cpu)
    torch.set_num_threads(1)
    data, log = load_digits(), os.path.join(WORK, "framework-output.log")
    print(describe_machine())
    met = True
    for batch in args.batches:
        names = warm_up(args.names, data, batch, log)
        ours = [name for name in names if not VARIANTS[name].peer]
        peers = baselines_first([name for name in names if VARIANTS[name].peer])
        found = rounds_of(ours, args.rounds, data, batch, args.epochs, log, "targets")
        if args.peers and len(peers) > 1:
            found.update({name: pairs for name, pairs in rounds_of(
                peers, args.peers, data, batch, args.epochs, log, "peers").items()
                if name != "raw"})
        steps = -(-len(data[0]) // batch)
        print(f"\nWhole runs of {args.epochs} epochs at batch {batch}: the median over "
              f"{args.rounds} rounds ({args.peers} for Lightning and Ignite) of each run's "
              "time over the geometric mean of its baseline's runs right before and after it;"
              " s/run is the median CPU time of a run, set-up included\n")
        met = report(summarize(found), names, batch, args.epochs, steps,
                     not args.no_check) and met
    print()
    for name in args.names:
        print(f"- {name}: {VARIANTS[name].description}")
    rounds = 2 if args.smoke else max(5, 2 * args.rounds)
    parts = {batch: components(data, batch, rounds, log) for batch in args.batches}
    print(f"\nThe parts of a run timed in isolation (best of {rounds}, per epoch) and what they "
          "add up to, (compute + loader + torchsystem's own cost) / (compute + DataLoader):\n")
    report_components(parts)
    inside = {batch: in_situ(data, batch, args.epochs, 3 if args.smoke else args.inside, log)
              for batch in args.batches}
    print("\nInside whole runs (median of each variant's runs): the time outside the model's "
          "step and the loader's next, and what it adds to the raw loop's run:\n")
    report_in_situ(inside, args.epochs, len(data[0]))
    if args.no_check or met:
        return 0
    print("\nFAILED: a target was missed", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
