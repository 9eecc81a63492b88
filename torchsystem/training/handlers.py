"""``handler`` and ``DeclaredService``: a service's handlers declared on its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

from torchsystem.depends import Provider
from torchsystem.services import Service

__all__ = ["DeclaredService", "handler"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__torchsystem_handler__"


class _Declared:
    """What ``@handler`` records on a function: the name to register it under."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name


@overload
def handler(function: F, /) -> F: ...


@overload
def handler(*, name: str | None = None) -> Callable[[F], F]: ...


def handler(function: Any = None, /, *, name: str | None = None) -> Any:
    """Declare a method of a ``DeclaredService`` subclass as one of its handlers.

    The method is registered on every instance under ``name`` (default: the service's
    naming of the method's name, ``score_batch`` -> ``score-batch``), injected and
    bound to that instance. A subclass that overrides a handler without the decorator
    keeps it registered under the same name.

    Example:
        >>> from torchsystem.training import Training, handler
        >>> class Explaining(Training):
        ...     @handler
        ...     def explain(self, model, inputs):
        ...         return model(inputs)
        >>> "explain" in Explaining().handlers
        True
    """

    def mark(method: F) -> F:
        setattr(method, _MARK, _Declared(name))
        return method

    return mark if function is None else mark(function)


def _collect(cls: type) -> dict[str, str | None]:
    """Attribute -> registered name (``None``: generated) along the MRO, bases first."""
    table: dict[str, str | None] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            declared = getattr(value, _MARK, None)
            if isinstance(declared, _Declared):
                table[attribute] = declared.name
            elif attribute in table and not callable(value):
                del table[attribute]  # `explain = None` withdraws an inherited handler
    return table


class DeclaredService(Service):
    """A ``Service`` whose handlers are methods marked with ``@handler`` on the class.

    The marked methods are collected once per class (at its creation); each instance
    registers them, injected and bound to itself, in its own handler table, and its
    attribute of the same name is that injected handler, so a direct call injects too.
    A copy (``copy.copy``, ``copy.deepcopy``, ``pickle``) binds its handlers to itself:
    ``copy.deepcopy(service).train`` runs with the copy's producer and overrides.
    Handlers registered on an instance (``@service.handler``) are registered again on
    the copy.

    Example:
        >>> class Greeting(DeclaredService):
        ...     @handler
        ...     def greet(self, name: str) -> str:
        ...         return f"hello {name}"
        >>> Greeting().handle("greet", "mlp")
        'hello mlp'
    """

    _declared: ClassVar[dict[str, str | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._declared = _collect(cls)

    def __init__(
        self,
        name: str | None = None,
        *,
        provider: Provider | None = None,
        generator: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(name, provider=provider, generator=generator)
        self._bind()

    def _bind(self) -> None:
        for attribute, name in self._declared.items():
            method = getattr(self, attribute)
            key = self.generator(attribute) if name is None else name
            self.__dict__[attribute] = self.register(method, key)

    def _declared_keys(self) -> set[str]:
        return {
            self.generator(attribute) if name is None else name
            for attribute, name in self._declared.items()
        }

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._declared}
        declared = self._declared_keys()
        state["handlers"] = {
            key: getattr(injected, "__wrapped__", injected)
            for key, injected in self.handlers.items()
            if key not in declared
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        extra: dict[str, Callable[..., Any]] = state.pop("handlers")
        self.__dict__.update(state)
        self.handlers = {}
        self._bind()
        for key, function in extra.items():
            self.register(function, key)
