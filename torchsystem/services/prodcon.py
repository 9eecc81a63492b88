"""Producer/consumer messaging: events routed by class to the handlers that want them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, overload

from torchsystem._inspect import event_classes, qualified_name, type_hints
from torchsystem.depends import Depends, Provider
from torchsystem.services._delivery import (
    Listeners,
    Routable,
    RouteCache,
    Routes,
    isolated,
    joined,
    without,
)
from torchsystem.services._event import event
from torchsystem.services._registration import Registration, Registrations

__all__ = ["Consumer", "Depends", "Producer", "Registration", "event"]

F = TypeVar("F", bound=Callable[..., Any])
Excluded = type | Iterable[type]


class Consumer(Registrations):
    """Reacts to events: each handler receives the event classes it was registered for.

    ``@consumer.handler`` reads the first parameter's annotation: a class, or a union of
    classes (``A | B``, ``Union``, ``Optional`` without ``None``). An event reaches every
    handler registered for a class along its MRO, in registration order, once per
    handler however many registrations match; ``exclude`` classes (and their
    subclasses) never reach that registration. Routing is by class object, never by
    name, and depends only on what was registered. With ``isolate=True`` a handler's
    ``Exception`` is logged in one line (handler, event class, exception; the traceback
    at debug level) and delivery goes on; by default it propagates.

    Example:
        >>> @event
        ... class Trained:
        ...     loss: float
        >>> consumer = Consumer()
        >>> @consumer.handler
        ... def report(event: Trained) -> None:
        ...     print(f"loss {event.loss}")
        >>> consumer.consume(Trained(0.5))
        loss 0.5
    """

    def __init__(
        self, name: str | None = None, *, provider: Provider | None = None, isolate: bool = False
    ) -> None:
        super().__init__(provider)
        self.name = name
        self._isolate = isolate
        self._handlers: Mapping[type, tuple[Callable[..., Any], ...]] = MappingProxyType({})
        self._routes: dict[type, Routes] = {}
        self._listeners = Listeners()

    @property
    def isolate(self) -> bool:
        """Whether a handler's ``Exception`` is logged instead of raised."""
        return self._isolate

    @isolate.setter
    def isolate(self, value: bool) -> None:
        self._isolate = value
        self._changed()

    @property
    def handlers(self) -> Mapping[type, tuple[Callable[..., Any], ...]]:
        """Read-only: event class -> the handlers registered for it, in order."""
        return self._handlers

    def register(self, annotation: Any, handler: Callable[..., Any], *,
                 exclude: Excluded = ()) -> Registration:
        """Register ``handler`` for the class(es) ``annotation`` names, except ``exclude``.

        Registering a handler again adds classes to it; it still gets each event once.

        Raises:
            TypeError: ``annotation`` or ``exclude`` names no class, or ``handler`` is async.
        """
        classes = event_classes(annotation)
        if not classes:
            raise TypeError(
                f"cannot register {qualified_name(handler)}: {annotation!r} is not an event "
                "class or a union of classes; annotate its first parameter with the event "
                "class, e.g. `def handler(event: Trained | Validated)`"
            )
        return self._add(handler, classes, _excluded(exclude, handler))

    @overload
    def handler(self, wrapped: F, *, exclude: Excluded = ()) -> F: ...

    @overload
    def handler(self, wrapped: None = None, *, exclude: Excluded = ()) -> Callable[[F], F]: ...

    def handler(self, wrapped: F | None = None, *, exclude: Excluded = ()) -> Any:
        """Decorator: register the function for the classes its first parameter names
        (``@consumer.handler`` or ``@consumer.handler(exclude=...)``); return it injected.

        Raises:
            TypeError: no first parameter, or no usable class annotation on it.
        """
        if wrapped is None:
            return lambda function: self.handler(function, exclude=exclude)
        registration = self.register(_first_annotation(wrapped), wrapped, exclude=exclude)
        injected: F = registration.handler  # type: ignore[assignment]  # F, injected
        return injected

    def routes(self, cls: type) -> Routes:
        """The handlers an instance of ``cls`` is delivered to, in delivery order."""
        try:
            return self._routes[cls]
        except KeyError:
            pass
        mro, found = cls.__mro__, []
        for r in self._registrations:
            if r.handler not in found and not issubclass(cls, r.exclude) and _meets(mro, r.keys):
                found.append(r.handler)
        if self._isolate:
            owner, where = _label(self), cls.__qualname__
            found = [isolated(handler, owner, where) for handler in found]
        routes = self._routes[cls] = tuple(found)
        return routes

    def consume(self, message: Any) -> None:
        """Deliver ``message`` to its handlers now."""
        try:
            handlers = self._routes[type(message)]
        except KeyError:
            handlers = self.routes(type(message))
        for handler in handlers:
            handler(message)

    def watch(self, router: RouteCache) -> None:
        """Call ``router.forget_routes()`` whenever this consumer's routes change."""
        self._listeners.add(router)

    def _changed(self) -> None:
        table: dict[type, list[Callable[..., Any]]] = {}
        for r in self._registrations:
            for cls in r.keys:
                handlers = table.setdefault(cls, [])  # type: ignore[arg-type]
                if r.handler not in handlers:
                    handlers.append(r.handler)
        self._handlers = MappingProxyType({cls: tuple(h) for cls, h in table.items()})
        self._routes.clear()
        self._listeners.notify()

    def __repr__(self) -> str:
        label = "" if self.name is None else f"{self.name!r}, "
        names = sorted({getattr(r.function, "__name__", "?") for r in self._registrations})
        return f"Consumer({label}handlers={names})"


