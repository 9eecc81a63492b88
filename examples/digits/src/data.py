"""The data: scikit-learn's bundled digits (8x8 images), split into train and validation."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from torchsystem.training import TensorLoader


def digits(
    batch_size: int = 32, validation: float = 0.2, seed: int = 0
) -> list[tuple[str, TensorLoader]]:
    """``[('train', loader), ('validation', loader)]`` over tensors kept in memory."""
    data = load_digits()
    inputs = torch.tensor(data.data / 16.0, dtype=torch.float32)
    targets = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(seed))
    cut = int(len(inputs) * (1 - validation))
    train, held_out = order[:cut], order[cut:]
    return [
        ("train", TensorLoader(inputs[train], targets[train], batch_size=batch_size, seed=seed)),
        ("validation", TensorLoader(inputs[held_out], targets[held_out], shuffle=False)),
    ]
