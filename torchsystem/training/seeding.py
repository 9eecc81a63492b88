"""``seed_everything``: one call seeds Python, NumPy, torch and the loaders given."""

from __future__ import annotations

import random
from typing import Any

import torch

from torchsystem.training._arguments import describe

__all__ = ["seed_everything"]


def _generators(loader: Any) -> list[torch.Generator]:
    """The generators a ``DataLoader`` shuffles with: its own, its sampler's, its batch
    sampler's sampler's (each once)."""
    found: list[torch.Generator] = []
    sampler = getattr(loader, "sampler", None)
    inner = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
    for owner in (loader, sampler, inner):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def seed_everything(seed: int, *loaders: Any) -> int:
    """Seed Python's ``random``, NumPy's global generator (when NumPy is installed), torch
    on every device, and each loader given; return ``seed``.

    A loader with a ``seed`` (``TensorLoader``) takes it; a ``DataLoader`` has the
    generator it shuffles with seeded (its own, or its sampler's), or, having none,
    follows torch's global generator, seeded here. DataLoader workers are seeded by
    torch from that generator (``random``, torch and NumPy in each worker), so the data
    order and augmentations repeat. Call it first, before models and loaders are made.

    Raises:
        TypeError: ``seed`` is not an int; a loader has nothing that can be seeded.
        ValueError: ``seed`` outside ``0 .. 2**32 - 1`` (NumPy's range).

    Example:
        >>> from torchsystem.training import TensorLoader
        >>> loader = TensorLoader(torch.arange(6.0), batch_size=2)
        >>> seed_everything(7, loader), loader.seed
        (7, 7)
        >>> first = torch.rand(2); _ = seed_everything(7); torch.equal(first, torch.rand(2))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {describe(seed)}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}")
    for loader in loaders:  # refuse before anything is seeded
        if not hasattr(loader, "seed") and not hasattr(loader, "sampler"):
            raise TypeError(
                f"cannot seed {describe(loader)}: seed_everything seeds loaders with a `seed` "
                "(TensorLoader) and DataLoaders"
            )
    random.seed(seed)
    try:
        import numpy
    except ImportError:  # pragma: no cover - NumPy is optional
        pass
    else:
        numpy.random.seed(seed)
    torch.manual_seed(seed)  # every device's default generator, CUDA included
    for loader in loaders:
        if hasattr(loader, "seed"):
            loader.seed = seed
        for generator in _generators(loader):
            generator.manual_seed(seed)
    return seed
