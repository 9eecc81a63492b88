#!/usr/bin/env python3
"""Gradient accumulation under ``torchrun``: one all-reduce per window against one per batch.

Each rank trains the same MLP (``--width`` -> ``--hidden`` -> ``--width``, plain SGD) through
the ``DataParallel`` compiler step and ``Optimization(accumulate=k)``, on batches of
``--batch`` random rows, both ways in the same run, from the same weights:

- ``every batch``: the forward pass outside ``optimization.autocast()``, so DDP all-reduces
  after every backward (what a hand-written accumulation over a DDP model does);
- ``once per window``: the forward pass in ``optimization.autocast()``, so the batches
  before the window's last run under ``no_sync()``.

It reports the median time per window over ``--reps`` repetitions of ``--windows``
windows, the all-reduces per window (counted by the communication hook) and how far the
two ways' final weights are apart (the same mean gradient, summed in another order).
Run it as it is: it starts ``--ranks`` processes with ``torch.distributed.run`` (gloo on
the CPU), and each rank uses one thread.

    python benchmarks/ddp_accumulation.py            # what `make bench` reports
    python benchmarks/ddp_accumulation.py --smoke    # a tiny run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch import Tensor, nn

MODES = {"every batch": False, "once per window": True}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=16, help="rows per batch and rank")
    parser.add_argument("--accumulate", type=int, default=4)
    parser.add_argument("--windows", type=int, default=8, help="windows per repetition")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.hidden, args.windows, args.reps = 8, 16, 2, 1
    return args


def network(args: argparse.Namespace) -> Any:
    from torchsystem import Aggregate
    from torchsystem.training import Optimization

    class Network(Aggregate):
        id = "ddp-accumulation"

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.nn = nn.Sequential(nn.Linear(args.width, args.hidden), nn.ReLU(),
                                    nn.Linear(args.hidden, args.width))
            self.optimization = Optimization(
                torch.optim.SGD(self.nn.parameters(), lr=0.01), accumulate=args.accumulate
            )

        def fit(self, inputs: Tensor, target: Tensor, once: bool) -> None:
            if once:
                with self.optimization.autocast():
                    loss = nn.functional.mse_loss(self.nn(inputs), target)
            else:
                loss = nn.functional.mse_loss(self.nn(inputs), target)
            self.optimization.step(loss)

    return Network()


def rank_main(args: argparse.Namespace) -> None:
    """One rank: both ways, interleaved; rank 0 prints the table."""
    from torchsystem.compiler import Compiler
    from torchsystem.distributed import DataParallel, leave, rank
    from torchsystem.distributed.parallel import average_gradients

    torch.set_num_threads(1)
    calls = [0]

    def counted(state: Any, bucket: Any) -> Any:
        calls[0] += 1
        return average_gradients(state, bucket)

    counted.__annotations__.update(average_gradients.__annotations__)  # DDP checks them
    generator = torch.Generator().manual_seed(rank())
    batches = [(torch.randn(args.batch, args.width, generator=generator),
                torch.randn(args.batch, args.width, generator=generator))
               for _ in range(args.accumulate)]
    models, seconds, reduces = {}, {mode: [] for mode in MODES}, {}
    for mode, once in MODES.items():
        torch.manual_seed(0)  # the same weights both ways
        compiler = Compiler[Any]()
        compiler.register(lambda: network(args))
        compiler.register(DataParallel(timeout=120, comm_hook=counted))
        models[mode] = compiler.compile()
        models[mode].fit(*batches[0], once)  # warm up: the first backward builds buckets
        models[mode].optimization.flush()
    for _ in range(args.reps):
        for mode, once in MODES.items():
            model, before = models[mode], calls[0]
            start = time.perf_counter()
            for _ in range(args.windows):
                for inputs, target in batches:
                    model.fit(inputs, target, once)
            seconds[mode].append((time.perf_counter() - start) / args.windows)
            reduces[mode] = (calls[0] - before) / args.windows
    first, second = (dict(model.nn.state_dict()) for model in models.values())
    gap = max(float((first[key] - second[key]).abs().max()) for key in first)
    if rank() == 0:
        report(args, seconds, reduces, gap)
    leave()


def report(args: argparse.Namespace, seconds: dict[str, list[float]],
           reduces: dict[str, float], gap: float) -> None:
    parameters = 2 * args.width * args.hidden + args.hidden + args.width
    print(f"{args.ranks} ranks (gloo, one thread each), MLP {args.width}-{args.hidden}-"
          f"{args.width} ({parameters / 1e6:.1f}M parameters), batch {args.batch} per rank, "
          f"windows of {args.accumulate}; torch {torch.__version__}\n")
    print("| gradients all-reduced | ms per window (median) | bucket all-reduces per window "
          "| x every batch |")
    print("|---|---|---|---|")
    baseline = statistics.median(seconds["every batch"])
    for mode, times in seconds.items():
        median = statistics.median(times)
        print(f"| {mode} | {median * 1e3:.1f} | {reduces[mode]:g} | {median / baseline:.2f} |")
    print(f"\nmax |w_every - w_once| after both runs: {gap:.1e}")


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """Start ``--ranks`` ranks of this script with ``torch.distributed.run``."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={args.ranks}", os.path.abspath(__file__), *argv]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True,
                              check=False)
    print(finished.stdout, end="")
    if finished.returncode:
        print(finished.stderr[-4000:], file=sys.stderr)
    return finished.returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = arguments(argv)
    if "LOCAL_RANK" not in os.environ:
        return launch(args, argv)
    rank_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
