"""``Compiler``: build an aggregate step by step; ``compile``: ``torch.compile`` in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import torch
from torch import nn

from torchsystem._container import Container
from torchsystem.depends import Depends, Provider, inject

__all__ = ["Compiler", "Depends", "compile"]

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)
Step = TypeVar("Step", bound=Callable[..., Any])


class Compiler(Container, Generic[T]):
    """A pipeline of injected steps that builds (and compiles) an aggregate.

    ``compile(*args, **kwargs)`` calls the first step with the arguments, then passes
    each step's result to the next one (a tuple is spread as positional arguments). Any
    value is passed on, ``None`` and other falsy ones included. The last step's result is
    returned.

    Example:
        >>> compiler = Compiler[int]()
        >>> @compiler.step
        ... def build(width: int) -> tuple[int, int]:
        ...     return width, 2
        >>> @compiler.step
        ... def scale(width: int, factor: int) -> int:
        ...     return width * factor
        >>> compiler.compile(32)
        64
    """

    def __init__(self, *, provider: Provider | None = None) -> None:
        super().__init__(provider)
        self.steps: list[Callable[..., Any]] = []

    def register(self, step: Step) -> Step:
        """Append ``step`` to the pipeline with its dependencies injected; return it."""
        injected: Step = inject(self.provider, owner=self)(step)
        self.steps.append(injected)
        return injected

    def step(self, step: Step) -> Step:
        """Decorator form of ``register``."""
        return self.register(step)

    def compile(self, *args: Any, **kwargs: Any) -> T:
        """Run the pipeline and return what its last step returns.

        Raises:
            RuntimeError: the compiler has no steps.
        """
        if not self.steps:
            raise RuntimeError(f"{self!r} has no steps; add them with @compiler.step")
        first, *rest = self.steps
        result = first(*args, **kwargs)
        for step in rest:
            result = step(*result) if isinstance(result, tuple) else step(result)
        return result  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        names = [getattr(step, "__name__", repr(step)) for step in self.steps]
        return f"Compiler(steps={names})"


@overload
def compile(model: M, *args: Any, **kwargs: Any) -> M: ...  # noqa: A001


@overload
def compile(  # noqa: A001
    model: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]: ...


def compile(model: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - mirrors torch.compile
    """Compile ``model`` with ``torch.compile`` and return it.

    A module is compiled in place (``nn.Module.compile``) and the same object comes back,
    so its attributes, hooks, ``events`` and ``id`` stay intact. Anything else is passed
    to ``torch.compile``. Arguments are forwarded (``mode``, ``backend``, ``dynamic``...).
    """
    if isinstance(model, nn.Module):
        model.compile(*args, **kwargs)
        return model
    return torch.compile(model, *args, **kwargs)
