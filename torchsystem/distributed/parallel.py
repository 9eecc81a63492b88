"""``DataParallel``: the compiler step that joins the group and replicates the networks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from torchsystem.distributed.world import join, local_rank
from torchsystem.training._collective import broken, remember_replica

__all__ = ["DataParallel", "average_gradients", "replica"]

M = TypeVar("M", bound=nn.Module)


class _Unwrapped(nn.Module):
    """What the replica runs: the network's own ``forward``, past the attribute that
    sends calls to the replica."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return type(self.network).forward(self.network, *args, **kwargs)


class _ThroughReplica:
    """The network's ``forward`` while it is replicated: the call goes through DDP, which
    runs the network's own forward and hooks the backward pass to average gradients."""

    def __init__(self, replicated: DistributedDataParallel) -> None:
        self.replica = replicated

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.replica(*args, **kwargs)

    def __reduce__(self) -> Any:
        raise TypeError(
            "a network replicated by DataParallel cannot be pickled or copied (its replica "
            "holds the process group); save or copy its state_dict(), which has the keys "
            "of the network alone"
        )


def replica(network: nn.Module) -> DistributedDataParallel | None:
    """The ``DistributedDataParallel`` a ``DataParallel`` step made for ``network``
    (use its ``no_sync()`` to accumulate gradients without communicating), else ``None``."""
    forward = network.__dict__.get("forward")
    return forward.replica if isinstance(forward, _ThroughReplica) else None


def average_gradients(state: Any, bucket: Any) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: the mean of a gradient bucket over every rank (DDP's own
    all-reduce), with a failure reported as ``CollectiveError`` naming this rank: a rank
    that died makes the others fail with that message, within the group's timeout."""
    tensor = bucket.buffer().div_(dist.get_world_size())
    future: torch.futures.Future[list[torch.Tensor]] = dist.all_reduce(
        tensor, async_op=True
    ).get_future()

    def reduced(done: torch.futures.Future[list[torch.Tensor]]) -> torch.Tensor:
        try:
            return done.value()[0]
        except RuntimeError as error:
            raise broken(
                f"rank {dist.get_rank()} of {dist.get_world_size()}: averaging gradients "
                "failed; another rank probably died, hung or left the group (its own log "
                f"and torchrun's summary name it): {error}"
            ) from error

    return future.then(reduced)


# DDP checks a hook's annotations at registration (the real classes, not strings)
average_gradients.__annotations__.update(
    bucket=dist.GradBucket,  # type: ignore[attr-defined]
    **{"return": torch.futures.Future[torch.Tensor]}
)


def _trainable(module: nn.Module, recurse: bool = True) -> bool:
    return any(parameter.requires_grad for parameter in module.parameters(recurse=recurse))


class DataParallel:
    """Compiler step: join the process group (``torchrun``'s environment) and wrap each
    network of the aggregate in ``DistributedDataParallel``; in one process, nothing.

    The networks are the aggregate's direct submodules with trainable parameters (or the
    ``modules`` named), or the aggregate itself when it holds trainable parameters of
    its own. Each stays where it is, the same object: calling it runs through its DDP
    replica (gradients are averaged across ranks in the backward pass) while its
    ``state_dict`` keeps its own keys, with no ``module.`` prefix, and its identity
    (registry hash, model id) is unchanged. So a checkpoint written by N processes loads
    in one and back, and optimizers built on its parameters keep working. A network on
    a GPU is moved to ``cuda:$LOCAL_RANK`` first. ``replica(network)`` gives the DDP
    object (``no_sync()``). Keyword ``options`` go to ``DistributedDataParallel``
    (``find_unused_parameters``, ``static_graph``...). Gradients are averaged by
    ``average_gradients`` (DDP's all-reduce, whose failure names the rank); pass
    ``comm_hook`` (and ``comm_state``) to use another DDP communication hook, such as
    ``torch.distributed.algorithms.ddp_comm_hooks.default_hooks.bf16_compress_hook``.

    ``backend`` (default ``'nccl'`` on CUDA, else ``'gloo'``) and ``timeout`` (seconds a
    collective waits for a rank that died or hangs) are used when the step joins the
    group. Register it after the steps that move the aggregate to its device (after
    ``Checkpoints.restore`` too: DDP then starts every rank from rank 0's weights).

    Raises:
        ValueError: a name in ``modules`` is not a submodule of the aggregate, or the
            aggregate has no trainable parameters.

    Example:
        >>> from torchsystem.compiler import Compiler
        >>> compiler = Compiler[nn.Module]()
        >>> step = compiler.register(DataParallel(timeout=60))
        >>> model = compiler.compile(nn.Linear(2, 1))  # one process: nothing to join
        >>> replica(model) is None
        True
    """

    def __init__(
        self, *, modules: Sequence[str] | None = None, backend: str | None = None,
        timeout: timedelta | float | None = None,
        comm_hook: Callable[..., Any] = average_gradients, comm_state: Any = None,
        **options: Any,
    ) -> None:
        self.modules = None if modules is None else tuple(modules)
        self.comm_hook, self.comm_state = comm_hook, comm_state
        self.backend, self.timeout, self.options = backend, timeout, options
        self.__name__ = "data_parallel"  # how the compiler lists the step

    def __call__(self, model: M) -> M:
        """Replicate ``model``'s networks across the group; return ``model``."""
        if not join(self.backend, self.timeout):
            return model
        for network in self.networks(model):
            if replica(network) is None:
                self._wrap(network)
        return model

    def networks(self, model: nn.Module) -> list[nn.Module]:
        """The modules of ``model`` this step replicates.

        Raises:
            ValueError: see the class.
        """
        if self.modules is not None:
            children = dict(model.named_children())
            unknown = [name for name in self.modules if name not in children]
            if unknown:
                raise ValueError(f"DataParallel(modules=...) names {unknown}, which are not "
                                 f"submodules of {type(model).__name__}; it has "
                                 f"{sorted(children)}")
            return [children[name] for name in self.modules]
        if _trainable(model, recurse=False):
            return [model]
        found = [child for child in model.children() if _trainable(child)]
        if not found:
            raise ValueError(f"{type(model).__name__} has no trainable parameters; there is "
                             "nothing for DataParallel to replicate")
        return found

    def _wrap(self, network: nn.Module) -> None:
        parameter = next(network.parameters())
        options = dict(self.options)
        if parameter.device.type == "cuda":
            device = torch.device("cuda", local_rank())
            network.to(device)
            options.setdefault("device_ids", [device.index])
        replicated = DistributedDataParallel(_Unwrapped(network), **options)
        replicated.register_comm_hook(self.comm_state, self.comm_hook)
        network.forward = _ThroughReplica(replicated)
        remember_replica(replicated)  # Optimization(accumulate=k) skips its syncs

    def __repr__(self) -> str:
        return f"DataParallel(modules={self.modules}, backend={self.backend!r})"
