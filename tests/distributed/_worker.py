"""One rank of the jobs ``test_ranks.py`` starts (with torchrun's environment).

    python -m tests.distributed._worker train OUT CHECKPOINTS   # several checks, one job
    python -m tests.distributed._worker die OUT                  # rank 1 dies mid-epoch

Each rank writes what it saw to ``OUT/rank-<rank>.pt`` for the test to compare.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from tests.distributed._system import Accumulating, System, loaders, weights
from torchsystem.consumers import EarlyStopping
from torchsystem.distributed import barrier, leave, rank, replica, world_size
from torchsystem.services import Consumer
from torchsystem.training import Stepped, Trained
from torchsystem.training._collective import average_local_gradients

B = 8  # the batch of each rank; one process uses 2 * B


def equivalence(kind: str) -> dict[str, Any]:
    system = System()
    model = system.model()
    ran = system.training.fit(model, loaders(B, kind), epochs=3)
    return {"weights": weights(model), "measured": system.recorder.measured, "ran": ran,
            "written": len(system.written.measured), "replicated": replica(model.nn) is not None,
            "keys": sorted(model.state_dict())}


def accumulation() -> dict[str, Any]:
    """``Optimization(accumulate=3)``: one all-reduce per window, the leftover averaged."""
    system = System(aggregate=Accumulating)
    model = system.model()
    system.training.fit(model, loaders(B), epochs=3)
    return {"weights": weights(model), "all-reduces": system.hook.calls}


def averaging() -> dict[str, Any]:
    """Local gradients averaged by hand: one a rank lacks, one nobody has, two dtypes."""
    module = nn.ParameterDict({"a": torch.ones(2), "b": torch.ones(2), "unused": torch.ones(2),
                               "wide": torch.ones(2, dtype=torch.float64),
                               "sparse": torch.ones(2)})
    module["sparse"].grad = torch.sparse_coo_tensor([[0]], [2.0 * (rank() + 1)], (2,))
    module["a"].grad = torch.full((2,), float(rank() + 1))
    if rank() == 0:
        module["b"].grad = torch.full((2,), 4.0)
    module["wide"].grad = torch.full((2,), 2.0 * rank(), dtype=torch.float64)
    average_local_gradients(SimpleNamespace(process_group=dist.group.WORLD, module=module))
    return {name: None if parameter.grad is None else (parameter.grad.dtype,
                                                        parameter.grad.to_dense().tolist())
            for name, parameter in module.items()}


def local_stop() -> dict[str, Any]:
    """Only rank 1 asks to stop, after epoch 2: every rank must stop there."""
    system, stopper = System(), Consumer()

    @stopper.handler
    def stop_on_rank_one(event: Trained) -> None:
        if rank() == 1 and event.epoch == 2:
            event.model.events.enqueue(StopIteration("rank one asks to stop"))

    system.producer.register(stopper)
    model = system.model()
    ran = system.training.fit(model, loaders(B), epochs=6)
    return {"ran": ran, "epoch": model.epoch, "stopped": system.recorder.stopped}


def early_stopping() -> dict[str, Any]:
    """``EarlyStopping`` on every rank, watching the (global) training loss."""
    system = System()
    system.producer.register(EarlyStopping("loss", phase="train", mode="max", patience=2))
    model = system.model()
    ran = system.training.fit(model, loaders(B), epochs=8)
    return {"ran": ran, "epoch": model.epoch, "stopped": system.recorder.stopped}


def checkpointed(directory: Path) -> dict[str, Any]:
    """Two epochs with checkpoints, then a fresh system resumes them to epoch 4."""
    first = System(directory)
    model = first.model()
    first.training.fit(model, loaders(B), epochs=2)
    first.close()
    saved = len(first.checkpoints.saved) if first.checkpoints is not None else -1
    resumed_here = directory.with_name(directory.name + "-resumed")
    if rank() == 0:  # the test resumes the original in one process
        shutil.copytree(directory, resumed_here)
    barrier()
    second = System(resumed_here)
    resumed = second.model()
    assert second.checkpoints is not None
    train = loaders(B)
    second.checkpoints.restore_loaders(resumed, train)
    start = resumed.epoch
    second.training.fit(resumed, train, epochs=4)
    second.close()
    return {"saved": saved, "start": start, "weights": weights(resumed)}


def train(out: Path, checkpoints: Path) -> None:
    results = {
        "world": world_size(),
        "tensor": equivalence("tensor"),
        "data": equivalence("data"),
        "accumulation": accumulation(),
        "averaging": averaging(),
        "local-stop": local_stop(),
        "early-stopping": early_stopping(),
        "checkpointed": checkpointed(checkpoints),
    }
    torch.save(results, out / f"rank-{rank()}.pt")


def die(out: Path) -> None:
    """Rank 1 exits abruptly at its third step; rank 0 must fail, not hang."""
    system, killer = System(timeout=10.0), Consumer()

    @killer.handler
    def exit_abruptly(event: Stepped) -> None:
        if rank() == 1 and event.step == 3:
            os._exit(3)

    system.producer.register(killer)
    model = system.model()
    system.training.fit(model, loaders(B), epochs=50)
    torch.save({"finished": True}, out / f"rank-{rank()}.pt")


if __name__ == "__main__":
    torch.set_num_threads(1)
    scenario, *arguments = sys.argv[1:]
    try:
        if scenario == "train":
            train(Path(arguments[0]), Path(arguments[1]))
        else:
            die(Path(arguments[0]))
    finally:
        leave()
