#!/usr/bin/env python3
"""What checkpointing costs the training thread, and what restoring costs.

Part 1, a large model (an MLP of 3 x 4096 x 4096 layers with biases: 50.3M parameters,
a 201 MB checkpoint with plain SGD) trained on random batches, one checkpoint every
``--every`` steps, the variants interleaved in each repetition:

- ``none``: no checkpoint (the reference loop);
- ``torch.save``: a synchronous ``torch.save`` of the model's and the optimizer's state
  (what Lightning's and Ignite's checkpoint handlers do), no fsync;
- ``dcp.async_save``: ``torch.distributed.checkpoint.async_save`` in one process (it
  stages the state into host memory, then writes on a thread);
- ``torchsystem``: ``Checkpoints.save`` (capture into reused host buffers on the training
  thread; serialise, fsync, rename and fsync the folder on the writer thread).

Per variant: the call's stall (time inside the checkpoint call, median) and the loop's
slowdown per checkpoint ((loop time - the ``none`` loop's) / checkpoints: the call plus
what the background writer takes from the training thread). Then restoring the newest
checkpoint: ``torch.load(weights_only=True)`` alone, ``torch.load`` + ``load_state_dict``
(a hand-written resume), and ``Checkpoints.restore`` with and without checksums (read into
memory, each chunk checksummed as it arrives, applied), interleaved, each file dropped from
the page cache first; wall-clock and CPU time. Targets: torchsystem's stall <= 1/4 of
``torch.save``'s; its restore no slower than ``torch.load``.

Part 2, the digits job of ``loop_overhead.py`` (MLP 64-128-10, batch 32 and 256): the
ready service with loss + accuracy, a progress bar, TensorBoard and early stopping
(``full``), and the same with a checkpoint every epoch and a graceful stop, as the
example has (``full+checkpoints``), against the hand-written loop. As the other
benchmarks, the target (<= 1.10x raw) is checked on the parts, timed in isolation:
``(compute + DataLoader + framework) / (compute + DataLoader)``, the framework part
including a real checkpoint of the digits model every epoch. Exit status 1 when a target is missed.

    python benchmarks/checkpoints.py            # what the README reports
    python benchmarks/checkpoints.py --quick    # fewer repetitions
    python benchmarks/checkpoints.py --part 1 --device cuda   # part 1 on a GPU
"""

from __future__ import annotations

import argparse
import atexit
import gc
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch import nn

