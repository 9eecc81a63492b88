"""``inject``: compile a function's dependency resolution and keep it current."""

from __future__ import annotations

import functools
import linecache
import threading
from collections.abc import Callable
from types import CodeType
from typing import Any, NoReturn, TypeVar

from torchsystem._injection import runtime
from torchsystem._injection.codegen import generate
from torchsystem._injection.plan import Node, build_plan
from torchsystem._injection.provider import Provider
from torchsystem._inspect import qualified_name

__all__ = ["inject"]

F = TypeVar("F", bound=Callable[..., Any])


class _Injected:
    """Owns the generated wrapper of one function; recompiles it when overrides change."""

    def __init__(self, function: Callable[..., Any], provider: Provider, owner: object) -> None:
        self.function = function
        self.provider = provider
        self.owner = owner
        self.lock = threading.RLock()
        self.version = 0
        name = getattr(function, "__name__", "injected")
        self.name = name if name.isidentifier() and not name.startswith("__") else "injected"
        self.namespace: dict[str, Any] = {
            "__fn": function,
            "__M": runtime.MISSING,
            "__R": runtime.REQUIRED,
            "__close": runtime.close_all,
            "__unwind": runtime.unwind,
            "__aclose": runtime.aclose_all,
            "__aunwind": runtime.aunwind,
            "__refresh": self.refresh,
            "__required": self.required,
            "__noyield": self.no_yield,
        }
        fresh, self.stale = self.compile()
        self.wrapper: Any = fresh
        functools.update_wrapper(fresh, function)
        self.wrapper.__injection__ = self
        provider.dependency_overrides.watch(self)

    def compile(self) -> tuple[Any, CodeType]:
        overrides = self.provider.dependency_overrides
        plan = build_plan(self.function, overrides, self.provider.analyses)
        generated = generate(plan, self.name)
        self.version += 1
        filename = f"<torchsystem inject {qualified_name(self.function)} v{self.version}>"
        code = compile(generated.source, filename, "exec")
        lines = generated.source.splitlines(keepends=True)
        linecache.cache[filename] = (len(generated.source), None, lines, filename)
        self.namespace.update(generated.namespace)
        self.namespace["__missing"] = functools.partial(self.missing, generated.lines)
        exec(code, self.namespace)
        return self.namespace[self.name], self.namespace[f"__stale_{self.name}"].__code__

    def invalidate(self) -> None:
        """Overrides changed: the next call recompiles before resolving anything."""
        with self.lock:
            self.wrapper.__code__ = self.stale

    def refresh(self) -> Any:
        with self.lock:
            if self.wrapper.__code__ is self.stale:
                fresh, self.stale = self.compile()
                self.wrapper.__code__ = fresh.__code__
        return self.wrapper

    def required(self, name: str) -> NoReturn:
        raise TypeError(f"{qualified_name(self.function)}() missing required argument: {name!r}")

    def no_yield(self, gen: Any) -> NoReturn:
        raise runtime.DependencyError(
            f"generator dependency {getattr(gen, '__qualname__', gen)}() of "
            f"{qualified_name(self.function)} finished without yielding; it must yield once"
        ) from None

    def missing(self, lines: dict[int, Node], error: NotImplementedError) -> NoReturn:
        node = lines.get(error.__traceback__.tb_lineno) if error.__traceback__ else None
        if node is None or isinstance(error, runtime.MissingDependencyError):
            raise error
        raise runtime.MissingDependencyError(self.describe_missing(node, error)) from error

    def describe_missing(self, node: Node, error: NotImplementedError) -> str:
        original = getattr(node.original, "__name__", qualified_name(node.original))
        culprit = qualified_name(node.original)
        if node.call is not node.original:
            culprit += f" (overridden by {qualified_name(node.call)})"
        reason = f": {error}" if str(error) else ""
        where = self.owner_label()
        return (
            f"dependency {culprit} of {qualified_name(self.function)} is not implemented "
            f"(it raised NotImplementedError{reason}). Provide it on {where}: "
            f".dependency_overrides[{original}] = your_implementation, "
            f"or .override({original}, your_implementation)"
        )

    def owner_label(self) -> str:
        if self.owner is None:
            return f"the provider passed to inject ({self.provider!r})"
        return f"the {type(self.owner).__name__} that owns it, {self.owner!r}"


def inject(provider: Provider | None = None, *, owner: object = None) -> Callable[[F], F]:
    """Decorate a function so its ``Depends`` parameters are resolved on each call.

    The resolution code is generated once, here; calls do no inspection. Arguments
    passed explicitly are used as given and their dependency is not run. Overrides are
    read from ``provider`` (a new one when omitted); changing them recompiles lazily on
    the next call. A function without dependencies is returned unchanged. ``owner`` is
    the container named in error messages.

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
        if not callable(function):
            raise TypeError(f"inject expects a function, got {function!r}")
        markers, _ = chosen.analyses.of(function)
        if all(marker is None for _, marker in markers):
            return function
        wrapper: F = _Injected(function, chosen, owner).wrapper
        return wrapper

    return decorate
