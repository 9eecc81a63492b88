"""Across processes: a pass's metrics and an epoch's early stop, agreed by every rank.

Both are no-ops unless ``torch.distributed``'s default process group is initialised with
more than one process (``torchrun``); then they cost one small collective per pass and
per epoch, never one per step.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from torchsystem.training.events import Metric

__all__ = [
    "CollectiveError",
    "agree_on_stop",
    "average_local_gradients",
    "broken",
    "collective_failed",
    "reduce_metrics",
    "remember_replica",
    "replica_generation",
    "replicas_holding",
    "world_size",
]

_replicas: list[weakref.ReferenceType[Any]] = []
"""The ``DistributedDataParallel`` replicas ``DataParallel`` made in this process."""
_generation = [0]  # one more each time a replica is made: cached look-ups start over


class CollectiveError(RuntimeError):
    """A collective of the training service failed: another rank died, hung or left.

    Example:
        >>> str(CollectiveError("rank 0 of 2: ..."))
        'rank 0 of 2: ...'
    """


_broken = [False]


def broken(message: str) -> CollectiveError:
    """The ``CollectiveError`` to raise when a collective of this process failed; the
    process's group is marked broken (``collective_failed()``), so that ``leave()``
    aborts it instead of tearing it down politely."""
    _broken[0] = True
    return CollectiveError(message)


def collective_failed() -> bool:
    """Whether a collective of this process failed (a peer is gone)."""
    return _broken[0]


def world_size() -> int:
    """The number of processes in the default group; 1 when there is none."""
    if not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


def _device() -> torch.device:
    """Where the collective's tensors live: the current GPU under NCCL, else the host."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _failed(what: str, error: Exception) -> CollectiveError:
    rank, size = dist.get_rank(), dist.get_world_size()
    return broken(
        f"rank {rank} of {size}: {what} failed; another rank probably died, hung or left "
        f"the group (its own log and torchrun's summary name it): {error}"
    )


def reduce_metrics(metrics: tuple[Metric, ...], samples: int) -> tuple[Metric, ...]:
    """Each metric averaged over every rank, weighted by the ``samples`` each rank saw.

    For the mean loss and any per-sample mean (accuracy) this is the value of the whole
    pass; a metric that synchronises itself (torchmetrics) is already global and stays
    as it is. Every rank must report the same metric names, in the same order.

    Raises:
        CollectiveError: the all-reduce failed (a rank died or the group timed out).
    """
    if world_size() == 1:
        return metrics
    weighted = [metric.value * samples for metric in metrics]
    sums = torch.tensor([*weighted, float(samples)], dtype=torch.float64, device=_device())
    try:
        dist.all_reduce(sums)
    except RuntimeError as error:
        raise _failed("the all-reduce of the pass's metrics", error) from error
    *totals, count = sums.tolist()
    return tuple(Metric(metric.name, total / count)
                 for metric, total in zip(metrics, totals, strict=True))


def agree_on_stop(stop: StopIteration | None) -> StopIteration | None:
    """The epoch's early stop, decided together: if any rank stops, every rank stops.

    A rank that did not stop itself gets a ``StopIteration`` naming the first rank that
    did and its reason, so every rank ends at the same epoch.

    Raises:
        CollectiveError: the collective failed (a rank died or the group timed out).
    """
    if world_size() == 1:
        return stop
    flags = torch.zeros(dist.get_world_size(), dtype=torch.int32, device=_device())
    flags[dist.get_rank()] = int(stop is not None)
    try:
        dist.all_reduce(flags)
        stopped = [rank for rank, flag in enumerate(flags.tolist()) if flag]
        if not stopped:
            return None
        reasons: list[str | None] = [None] * len(flags)
        dist.all_gather_object(reasons, None if stop is None else str(stop))
    except RuntimeError as error:
        raise _failed("agreeing on the epoch's early stop", error) from error
    if stop is not None:
        return stop
    return StopIteration(f"rank {stopped[0]} stopped: {reasons[stopped[0]]}")


def remember_replica(replicated: Any) -> None:
    """Note a replica ``DataParallel`` made (held weakly), so that ``Optimization`` can
    find the replicas of its parameters."""
    _replicas[:] = [reference for reference in _replicas if reference() is not None]
    _replicas.append(weakref.ref(replicated))
    _generation[0] += 1


def replica_generation() -> int:
    """How many replicas this process has made: 0 in a process that made none."""
    return _generation[0]


def replicas_holding(parameters: list[Tensor]) -> list[Any]:
    """The live replicas whose network holds any of ``parameters``."""
    wanted = {id(parameter) for parameter in parameters}
    found = []
    for reference in _replicas:
        replicated = reference()
        if replicated is not None and any(
            id(parameter) in wanted for parameter in replicated.module.parameters()
        ):
            found.append(replicated)
    return found


def average_local_gradients(replicated: Any) -> None:
    """Average over the replica's group the gradients its network kept local (backward
    passes under ``no_sync()``), as DDP's own all-reduce would have: the mean over the
    ranks, for every parameter that has a gradient on any rank.

    Every rank of the group must call it at the same point (one small all-reduce for
    which parameters have gradients, then one per gradient dtype).

    Raises:
        CollectiveError: an all-reduce failed (a rank died or the group timed out).
    """
    group = replicated.process_group
    size = dist.get_world_size(group)
    parameters = [parameter for parameter in replicated.module.parameters()
                  if parameter.requires_grad]
    if size == 1 or not parameters:
        return
    try:
        held = torch.tensor([parameter.grad is not None for parameter in parameters],
                            dtype=torch.float32, device=parameters[0].device)
        dist.all_reduce(held, group=group)
        used = [parameter for parameter, flag in zip(parameters, held.tolist(), strict=True)
                if flag]
        by_dtype: dict[torch.dtype, list[Tensor]] = {}
        for parameter in used:
            if parameter.grad is not None and parameter.grad.is_sparse:
                dist.all_reduce(parameter.grad, group=group)
                parameter.grad.div_(size)
            else:
                by_dtype.setdefault(parameter.dtype, []).append(parameter)
        for same in by_dtype.values():
            flat = torch.cat([
                (torch.zeros_like(parameter) if parameter.grad is None else parameter.grad)
                .reshape(-1) for parameter in same
            ])
            dist.all_reduce(flat, group=group)
            flat.div_(size)
            sizes = [parameter.numel() for parameter in same]
            for parameter, chunk in zip(same, torch.split(flat, sizes), strict=True):
                if parameter.grad is None:
                    parameter.grad = chunk.view_as(parameter).clone()
                else:
                    parameter.grad.copy_(chunk.view_as(parameter))
    except RuntimeError as error:
        raise _failed("averaging the gradients of an accumulation window", error) from error
