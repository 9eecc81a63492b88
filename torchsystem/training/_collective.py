"""Across processes: a pass's metrics and an epoch's early stop, agreed by every rank.

Both are no-ops unless ``torch.distributed``'s default process group is initialised with
more than one process (``torchrun``); then they cost one small collective per pass and
per epoch, never one per step.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from torchsystem.training.events import Metric

__all__ = ["CollectiveError", "agree_on_stop", "reduce_metrics", "world_size"]


class CollectiveError(RuntimeError):
    """A collective of the training service failed: another rank died, hung or left.

    Example:
        >>> str(CollectiveError("rank 0 of 2: ..."))
        'rank 0 of 2: ...'
    """


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
    return CollectiveError(
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
