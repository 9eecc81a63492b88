"""``TensorLoader``: batches of in-memory tensors, without DataLoader's per-sample collate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["TensorLoader"]


class TensorLoader:
    """Iterate over equal-length tensors in batches, reshuffled (seeded) every epoch.

    Each epoch draws one permutation from a generator seeded with ``(seed, epoch)``,
    gathers every tensor once in that order (one copy of the data per epoch) and yields
    batches as views of it (``Tensor.split``). The order of epoch ``k`` depends only on ``seed`` and
    ``k``, so a run is reproducible and resumes in constant time (``load_state_dict``).
    ``device`` moves the tensors once, up front.

    Example:
        >>> x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
        >>> loader = TensorLoader(x, y, batch_size=4, shuffle=False)
        >>> len(loader), [len(b) for b, _ in loader]
        (3, [4, 4, 2])
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"TensorLoader tensors differ in length (first dimension): {shapes}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.tensors = tuple(t if device is None else t.to(device) for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        size = len(self.tensors[0])
        if self.drop_last:
            return size // self.batch_size
        return -(-size // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        tensors = self.tensors
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
            order = torch.randperm(len(tensors[0]), generator=generator)
            order = order.to(tensors[0].device)
            tensors = tuple(t.index_select(0, order) for t in tensors)
        self.epoch += 1
        size, step = len(tensors[0]), self.batch_size
        stop = size - size % step if self.drop_last else size
        if stop == 0:  # split would yield one empty batch
            return
        if stop < size:
            tensors = tuple(t[:stop] for t in tensors)
        yield from zip(*(torch.split(t, step) for t in tensors), strict=True)  # views

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return f"TensorLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle})"

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the seed and how many epochs were drawn."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the shuffling sequence where ``state`` left it."""
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
