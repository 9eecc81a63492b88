"""Each rank's shard of one global order per ``(seed, epoch)``, for both kinds of loader.

Rank ``r`` of ``N`` takes positions ``r, r + N, r + 2N...`` of the permutation a single
process would draw, so batch ``k`` of every rank together is batch ``k`` of one process
whose batch is ``N`` times larger: two ranks with batch ``B`` see what one process with
batch ``2B`` sees. The permutation of epoch ``e`` is ``TensorLoader``'s: drawn from a
generator seeded with ``(seed, e)``, so it is the same in 1 and N processes and a resumed
run continues it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset
from torch.utils.data.sampler import RandomSampler

from torchsystem.distributed.world import rank, world_size
from torchsystem.domain.aggregate import trains
from torchsystem.training import TensorLoader

__all__ = ["ShardSampler", "ShardedLoader", "ShardedTensorLoader", "distribute", "shard"]

L = TypeVar("L")


def shard(
    size: int, rank: int, world: int, *, shuffle: bool, seed: int, epoch: int, even: bool,
) -> Tensor:
    """The indices rank ``rank`` of ``world`` takes in epoch ``epoch``: every ``world``-th
    position of the global order, from position ``rank``.

    ``even=True`` (training) pads the order by repeating its start, as
    ``DistributedSampler`` does, so every rank gets as many samples (and steps: DDP needs
    it); ``even=False`` (evaluation) counts every sample exactly once.
    """
    if shuffle:
        generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
        order = torch.randperm(size, generator=generator)
    else:
        order = torch.arange(size)
    if even and size % world:
        padding = world - size % world
        order = torch.cat([order, order.repeat(-(-padding // size))[:padding]])
    return order[rank::world]


def _checked(rank: int, world: int) -> None:
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world}")


class ShardedTensorLoader(TensorLoader):
    """``TensorLoader`` that yields only this rank's shard of each epoch's order.

    The same arguments as ``TensorLoader``, plus ``rank``/``world_size`` (default: this
    process's) and ``even`` (see ``shard``). ``state_dict()`` is ``TensorLoader``'s.

    Raises:
        ValueError: ``rank`` is not in ``[0, world_size)``.

    Example:
        >>> x = torch.arange(8.0)
        >>> first = ShardedTensorLoader(x, batch_size=2, shuffle=False, rank=0, world_size=2)
        >>> [batch.tolist() for batch, in first]
        [[0.0, 2.0], [4.0, 6.0]]
    """

    def __init__(
        self, *tensors: Tensor, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
        drop_last: bool = False, device: torch.device | str | None = None,
        rank: int | None = None, world_size: int | None = None, even: bool = True,
    ) -> None:
        super().__init__(*tensors, batch_size=batch_size, shuffle=shuffle, seed=seed,
                         drop_last=drop_last, device=device)
        self.rank = _rank() if rank is None else rank
        self.world_size = _world_size() if world_size is None else world_size
        _checked(self.rank, self.world_size)
        self.even = even

    def _samples(self) -> int:
        size, world = len(self.tensors[0]), self.world_size
        if self.even:
            return -(-size // world)
        return len(range(self.rank, size, world))

    def __len__(self) -> int:
        samples = self._samples()
        return samples // self.batch_size if self.drop_last else -(-samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        mine = shard(len(self.tensors[0]), self.rank, self.world_size, shuffle=self.shuffle,
                     seed=self.seed, epoch=self.epoch, even=self.even)
        self.epoch += 1
        mine = mine.to(self.tensors[0].device)
        tensors = tuple(t.index_select(0, mine) for t in self.tensors)
        size, step = len(mine), self.batch_size
        stop = size - size % step if self.drop_last else size
        if stop == 0:
            return
        if stop < size:
            tensors = tuple(t[:stop] for t in tensors)
        yield from zip(*(torch.split(t, step) for t in tensors), strict=True)

    def __repr__(self) -> str:
        return (f"Sharded{super().__repr__()[:-1]}, rank={self.rank}, "
                f"world_size={self.world_size})")


class ShardSampler(DistributedSampler[int]):
    """``DistributedSampler`` drawing ``shard``'s order (``TensorLoader``'s permutation),
    with ``even=False`` for evaluation (no sample repeated). ``set_epoch`` as usual.

    Example:
        >>> list(ShardSampler(range(5), num_replicas=2, rank=1, shuffle=False, even=False))
        [1, 3]
    """

    def __init__(
        self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
        shuffle: bool = True, seed: int = 0, even: bool = True,
    ) -> None:
        replicas = _world_size() if num_replicas is None else num_replicas
        chosen = _rank() if rank is None else rank
        _checked(chosen, replicas)
        super().__init__(dataset, num_replicas=replicas, rank=chosen, shuffle=shuffle,
                         seed=seed, drop_last=False)
        self.even = even
        if not even:
            self.num_samples = len(range(chosen, len(dataset), replicas))

    def __iter__(self) -> Iterator[int]:
        order = shard(len(self.dataset), self.rank, self.num_replicas,  # type: ignore[arg-type]
                      shuffle=self.shuffle, seed=self.seed, epoch=self.epoch, even=self.even)
        return iter(order.tolist())


class ShardedLoader:
    """A ``DataLoader`` over a ``ShardSampler`` that is told the epoch before each pass.

    Iterating calls ``sampler.set_epoch(epoch)`` then counts the epoch, so every pass is
    reshuffled, reproducibly; ``state_dict()``/``load_state_dict()`` hold the seed and the
    epoch, so a resumed run continues the order (``Checkpoints.restore_loaders``).

    Example:
        >>> loader = ShardedLoader(list(range(6)), batch_size=2, rank=0, world_size=2)
        >>> len(loader), sum(len(batch) for batch in loader)
        (2, 3)
    """

    def __init__(
        self, dataset: Dataset[Any] | Sequence[Any], *, batch_size: int = 1,
        shuffle: bool = True, seed: int = 0, even: bool = True, rank: int | None = None,
        world_size: int | None = None, **options: Any,
    ) -> None:
        self.sampler = ShardSampler(dataset, world_size, rank, shuffle, seed, even)
        self.loader: DataLoader[Any] = DataLoader(
            dataset, batch_size=batch_size, sampler=self.sampler, **options  # type: ignore[arg-type]
        )
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)

    def state_dict(self) -> dict[str, Any]:
        """The seed and how many epochs were drawn."""
        return {"seed": self.sampler.seed, "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the order where ``state`` left it."""
        self.sampler.seed, self.epoch = int(state["seed"]), int(state["epoch"])

    def __repr__(self) -> str:
        return (f"ShardedLoader(batch_size={self.loader.batch_size}, rank={self.sampler.rank}, "
                f"world_size={self.sampler.num_replicas})")


