"""``Handlers``: the event class -> handler(s) table of ``Events``, checked on insertion."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, Union

from torchsystem._watched import WatchedDict

__all__ = ["Handler", "HandlerSpec", "Handlers", "takes_event"]

Handler = Callable[..., Any]
HandlerSpec = Union[Handler, Sequence[Handler]]  # noqa: UP007 - a runtime alias on 3.10


class _Owner(Protocol):
    def _learn(self, checked: list[tuple[Handler, bool]]) -> None: ...

    def _forget_routes(self) -> None: ...


def takes_event(handler: Handler) -> bool:
    """Whether ``handler`` is called with the event (one parameter) or without (none).

    Raises:
        TypeError: the handler needs more than one argument.
    """
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return True  # builtins without a signature: pass the event
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = [p for p in parameters if p.default is p.empty and p.kind not in variadic]
    if len(required) > 1 or any(p.kind is p.KEYWORD_ONLY for p in required):
        names = ", ".join(p.name for p in required)
        raise TypeError(
            f"event handler {getattr(handler, '__qualname__', handler)!r} requires ({names}); "
            "a handler takes the event as its only parameter, or no parameters at all"
        )
    return bool(positional) or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def _inspect_handlers(key: Any, value: Any) -> list[tuple[Handler, bool]]:
    """Check ``value`` (a handler or a list of them) once; say which take the event."""
    if not isinstance(key, type):
        raise TypeError(f"event handlers are keyed by class, got {key!r}")
    handlers = value if isinstance(value, (list, tuple)) else [value]
    checked = []
    for handler in handlers:
        if not callable(handler):
            raise TypeError(f"handler for {key.__qualname__} is not callable: {handler!r}")
        checked.append((handler, takes_event(handler)))
    return checked


class Handlers(WatchedDict[type, HandlerSpec]):
    """``type -> handler or list of handlers``; each handler is checked when set."""

    __slots__ = ("_events",)

    def __init__(self, events: _Owner, initial: Mapping[type, HandlerSpec] | None = None) -> None:
        super().__init__()
        self._events = events
        self.update(initial or {})

    def _check(self, key: type, value: HandlerSpec) -> None:
        self._events._learn(_inspect_handlers(key, value))

    def _changed(self) -> None:
        self._events._forget_routes()

    def setdefault(self, key: type, default: HandlerSpec | None = None) -> HandlerSpec:
        return super().setdefault(key, [] if default is None else default)


