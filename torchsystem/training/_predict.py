"""The ``predict`` handler's loop: one output per batch, under inference mode."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from torchsystem.training._arguments import describe
from torchsystem.training._phase import unpack

__all__ = ["check_batches", "predictions"]


def check_batches(loader: Any) -> None:
    """Refuse what is not an iterable of batches before anything runs.

    Raises:
        TypeError: a tensor (iterating it would yield rows, not batches), or something
            that cannot be iterated.
    """
    if isinstance(loader, Tensor):
        raise TypeError(
            f"predict takes batches (a loader, or a list of batches), got a tensor of shape "
            f"{tuple(loader.shape)}; for one batch pass [inputs]"
        )
    if not isinstance(loader, Iterable):
        raise TypeError(
            f"predict takes batches (a loader, or a list of batches), got {describe(loader)}"
        )


def predictions(
    model: Any, loader: Iterable[Any], device: torch.device, limit: int | None,
) -> Iterator[Any]:
    """``model.predict(*batch)`` (else ``model(*batch)``) for each batch, by the batch rule.

    The model is put in phase ``'evaluation'`` when the first batch is asked for; each
    call runs under ``torch.inference_mode()``, which is left before the output is
    yielded, so the caller's code between batches runs with gradients as it had them.
    """
    method = getattr(model, "predict", None)
    call = method if callable(method) else model
    batches = loader if limit is None else itertools.islice(loader, limit)
    model.phase = "evaluation"
    for batch in batches:
        args, kwargs, _ = unpack(batch, device)
        with torch.inference_mode():
            output = call(*args, **kwargs)
        yield output
