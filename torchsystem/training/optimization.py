"""``Optimization``: the optimiser step of an aggregate's ``fit``, with what a real loop needs.

Gradient accumulation, clipping, mixed precision and LR scheduling, each one argument,
around an optimizer the aggregate owns. The loop stays the aggregate's own: ``fit``
runs its forward pass under ``optimization.autocast()`` and hands the loss to
``optimization.step(loss)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils import clip_grad_norm_, clip_grad_value_

from torchsystem.training._collective import (
    average_local_gradients,
    replica_generation,
    replicas_holding,
)
from torchsystem.training._precision import Mixed, precision_of

__all__ = ["Optimization"]

_INTERVALS = ("step", "epoch")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of batches, 1 or more, got {value!r}")
    return value


def _limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 < value < math.inf
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


@contextmanager
def _without_sync(context: AbstractContextManager[Any], replicas: list[Any]) -> Iterator[Any]:
    """``context``, with each DDP replica's gradient all-reduce off for the passes run in
    it (``no_sync()``): their backward passes keep gradients local."""
    with ExitStack() as stack:
        for replicated in replicas:
            stack.enter_context(replicated.no_sync())
        yield stack.enter_context(context)


def _scheduler(scheduler: Any, optimizer: torch.optim.Optimizer) -> Any:
    if scheduler is None:
        return None
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise TypeError(
            "ReduceLROnPlateau steps on a metric, which Optimization does not see; keep it "
            "on the aggregate and call scheduler.step(value) where the metric is known "
            "(in onepoch(), or in a consumer of Validated)"
        )
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("the scheduler schedules another optimizer than the one given")
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
    return scheduler


class Optimization:
    """Backward passes and optimiser steps for an aggregate's ``fit``, as Lightning's flags.

    - ``accumulate=k``: ``step(loss)`` back-propagates ``loss / k`` and steps the
      optimizer every k-th call, so k batches of B samples give the gradient of one
      batch of kB (``accumulate_grad_batches``). ``flush()`` steps with what is left at
      the end of an epoch, the gradient rescaled to the mean of the batches it holds.
    - ``clip_norm`` / ``clip_value``: gradients clipped before each optimiser step by
      ``clip_grad_norm_`` (the total norm before clipping is kept in ``norm``) or
      ``clip_grad_value_`` (``gradient_clip_val``, ``gradient_clip_algorithm``).
    - ``precision``: ``'32-true'`` (default), ``'bf16-mixed'`` (autocast to bfloat16, on
      a CPU or a GPU) or ``'16-mixed'`` (float16 on a GPU, with a ``GradScaler``: the
      loss is scaled, gradients unscaled before clipping, and a step whose gradients
      overflowed is skipped). The device is the optimizer's parameters' at each use.
    - ``scheduler`` (of this optimizer), stepped after every optimiser step
      (``interval='step'``) or by ``end_epoch()`` (``interval='epoch'``, the default).

    Under ``torchrun``, with networks replicated by the ``DataParallel`` step, an
    accumulation window all-reduces its gradients once, not after every batch: the
    forward passes run in ``autocast()`` before the window's last batch are run under
    each replica's ``no_sync()``, so their backward passes keep gradients local, and the
    last batch's backward averages the window's sum over the ranks. ``flush()`` averages
    an incomplete window itself (every rank flushes together, as the ``Training``
    service does at the end of each pass). A forward pass run outside ``autocast()``
    synchronises as usual.

    Gradients are set to ``None`` after each optimiser step, so the hand-written
    ``zero_grad()`` goes (what ``fit`` back-propagates itself before ``step`` adds to the
    window). The ``Training`` service ends every training pass by calling
    ``flush()`` on each ``Optimization`` that is an attribute of the aggregate, then
    dispatches ``Trained`` (consumers see the learning rate the epoch used), then calls
    ``end_epoch()``; a hand-written loop calls ``end_epoch()`` after each epoch.

    ``state_dict()`` holds what a resume needs (the batches counted in the window and
    their gradients, optimiser steps taken, the scaler and the scheduler); as an
    attribute of the aggregate it is saved with it.

    Raises:
        TypeError: ``optimizer`` is not a ``torch.optim.Optimizer``; a
            ``ReduceLROnPlateau`` scheduler (it needs a metric: step it yourself).
        ValueError: a bad count, limit, precision or interval; both clip limits.

    Example:
        >>> from torch import nn
        >>> network = nn.Linear(4, 1)
        >>> optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
        >>> optimization = Optimization(optimizer, accumulate=2, clip_norm=1.0)
        >>> for _ in range(3):
        ...     with optimization.autocast():
        ...         loss = network(torch.randn(8, 4)).pow(2).mean()
        ...     stepped = optimization.step(loss)
        >>> optimization.steps, optimization.flush(), optimization.steps
        (1, True, 2)
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        accumulate: int = 1,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        precision: str | int = "32-true",
        scheduler: Any = None,
        interval: str = "epoch",
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r:.80}")
        if clip_norm is not None and clip_value is not None:
            raise ValueError("give clip_norm or clip_value, not both")
        if interval not in _INTERVALS:
            raise ValueError(f"interval must be 'step' or 'epoch', got {interval!r}")
        self.optimizer, self.accumulate = optimizer, _count("accumulate", accumulate)
        self.clip_norm, self.clip_value = _limit("clip_norm", clip_norm), _limit(
            "clip_value", clip_value
        )
        self.scheduler, self.interval = _scheduler(scheduler, optimizer), interval
        self.mixed = Mixed(precision_of(precision), self._first)
        self.counted = 0  # batches back-propagated in the current window
        self.steps = 0  # optimiser steps taken
        self.norm: Tensor | None = None
        self._local: list[Any] = []  # replicas whose window holds gradients not averaged
        self._found: tuple[int, list[Any]] = (0, [])  # (generation, replicas) looked up

    @property
    def precision(self) -> str:
        """``'32-true'``, ``'bf16-mixed'`` or ``'16-mixed'``."""
        return self.mixed.precision

    @property
    def scaler(self) -> Any:
        """The ``GradScaler`` of ``'16-mixed'`` (made at the first backward), else ``None``."""
        return self.mixed.scaler

    def _first(self) -> Tensor:
        first: Tensor = self.optimizer.param_groups[0]["params"][0]
        return first

    def _parameters(self) -> list[Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def autocast(self) -> AbstractContextManager[Any]:
        """The context to run the forward pass (and the loss) in: ``torch.autocast`` to
        the precision's dtype on the parameters' device (a no-op for ``'32-true'``);
        before the last batch of a window, also each DDP replica's ``no_sync()``."""
        context = self.mixed.autocast()
        if self.counted + 1 >= self.accumulate or not replica_generation():
            return context  # the window's last batch, or nothing replicated
        replicas = self._replicas()
        if not replicas:
            return context
        self._local = replicas
        return _without_sync(context, replicas)

    def _replicas(self) -> list[Any]:
        """The ``DataParallel`` replicas holding this optimizer's parameters (looked up
        again only when a replica was made since)."""
        generation, found = self._found
        if generation != replica_generation():
            found = replicas_holding(self._parameters())
            self._found = (replica_generation(), found)
        return found

    def step(self, loss: Tensor) -> bool:
        """Back-propagate this batch's ``loss`` (its batch mean) and, when the window of
        ``accumulate`` batches is full, take the optimiser step. True when it stepped."""
        accumulate = self.accumulate
        self.mixed.backward(loss if accumulate == 1 else loss / accumulate)
        self.counted += 1
        if self.counted < accumulate:
            return False
        self._apply(1.0)
        return True

    def flush(self) -> bool:
        """Step with the batches left in an incomplete window, their gradient rescaled
        to their mean (as if the window had been as long). True when it stepped."""
        if self.counted == 0:
            return False
        for replicated in self._local:  # the window's gradients are each rank's own
            average_local_gradients(replicated)
        self._apply(self.accumulate / self.counted)
        return True

    def end_epoch(self) -> None:
        """``flush()``, then step the scheduler when it is stepped per epoch."""
        self.flush()
        if self.scheduler is not None and self.interval == "epoch":
            self.scheduler.step()

    def _apply(self, rescale: float) -> None:
        optimizer, mixed = self.optimizer, self.mixed
        if rescale != 1.0 or self.clip_norm is not None or self.clip_value is not None:
            mixed.unscale(optimizer)
            parameters = [p for p in self._parameters() if p.grad is not None]
            if rescale != 1.0:
                for parameter in parameters:
                    parameter.grad.mul_(rescale)  # type: ignore[union-attr]
            if self.clip_norm is not None:
                self.norm = clip_grad_norm_(parameters, self.clip_norm)
            elif self.clip_value is not None:
                clip_grad_value_(parameters, self.clip_value)
        mixed.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        self.counted, self.steps, self._local = 0, self.steps + 1, []
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the window (its count and gradients), the steps taken, the
        scaler's state and the scheduler's.

        Under ``DataParallel``, the gradients of a window still open are this rank's own
        until its last batch (or ``flush()``) averages them."""
        gradients = []
        if self.counted:
            gradients = [None if p.grad is None else p.grad.detach().clone()
                         for p in self._parameters()]
        scheduler = None if self.scheduler is None else self.scheduler.state_dict()
        return {"counted": self.counted, "steps": self.steps, "gradients": gradients,
                "scaler": self.mixed.state_dict(), "scheduler": scheduler}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` left off (gradients go to their parameter's device).

        Raises:
            ValueError: ``state`` misses a key, or holds gradients for another number of
                parameters than the optimizer has.
        """
        missing = sorted({"counted", "steps", "gradients", "scaler", "scheduler"} - set(state))
        if missing:
            raise ValueError(f"not a state of Optimization: it misses {missing}")
        parameters, gradients = self._parameters(), list(state["gradients"])
        if gradients and len(gradients) != len(parameters):
            raise ValueError(
                f"the state holds gradients of {len(gradients)} parameters, but the "
                f"optimizer has {len(parameters)}"
            )
        for parameter, gradient in zip(parameters, gradients, strict=False):
            parameter.grad = None if gradient is None else gradient.to(parameter.device)
        self.counted, self.steps = int(state["counted"]), int(state["steps"])
        self.mixed.load_state_dict(state["scaler"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
