"""The process group: joined from ``torchrun``'s environment, a no-op in one process.

One small API for the rank, the world size and the barrier that answers sensibly in a
plain ``python`` process (rank 0 of 1) and under ``torchrun`` (read from the group once
it is joined, from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` before).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from torchsystem.training._collective import CollectiveError, broken, collective_failed

__all__ = [
    "CollectiveError",
    "barrier",
    "is_main",
    "join",
    "joined",
    "leave",
    "local_device",
    "local_rank",
    "rank",
    "world_size",
]

REQUIRED = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What ``torchrun`` (or any launcher following its contract) sets for each process."""


def joined() -> bool:
    """Whether this process belongs to an initialised default process group."""
    return dist.is_available() and dist.is_initialized()


def _environment(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer (torchrun sets it), got {value!r}") from None


def rank() -> int:
    """This process's rank: from the group once joined, else ``$RANK``, else 0."""
    return dist.get_rank() if joined() else _environment("RANK", 0)


def world_size() -> int:
    """How many processes train together: from the group once joined, else
    ``$WORLD_SIZE``, else 1."""
    return dist.get_world_size() if joined() else _environment("WORLD_SIZE", 1)


def local_rank() -> int:
    """This process's rank on its machine (``$LOCAL_RANK``, else 0): its GPU index."""
    return _environment("LOCAL_RANK", 0)


def local_device() -> str:
    """The device of this process: ``cuda:$LOCAL_RANK`` when every process on this machine
    has a GPU of its own (CUDA, and at least ``$LOCAL_WORLD_SIZE`` devices; ``$WORLD_SIZE``
    when unset), else ``'cpu'``. Every process of a machine answers alike, so they agree
    on the backend too (``'nccl'`` for ``cuda``, ``'gloo'`` for ``cpu``).

    Example:
        >>> local_device() in ("cpu", "cuda:0")
        True
    """
    processes = _environment("LOCAL_WORLD_SIZE", _environment("WORLD_SIZE", 1))
    if torch.cuda.is_available() and torch.cuda.device_count() >= processes:
        return f"cuda:{local_rank()}"
    return "cpu"


def is_main() -> bool:
    """Whether this is rank 0, the process that writes (logs, files, records)."""
    return rank() == 0


def join(backend: str | None = None, timeout: timedelta | float | None = None) -> bool:
    """Join the default process group from ``torchrun``'s environment; whether one is
    joined now.

    With ``$WORLD_SIZE`` unset or 1 nothing happens and ``False`` comes back (one
    process). Joining again is a no-op. ``backend`` defaults to ``'nccl'`` when each
    process of this machine has a GPU of its own (``local_device()``; the current device
    becomes ``cuda:$LOCAL_RANK`` first), else ``'gloo'`` (more processes than GPUs train
    on the CPU);
    ``timeout`` (seconds or a ``timedelta``; PyTorch's default when ``None``) bounds how
    long a collective waits for a rank that died or hangs before it fails.

    Raises:
        ValueError: ``$WORLD_SIZE`` > 1 but another of ``RANK``, ``MASTER_ADDR``,
            ``MASTER_PORT`` is missing (the process was not started by ``torchrun``).
    """
    if joined():
        return True
    if _environment("WORLD_SIZE", 1) <= 1:
        return False
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"$WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; start the program with "
            "torchrun (torchrun --nproc_per_node=N ...), which sets them for each process"
        )
    if backend is None:
        backend = "gloo" if local_device() == "cpu" else "nccl"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    waited = timedelta(seconds=timeout) if isinstance(timeout, (int, float)) else timeout
    if waited is None:
        dist.init_process_group(backend, init_method="env://")
    else:
        dist.init_process_group(backend, init_method="env://", timeout=waited)
    return True


def leave() -> None:
    """Leave the default process group (``destroy_process_group``); a no-op outside one.

    After a collective of this process failed (``CollectiveError``: a peer died), the
    group is aborted instead: tearing down gloo's connections to a dead peer can throw in
    a thread that cannot report it, which ends the process with SIGABRT after the error
    was shown.
    """
    if not joined():
        return
    abort = getattr(dist.distributed_c10d, "_abort_process_group", None)
    if collective_failed() and abort is not None:
        try:
            abort()
            return
        except (RuntimeError, ValueError, NotImplementedError):  # a backend that cannot
            pass
    dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank got here; a no-op in one process.

    Raises:
        CollectiveError: a rank died, hung or left before reaching it.
    """
    if not joined() or dist.get_world_size() == 1:
        return
    try:
        dist.barrier()
    except RuntimeError as error:
        raise broken(
            f"rank {dist.get_rank()} of {dist.get_world_size()}: the barrier failed; another "
            f"rank probably died, hung or left the group: {error}"
        ) from error
