"""Mixed precision for ``Optimization``: the autocast context and the gradient scaler."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor

__all__ = ["PRECISIONS", "Mixed", "precision_of"]

PRECISIONS = {
    "32-true": "32-true", "32": "32-true",
    "bf16-mixed": "bf16-mixed", "bf16": "bf16-mixed",
    "16-mixed": "16-mixed", "16": "16-mixed",
}
"""Accepted spellings (Lightning's among them) -> the precision they mean."""

_FULL = contextlib.nullcontext()  # reusable: entering it does nothing


def precision_of(value: Any) -> str:
    """``'32-true'``, ``'bf16-mixed'`` or ``'16-mixed'`` from any accepted spelling.

    Raises:
        ValueError: an unknown precision (the message lists the accepted ones).
    """
    spelled = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(spelled, str) and spelled in PRECISIONS:
        return PRECISIONS[spelled]
    accepted = ", ".join(repr(name) for name in PRECISIONS)
    raise ValueError(f"unknown precision {value!r}; use one of: {accepted}")


def _scaler(device_type: str) -> Any:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):  # torch 2.3 and later
        return amp.GradScaler(device_type)
    return torch.cuda.amp.GradScaler()  # pragma: no cover - torch 2.2


class Mixed:
    """Autocast and loss scaling for one precision, on the device of a parameter.

    The device is read at each use from ``parameter()`` (the optimizer's first
    parameter), so an aggregate built on the CPU and moved to a GPU afterwards (as a
    compiler step does) casts on the GPU. ``'16-mixed'`` makes a ``GradScaler`` at its
    first backward pass; a state loaded before then is applied to it when it is made.
    """

    __slots__ = ("_parameter", "_pending", "dtype", "precision", "scaler")

    def __init__(self, precision: str, parameter: Callable[[], Tensor]) -> None:
        self.precision, self._parameter = precision, parameter
        self.dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.scaler: Any = None
        self._pending: dict[str, Any] | None = None

    def device_type(self) -> str:
        """Where the parameters are now (``'cpu'``, ``'cuda'``...).

        Raises:
            ValueError: ``'16-mixed'`` on the CPU (float16 there is slow and needs no
                scaler: ``'bf16-mixed'`` is what mixed precision means on a CPU).
        """
        kind = self._parameter().device.type
        if kind == "cpu" and self.precision == "16-mixed":
            raise ValueError(
                "precision '16-mixed' (float16 with a gradient scaler) needs a GPU, but the "
                "optimizer's parameters are on the CPU; use precision='bf16-mixed' there"
            )
        return kind

    def autocast(self) -> AbstractContextManager[Any]:
        """``torch.autocast`` to the precision's dtype; nothing for ``'32-true'``."""
        if self.dtype is None:
            return _FULL
        return torch.autocast(self.device_type(), dtype=self.dtype)

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``, the loss scaled first where a scaler is needed."""
        if self.precision != "16-mixed":
            torch.autograd.backward(loss)
            return
        if self.scaler is None:
            self.scaler = _scaler(self.device_type())
            if self._pending is not None:
                self.scaler.load_state_dict(self._pending)
                self._pending = None
        self.scaler.scale(loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the loss scale (before clipping or rescaling them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; with a scaler, skipped when a gradient overflowed."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty when there is none)."""
        if self.scaler is not None:
            return dict(self.scaler.state_dict())
        return {} if self._pending is None else dict(self._pending)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scaler's state, now or when the scaler is made."""
        if not state:
            return
        if self.scaler is not None:
            self.scaler.load_state_dict(state)
        else:
            self._pending = dict(state)
