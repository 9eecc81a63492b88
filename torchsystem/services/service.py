"""``Service``: stateless operations called by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from torchsystem._container import Container
from torchsystem.depends import Provider, inject

__all__ = ["HandlerNotFoundError", "Service", "kebab_case"]

F = TypeVar("F", bound=Callable[..., Any])


def kebab_case(name: str) -> str:
    """``train_model`` -> ``train-model``: the default naming of service handlers."""
    return name.replace("_", "-")


class HandlerNotFoundError(KeyError):
    """``Service.handle`` was given a name no handler is registered under."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Service(Container):
    """Handlers registered under names from the ubiquitous language, called with injection.

    ``@service.handler`` registers a function under ``generator(function.__name__)``
    (snake_case becomes kebab-case by default) and returns the injected function, which
    stays directly callable. ``service.handle(name, *args, **kwargs)`` calls it by name.

    Example:
        >>> service = Service()
        >>> @service.handler
        ... def train_model(model: str) -> str:
        ...     return f"trained {model}"
        >>> service.handle("train-model", "mlp")
        'trained mlp'
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        provider: Provider | None = None,
        generator: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(provider)
        self.name = name
        self.generator = kebab_case if generator is None else generator
        self.handlers: dict[str, Callable[..., Any]] = {}

    def register(self, handler: F, name: str | None = None) -> F:
        """Register ``handler`` under ``name`` (default: generated from its name).

        Raises:
            ValueError: another function is already registered under that name.
        """
        key = self.generator(handler.__name__) if name is None else name
        current = self.handlers.get(key)
        if current is not None and not _same_function(current, handler):
            raise ValueError(
                f"{self!r} already has a handler named {key!r} "
                f"({getattr(current, '__qualname__', current)}); register this one with "
                "another name: @service.handler(name=...)"
            )
        injected: F = inject(self.provider, owner=self)(handler)
        self.handlers[key] = injected
        return injected

    @overload
    def handler(self, wrapped: F, *, name: str | None = None) -> F: ...

    @overload
    def handler(self, wrapped: None = None, *, name: str | None = None) -> Callable[[F], F]: ...

    def handler(self, wrapped: F | None = None, *, name: str | None = None) -> Any:
        """Decorator form of ``register``: ``@service.handler`` or ``@service.handler(name=..)``."""
        if wrapped is None:
            return lambda function: self.register(function, name)
        return self.register(wrapped, name)

    def handle(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """Call the handler registered under ``action`` and return its result.

        Raises:
            HandlerNotFoundError: no handler has that name; the message lists the known ones.
        """
        try:
            handler = self.handlers[action]
        except KeyError:
            known = ", ".join(self.handlers) or "none registered"
            raise HandlerNotFoundError(
                f"no handler {action!r} in {self!r}; known: {known}"
            ) from None
        return handler(*args, **kwargs)

    def __repr__(self) -> str:
        label = "" if self.name is None else f"{self.name!r}, "
        return f"Service({label}handlers={list(self.handlers)})"


def _same_function(registered: Callable[..., Any], new: Callable[..., Any]) -> bool:
    """A redefinition of the same function (module reloaded, notebook cell re-run): the
    same object, or a function of the same module and qualified name. Callables without
    a qualified name of their own (a ``functools.partial``, a callable object) are the
    same only when they are the same object."""
    old = getattr(registered, "__wrapped__", registered)
    if old is new:
        return True
    name = getattr(new, "__qualname__", None)
    return (
        isinstance(name, str)
        and getattr(old, "__qualname__", None) == name
        and getattr(old, "__module__", None) == getattr(new, "__module__", None)
    )