_rank, _world_size = rank, world_size

_KEPT = ("num_workers", "collate_fn", "pin_memory", "drop_last", "timeout", "worker_init_fn",
         "multiprocessing_context", "persistent_workers", "prefetch_factor")


def _sharded_data_loader(loader: DataLoader[Any], even: bool, seed: int) -> ShardedLoader:
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        raise TypeError(
            "distribute shards a DataLoader over a map-style dataset with a batch_size; "
            "an IterableDataset (or a custom batch_sampler) must shard itself by "
            "torchsystem.distributed.rank()/world_size()"
        )
    options = {name: getattr(loader, name) for name in _KEPT}
    if options["num_workers"] == 0:
        options.pop("prefetch_factor")
        options.pop("persistent_workers")
    shuffle = isinstance(loader.sampler, RandomSampler)
    return ShardedLoader(loader.dataset, batch_size=loader.batch_size, shuffle=shuffle,
                         seed=seed, even=even, **options)


def _one(loader: Any, even: bool, seed: int) -> Any:
    if isinstance(loader, ShardedTensorLoader | ShardedLoader):
        return loader
    if isinstance(loader, TensorLoader):
        if _world_size() == 1:
            return loader  # its order already is the global one
        return ShardedTensorLoader(*loader.tensors, batch_size=loader.batch_size,
                                   shuffle=loader.shuffle, seed=loader.seed,
                                   drop_last=loader.drop_last, even=even)
    if isinstance(loader, DataLoader):
        return _sharded_data_loader(loader, even, seed)
    raise TypeError(
        f"distribute shards a TensorLoader or a DataLoader, got {type(loader).__name__}; "
        "shard other iterables yourself with torchsystem.distributed.rank()/world_size()"
    )


@overload
def distribute(loaders: TensorLoader | DataLoader[Any], *, even: bool = ...,
               seed: int = ...) -> Any: ...


@overload
def distribute(loaders: Mapping[str, Any], *, even: bool = ...,
               seed: int = ...) -> dict[str, Any]: ...


@overload
def distribute(loaders: Iterable[tuple[str, Any]], *, even: bool = ...,
               seed: int = ...) -> list[tuple[str, Any]]: ...


def distribute(loaders: Any, *, even: bool | None = None, seed: int = 0) -> Any:
    """This rank's shard of a loader, or of every loader of ``(phase, loader)`` pairs or a
    mapping (as ``Training.fit`` takes them).

    A ``TensorLoader`` becomes a ``ShardedTensorLoader`` (in one process it comes back
    as it is: its order already is the global one); a ``DataLoader`` a ``ShardedLoader``
    with the same batch size and options, shuffled (``seed``) when it was, also in one
    process so its order is the same in 1 and N processes. Training phases get even
    shards (``even=True``), evaluation phases exact ones; pass ``even`` to choose.

    Raises:
        TypeError: a loader is neither; a DataLoader over an ``IterableDataset``.
    """
    if isinstance(loaders, Mapping):
        return {phase: _one(loader, trains(phase) if even is None else even, seed)
                for phase, loader in loaders.items()}
    if isinstance(loaders, (TensorLoader, DataLoader)):
        return _one(loaders, True if even is None else even, seed)
    return [(phase, _one(loader, trains(phase) if even is None else even, seed))
            for phase, loader in loaders]
