"""Producer/consumer messaging: events routed by class to the handlers that want them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torchsystem._container import Container
from torchsystem._inspect import event_classes, qualified_name, type_hints
from torchsystem.depends import Depends, Provider, inject
from torchsystem.services._delivery import Listeners, isolated, reject_async
from torchsystem.services._event import event

__all__ = ["Consumer", "Depends", "Producer", "event"]

F = TypeVar("F", bound=Callable[..., Any])
Routes = tuple[Callable[[Any], Any], ...]


class Consumer(Container):
    """Reacts to events: each handler receives the event classes its first parameter names.

    ``@consumer.handler`` reads the first parameter's annotation: a class, or a union of
    classes (``A | B``, ``Union``, ``Optional`` without ``None``). An event reaches every
    handler registered for a class along its MRO, in registration order. Routing is by
    class object, never by name. With ``isolate=True`` a handler's ``Exception`` is logged
    with the handler's name and delivery goes on; by default it propagates.

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
        self.isolate = isolate
        self.handlers: dict[type, list[Callable[..., Any]]] = {}
        self._entries: list[tuple[tuple[type, ...], Callable[..., Any]]] = []
        self._routes: dict[type, Routes] = {}
        self._listeners = Listeners()

    def register(self, annotation: Any, handler: F) -> F:
        """Register ``handler`` for the class(es) ``annotation`` names; return it injected.

        Raises:
            TypeError: ``annotation`` names no class, or ``handler`` is async.
        """
        classes = event_classes(annotation)
        if not classes:
            raise TypeError(
                f"cannot register {qualified_name(handler)}: {annotation!r} is not an event "
                "class or a union of classes; annotate its first parameter with the event "
                "class, e.g. `def handler(event: Trained | Validated)`"
            )
        reject_async(handler, self)
        injected: F = inject(self.provider, owner=self)(handler)
        for cls in classes:
            self.handlers.setdefault(cls, []).append(injected)
        self._entries.append((classes, injected))
        self._forget_routes()
        return injected

    def handler(self, wrapped: F) -> F:
        """Decorator: register ``wrapped`` for the classes its first parameter is annotated with.

        Raises:
            TypeError: no first parameter, or no usable class annotation on it.
        """
        return self.register(_first_annotation(wrapped), wrapped)

    def routes(self, cls: type) -> Routes:
        """The handlers an instance of ``cls`` is delivered to, in delivery order."""
        try:
            return self._routes[cls]
        except KeyError:
            pass
        mro = set(cls.__mro__)
        found = tuple(
            h for classes, h in self._entries
            if mro.intersection(classes) and self.accepts(cls, classes)
        )
        if self.isolate:
            found = tuple(isolated(h, self) for h in found)
        self._routes[cls] = found
        return found

    def accepts(self, cls: type, classes: tuple[type, ...]) -> bool:
        """Whether a handler registered for ``classes`` receives ``cls`` (it is along the
        MRO). Subclasses may refuse some routes; asked once per class, never per message."""
        return True

    def consume(self, message: Any) -> None:
        """Deliver ``message`` to its handlers now."""
        try:
            handlers = self._routes[type(message)]
        except KeyError:
            handlers = self.routes(type(message))
        for handler in handlers:
            handler(message)

    def _forget_routes(self) -> None:
        self._routes.clear()
        self._listeners.notify()

    def __repr__(self) -> str:
        label = "" if self.name is None else f"{self.name!r}, "
        names = sorted({getattr(h, "__name__", "?") for _, h in self._entries})
        return f"Consumer({label}handlers={names})"


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
        self._consumers: list[Consumer] = []
        self._routes: dict[type, Routes] = {}

    @property
    def consumers(self) -> tuple[Consumer, ...]:
        """The registered consumers, in delivery order."""
        return tuple(self._consumers)

    def register(self, *consumers: Consumer) -> None:
        """Deliver future events to ``consumers`` too (a consumer registered twice counts once)."""
        for consumer in consumers:
            if not isinstance(consumer, Consumer):
                raise TypeError(f"Producer.register expects Consumer objects, got {consumer!r}")
            if consumer not in self._consumers:
                self._consumers.append(consumer)
                consumer._listeners.add(self)
        self._forget_routes()

    def dispatch(self, message: Any) -> None:
        """Deliver ``message`` to every consumer's handlers for its class, synchronously."""
        try:
            handlers = self._routes[type(message)]
        except KeyError:
            handlers = self._route(type(message))
        for handler in handlers:
            handler(message)

    def routes(self, cls: type) -> Routes:
        """The handlers an instance of ``cls`` is delivered to, across consumers, in order.

        A service can skip building an event nobody receives.
        """
        try:
            return self._routes[cls]
        except KeyError:
            return self._route(cls)

    def _route(self, cls: type) -> Routes:
        found = tuple(h for consumer in self._consumers for h in consumer.routes(cls))
        self._routes[cls] = found
        return found

    def _forget_routes(self) -> None:
        self._routes.clear()

    def __repr__(self) -> str:
        return f"Producer(consumers={self._consumers!r})"
