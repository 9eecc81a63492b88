"""What a run record takes from the live model, read on the training thread.

The hyperparameters and learning rates come with the training events
(``torchsystem.training.hyperparameters`` reads them for ``Training``); this module adds
what only the run database needs, and reads them itself for events that do not carry
them (a hand-written service's, or torchsystem 1.3's).
"""

from __future__ import annotations

from typing import Any

from torchsystem.registry import getarguments, getname
from torchsystem.training.hyperparameters import hyperparameters, jsonable, learning_rates
from torchsystem.training.protocol import identify

__all__ = ["batch_size", "hyperparameters", "identify", "jsonable", "learning_rates",
           "model_name"]


def model_name(model: Any) -> str:
    """The aggregate's registered name, else its class name."""
    try:
        getarguments(model)
    except AttributeError:
        return type(model).__name__
    return getname(model)


def batch_size(loader: Any) -> int | None:
    """The loader's ``batch_size`` (``DataLoader``, ``TensorLoader``), if it has one."""
    size = getattr(loader, "batch_size", None)
    return size if isinstance(size, int) else None