WORK = Path(tempfile.mkdtemp(prefix="torchsystem-checkpoint-bench-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
STALL_TARGET = 0.25
LOOP_TARGET = 1.10


# --- part 1: a large model -------------------------------------------------------------


def large(width: int, layers: int) -> Any:
    from torchsystem import Aggregate

    class Large(Aggregate):
        id = "large-mlp"

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.nn = nn.Sequential(*(nn.Linear(width, width) for _ in range(layers)))
            self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=1e-4)

        def step(self, inputs: torch.Tensor) -> None:
            self.optimizer.zero_grad(set_to_none=True)
            self.nn(inputs).square().mean().backward()
            self.optimizer.step()

    return Large()


def state_of(model: Any) -> dict[str, Any]:
    return {"model": model.nn.state_dict(), "optimizer": model.optimizer.state_dict()}


class Variant:
    """One way of checkpointing: ``call`` runs on the training thread, ``settle`` waits
    for what it left in the background (outside the timed loop)."""

    def __init__(self, name: str, model: Any) -> None:
        self.name, self.model, self.count = name, model, 0
        self.folder = WORK / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pending: Any = None
        self.checkpoints: Any = None
        if name == "torchsystem":
            from torchsystem.storage import Checkpoints

            self.checkpoints = Checkpoints(self.folder, keep=1)

    def call(self) -> None:
        self.count += 1
        if self.name == "torch.save":
            torch.save(state_of(self.model), self.folder / f"step-{self.count % 2}.pt")
        elif self.name == "dcp.async_save":
            import torch.distributed.checkpoint as dcp

            if self.pending is not None:
                self.pending.result()  # dcp allows one save in flight at a time
            self.pending = dcp.async_save(
                state_of(self.model), checkpoint_id=str(self.folder / f"step-{self.count % 2}")
            )
        elif self.name == "torchsystem":
            self.model.epoch = self.count
            self.checkpoints.save(self.model)

    def settle(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        if self.checkpoints is not None:
            self.checkpoints.flush()


def loop(
    variant: Variant, steps: int, every: int, batch: torch.Tensor,
) -> tuple[float, list[float]]:
    """Seconds for ``steps`` training steps with a checkpoint every ``every``; the stalls."""
    stalls = []
    gc.collect()
    synchronize(batch.device)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        variant.model.step(batch)
        if step % every == 0 and variant.name != "none":
            synchronize(batch.device)  # the step's kernels are not the call's stall
            called = time.perf_counter()
            variant.call()
            stalls.append(time.perf_counter() - called)
    synchronize(batch.device)
    elapsed = time.perf_counter() - start
    variant.settle()
    return elapsed, stalls


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (nothing to wait for on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def restore_times(
    model: Any, variants: dict[str, Variant], reps: int,
) -> dict[str, tuple[float, float]]:
    """Best seconds to restore the newest checkpoint, four ways: wall-clock and CPU time
    of this process (all its threads; on a busy machine the CPU time varies less)."""
    from torchsystem.storage import Checkpoints
    from torchsystem.storage.restore import set_epoch

    saved = variants["torchsystem"].checkpoints
    latest = saved.latest(model)
    assert latest is not None
    plain = variants["torch.save"].folder / f"step-{variants['torch.save'].count % 2}.pt"
    readers = {"Checkpoints.restore": Checkpoints(saved.directory, keep=1),
               "Checkpoints.restore, no checksums": Checkpoints(saved.directory, keep=1,
                                                                verify=False)}
    names = ["torch.load", "torch.load + load_state_dict", *readers]
    device = next(model.parameters()).device
    best = {name: (float("inf"), float("inf")) for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            _evict(plain, latest.path)
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            if name in readers:
                set_epoch(model, 0)
                readers[name].restore(model)
            else:
                state = torch.load(plain, weights_only=True)
                if name != "torch.load":
                    model.nn.load_state_dict(state["model"])
                    model.optimizer.load_state_dict(state["optimizer"])
            synchronize(device)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
            state = None
    for reader in readers.values():
        reader.close()
    return best


def _evict(*paths: Path) -> None:
    """Drop the files from the page cache where the OS allows it, so each restore reads
    the same way (from the cache when it cannot be dropped)."""
    for path in paths:
        if hasattr(os, "posix_fadvise"):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def part_one(args: argparse.Namespace) -> bool:
    torch.manual_seed(0)
    model = large(args.width, args.layers).to(args.device)
    parameters = sum(p.numel() for p in model.nn.parameters())
    size = sum(t.numel() * t.element_size() for t in state_of(model)["model"].values())
    batch = torch.randn(args.batch, args.width, device=args.device)
    names = ["none", "torch.save", "dcp.async_save", "torchsystem"]
    variants = {name: Variant(name, model) for name in names}
    for name in names[1:]:  # warm-up: first allocations, imports, dcp's first-use setup
        variants[name].call()
        variants[name].settle()
    loops: dict[str, list[float]] = {name: [] for name in names}
    stalls: dict[str, list[float]] = {name: [] for name in names}
    if args.part == "restore":
        return report_restore(model, variants, args)
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            elapsed, found = loop(variants[name], args.steps, args.every, batch)
            loops[name].append(elapsed)
            stalls[name].extend(found)
    checkpoints = args.steps // args.every
    best = {name: min(times) for name, times in loops.items()}
    print(f"Model: {parameters / 1e6:.1f}M parameters on {batch.device}, checkpoint "
          f"{size / 1e6:.0f} MB (+ optimizer state: none for plain SGD); {args.steps} steps of "
          f"batch {args.batch}, a checkpoint every {args.every}; best of {args.reps} loops per "
          "variant.\n")
    print("| variant | stall per call (median) | loop slowdown per checkpoint | x torch.save |")
    print("|---|---|---|---|")
    sync = statistics.median(stalls["torch.save"])
    for name in names[1:]:
        stall = statistics.median(stalls[name])
        slowdown = (best[name] - best["none"]) / checkpoints
        print(f"| {name} | {stall * 1e3:.0f} ms | {slowdown * 1e3:+.0f} ms "
              f"| {stall / sync:.2f} |")
    ours = statistics.median(stalls["torchsystem"])
    stall_ok = ours <= STALL_TARGET * sync
    print(f"\nstall {ours * 1e3:.0f} ms <= {STALL_TARGET} x {sync * 1e3:.0f} ms: "
          f"{'ok' if stall_ok else 'MISSED'}")
    restore_ok = report_restore(model, variants, args)
    return args.smoke or (stall_ok and restore_ok)


def report_restore(model: Any, variants: dict[str, Variant], args: argparse.Namespace) -> bool:
    from torchsystem.storage.checksums import crc32

    restored = restore_times(model, variants, max(args.reps, 7))
    print(f"\n| restore ({getattr(crc32, '__module__', None) or 'zlib'} CRC-32) "
          "| seconds (best) | CPU seconds (best) |")
    print("|---|---|---|")
    for name, (wall, cpu) in restored.items():
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    ours, reference = restored["Checkpoints.restore"][0], restored["torch.load"][0]
    ok = ours <= reference
    print(f"\nrestore {ours:.3f} s <= torch.load {reference:.3f} s: {'ok' if ok else 'MISSED'} "
          f"({ours / reference:.2f}x; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    variants["torchsystem"].checkpoints.close()
    return args.smoke or ok


# --- part 2: the digits loop with a checkpoint every epoch ------------------------------


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    return (torch.tensor(data.data / 16.0, dtype=torch.float32),
            torch.tensor(data.target, dtype=torch.long))


def fresh(data: tuple[torch.Tensor, torch.Tensor], batch: int) -> tuple[nn.Module, Any]:
    from torch.utils.data import DataLoader, TensorDataset

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


def aggregate(model: nn.Module, fit: Callable[..., Any] | None = None) -> Any:
    from torchsystem import Aggregate

    class Classifier(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch, self.nn, self.criterion = 0, model, nn.CrossEntropyLoss()
            self.optimizer = optimizer_of(model)

        id = "digits-mlp"

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if fit is not None:
                return fit(x, y)  # type: ignore[no-any-return]
            self.optimizer.zero_grad(set_to_none=True)
            output = self.nn(x)
            loss = self.criterion(output, y)
            loss.backward()
            self.optimizer.step()
            return output, loss

    return Classifier()


def consumers(checkpoints: bool) -> list[Any]:
    from torchsystem.consumers import EarlyStopping, ProgressBar, TensorBoard
    from torchsystem.storage import Checkpoints

    WORK.mkdir(parents=True, exist_ok=True)
    chosen: list[Any] = [
        ProgressBar(enable=True, file=open(os.devnull, "w")),  # noqa: SIM115
        TensorBoard(tempfile.mkdtemp(dir=WORK)),
        EarlyStopping("loss", phase="train", patience=1000),
    ]
    if checkpoints:
        chosen.append(Checkpoints(tempfile.mkdtemp(dir=WORK), keep=2))
    return chosen


def register(training: Any, checkpoints: bool) -> list[Any]:
    """The consumers on the service's producer; with checkpoints, a graceful stop too (it
    listens to every step), as the example has."""
    from torchsystem.storage import GracefulStop

    chosen = consumers(checkpoints)
    training.producer.register(*chosen)
    if checkpoints:
        training.producer.register(GracefulStop(training.producer))
    return chosen


def run_full(checkpoints: bool) -> Callable[[nn.Module, Any, int], None]:
    def run(model: nn.Module, loader: Any, epochs: int) -> None:
        from torchsystem.training import Accuracy, Training

        training = Training(metrics={"accuracy": Accuracy()})
        attached = register(training, checkpoints)
        training.fit(aggregate(model), [("train", loader)], epochs)
        for consumer in attached:
            getattr(consumer, "close", lambda: None)()

    return run


VARIANTS: dict[str, Callable[[nn.Module, Any, int], None]] = {
    "raw": run_raw, "full": run_full(False), "full+checkpoints": run_full(True),
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
    """Seconds per epoch: compute, DataLoader, and the framework around a model whose
    ``fit`` returns ready answers but whose state (the digits MLP and its optimizer) is
    checkpointed for real."""
    from torchsystem.training import Accuracy, Training

    model, loader = fresh(data, batch)
    optimizer, loss_fn, ready = optimizer_of(model), nn.CrossEntropyLoss(), list(loader)
    outputs = [(o, o.logsumexp(dim=1).mean()) for o in
               (torch.randn(len(y), 10, requires_grad=True) for _, y in ready)]
    answers = itertools.cycle(outputs)
    attached: list[Any] = []

    def framework(checkpoints: bool) -> Callable[[], None]:
        training = Training(metrics={"accuracy": Accuracy()})
        null = aggregate(fresh(data, batch)[0], lambda x, y: next(answers))
        attached.extend(register(training, checkpoints))
        return lambda: training.iterate(null, [("train", ready)]) and None

    def compute() -> None:
        for x, y in ready:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()

    timings: dict[str, Callable[[], None]] = {
        "compute": compute, "dataloader": lambda: [None for _ in loader] and None,
        "full": framework(False), "full+checkpoints": framework(True),
    }
    best = dict.fromkeys(timings, float("inf"))
    for _ in range(rounds):
        for name, part in timings.items():
            gc.disable()
            start = time.perf_counter()
            part()
            best[name] = min(best[name], time.perf_counter() - start)
            gc.enable()
    for consumer in attached:
        getattr(consumer, "close", lambda: None)()
    return best


def part_two(args: argparse.Namespace) -> bool:
    reps, rounds, short, long = args.loop_reps, args.rounds, 2, 12
    if args.smoke:
        reps, rounds, short, long = 1, 2, 1, 2
    data, ok = load_digits(), True
    print("\n| batch | raw s/epoch | full x raw | full+checkpoints x raw "
          "| checkpoint us/epoch (parts) | parts: full+checkpoints x raw | target |")
    print("|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        whole = whole_runs(data, batch, reps, short, long)
        part = parts(data, batch, rounds)
        raw = part["compute"] + part["dataloader"]
        ratio = (raw + part["full+checkpoints"]) / raw
        met = args.smoke or ratio <= LOOP_TARGET
        ok = ok and met
        print(f"| {batch} | {whole['raw']:.4f} | {whole['full'] / whole['raw']:.3f} "
              f"| {whole['full+checkpoints'] / whole['raw']:.3f} "
              f"| {(part['full+checkpoints'] - part['full']) * 1e6:+.0f} | {ratio:.3f} "
              f"| <= {LOOP_TARGET} {'ok' if met else 'MISSED'} |")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="rows per step (part 1)")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--loop-reps", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=60, help="timings of each part")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--smoke", action="store_true", help="a tiny run of each; no check")
    parser.add_argument("--part", choices=("1", "2", "both", "restore"), default="both",
                        help="1: the large model, 2: the digits loop, restore: only restoring")
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"),
                        help="where the large model of part 1 trains (cuda: on a GPU)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.loop_reps, args.rounds = 2, 3, 20
    if args.smoke:
        args.width, args.layers, args.steps, args.every, args.reps = 64, 2, 4, 2, 1
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
    warnings.filterwarnings("ignore", message=".*Detected an existing checkpoint.*")
    WORK.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        if args.part in ("1", "both", "restore"):
            ok = part_one(args) and ok
        if args.part in ("2", "both"):
            ok = part_two(args) and ok
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