def _meets(mro: tuple[type, ...], keys: tuple[Any, ...]) -> bool:
    return any(cls in mro for cls in keys)


def _label(owner: Consumer) -> str:
    return "Consumer" if owner.name is None else f"Consumer {owner.name!r}"


def _excluded(exclude: Excluded, handler: Callable[..., Any]) -> tuple[type, ...]:
    classes = (exclude,) if isinstance(exclude, type) else tuple(exclude)
    wrong = [cls for cls in classes if not isinstance(cls, type)]
    if wrong:
        raise TypeError(
            f"exclude of {qualified_name(handler)} takes classes, got {wrong[0]!r}; "
            "for example exclude=(Stepped, Iterated)"
        )
    return classes


def _first_annotation(handler: Callable[..., Any]) -> Any:
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot read the signature of {qualified_name(handler)}: {error}"
        ) from error
    if not parameters:
        raise TypeError(
            f"{qualified_name(handler)} takes no parameters; a consumer handler receives the "
            "event as its first parameter, annotated with the event class"
        )
    first = parameters[0]
    annotation = type_hints(handler).get(first.name, first.annotation)
    if annotation is inspect.Parameter.empty:
        raise TypeError(
            f"the first parameter {first.name!r} of {qualified_name(handler)} has no type "
            "annotation; annotate it with the event class(es) to receive, e.g. "
            f"`def {getattr(handler, '__name__', 'handler')}({first.name}: Trained)`"
        )
    if isinstance(annotation, str):
        raise TypeError(
            f"cannot resolve the annotation {annotation!r} of {first.name!r} in "
            f"{qualified_name(handler)}; make the class importable where the handler is defined"
        )
    return annotation


class Producer:
    """Delivers events to the consumers registered with it, in registration order.

    A consumer is anything that implements ``Routable`` (``routes(cls)`` and
    ``watch(router)``): a ``Consumer``, a ``Background``, or your own.

    Example:
        >>> producer = Producer()
        >>> consumer = Consumer()
        >>> @consumer.handler
        ... def show(event: int) -> None:
        ...     print("got", event)
        >>> producer.register(consumer)
        >>> producer.dispatch(0)
        got 0
    """

    def __init__(self) -> None:
        self._consumers: tuple[Routable[type], ...] = ()
        self._routes: dict[type, Routes] = {}

    @property
    def consumers(self) -> tuple[Routable[type], ...]:
        """The registered consumers, in delivery order."""
        return self._consumers

    def register(self, *consumers: Routable[type]) -> None:
        """Deliver future events to ``consumers`` too (a consumer registered twice counts once).

        Raises:
            TypeError: an argument does not implement ``Routable``; nothing is registered.
        """
        self._consumers = joined(self._consumers, consumers, self, (
            "Producer.register expects consumers (objects with routes(cls) and "
            "watch(router), such as Consumer)"
        ))
        self.forget_routes()

    def remove(self, consumer: Routable[type]) -> None:
        """Stop delivering to ``consumer``.

        Raises:
            ValueError: ``consumer`` is not registered here.
        """
        self._consumers = without(self._consumers, consumer, "this producer")
        self.forget_routes()

    def dispatch(self, message: Any) -> None:
        """Deliver ``message`` to every consumer's handlers for its class, synchronously."""
        try:
            handlers = self._routes[type(message)]
        except KeyError:
            handlers = self.routes(type(message))
        for handler in handlers:
            handler(message)

    def routes(self, cls: type) -> Routes:
        """The handlers an instance of ``cls`` is delivered to, across consumers, in order.

        A service can skip building an event nobody receives.
        """
        try:
            return self._routes[cls]
        except KeyError:
            pass
        found = tuple(h for consumer in self._consumers for h in consumer.routes(cls))
        self._routes[cls] = found
        return found

    def forget_routes(self) -> None:
        """Drop the cached routes; the next dispatch asks the consumers again."""
        self._routes.clear()

    def __repr__(self) -> str:
        return f"Producer(consumers={list(self._consumers)!r})"
