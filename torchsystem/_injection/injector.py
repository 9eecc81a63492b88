"""``inject``: compile a function's dependency resolution and keep it current."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from torchsystem._injection.compiled import Injected
from torchsystem._injection.provider import Provider
from torchsystem._inspect import qualified_name

__all__ = ["generated_source", "inject"]

F = TypeVar("F", bound=Callable[..., Any])


def inject(provider: Provider | None = None, *, owner: object = None) -> Callable[[F], F]:
    """Decorate a function so its ``Depends`` parameters are resolved on each call.

    The resolution code is generated once, here; calls do no inspection. Arguments
    passed explicitly are used as given and their dependency is not run. Overrides are
    read from ``provider`` (a new one when omitted); changing them recompiles lazily on
    the next call, and a call already running keeps the overrides it started with.
    A generator (or async generator) function keeps its dependencies open until it
    finishes or is closed. A ``staticmethod`` or ``classmethod`` is injected inside
    and returned as the same kind of method. A function without dependencies is
    returned unchanged. ``owner`` is the container named in error messages.

    Raises:
        TypeError: at decoration, for a synchronous function with an async dependency, a
            cycle, or a dependency parameter that cannot be resolved.

    Example:
        >>> from torchsystem.depends import Depends, Provider, inject
        >>> provider = Provider()
        >>> def device() -> str:
        ...     return "cpu"
        >>> @inject(provider)
        ... def where(device: str = Depends(device)) -> str:
        ...     return device
        >>> where(), where("cuda")
        ('cpu', 'cuda')
    """
    chosen = Provider() if provider is None else provider

    def decorate(function: F) -> F:
        if isinstance(function, (staticmethod, classmethod)):
            method: Any = type(function)(decorate(function.__func__))
            return cast(F, method)
        if not callable(function):
            raise TypeError(f"inject expects a function, got {function!r}")
        markers, _ = chosen.analyses.of(function)
        if all(marker is None for _, marker in markers):
            return function
        wrapper: F = Injected(function, chosen, owner).wrapper
        return wrapper

    return decorate


def generated_source(function: Callable[..., Any]) -> str:
    """The Python source that resolves ``function``'s dependencies, for debugging.

    ``function`` is what ``inject`` (or a container's decorator) returned; the source is
    that of the overrides in force now (compiled first if they changed). Each line that
    calls a dependency ends with a comment naming it; tracebacks show these lines too.

    Raises:
        TypeError: ``function`` was not injected (``inject`` returns a function that has
            no ``Depends`` parameter unchanged).

    Example:
        >>> from torchsystem.depends import Depends, Provider, generated_source, inject
        >>> def device() -> str:
        ...     return "cpu"
        >>> @inject(Provider())
        ... def where(device: str = Depends(device)) -> str:
        ...     return device
        >>> print(generated_source(where).splitlines()[0])
        def where(device=_di_M, *, _di_V=_di_M):
    """
    target = getattr(function, "__func__", function)
    injection = getattr(target, "__injection__", None)
    if not isinstance(injection, Injected):
        raise TypeError(
            f"{qualified_name(target)} is not an injected function (inject returns a "
            "function without Depends parameters unchanged)"
        )
    return injection.source()
