"""Publisher/subscriber messaging: messages routed by topic."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

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
from torchsystem.services._registration import Registration, Registrations

__all__ = ["Depends", "Publisher", "Subscriber"]

F = TypeVar("F", bound=Callable[..., Any])
_MISSES = 1024  # topics without subscribers a publisher remembers before starting afresh


class Subscriber(Registrations):
    """Handlers subscribed to topics; ``receive(message, topic)`` calls them in order.

    A handler subscribed to a topic twice receives each message once. With
    ``isolate=True`` a handler's ``Exception`` is logged in one line (handler, topic,
    exception; the traceback at debug level) and delivery goes on; by default it
    propagates to the caller.

    Example:
        >>> subscriber = Subscriber()
        >>> @subscriber.subscribe("loss", "accuracy")
        ... def show(value: float) -> None:
        ...     print(value)
        >>> subscriber.receive(0.25, "loss")
        0.25
    """

    def __init__(
        self, name: str | None = None, *, provider: Provider | None = None, isolate: bool = False
    ) -> None:
        super().__init__(provider)
        self.name = name
        self._isolate = isolate
        self._handlers: Mapping[Hashable, tuple[Callable[..., Any], ...]] = MappingProxyType({})
        self._table: dict[Hashable, Routes] = {}
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
    def handlers(self) -> Mapping[Hashable, tuple[Callable[..., Any], ...]]:
        """Read-only: topic -> the handlers subscribed to it, in order."""
        return self._handlers

    def register(self, topic: Hashable, handler: Callable[..., Any]) -> Registration:
        """Subscribe ``handler`` to ``topic``.

        Raises:
            TypeError: ``topic`` is not hashable, or ``handler`` is async.
        """
        try:
            hash(topic)
        except TypeError:
            raise TypeError(
                f"topic {topic!r} of {getattr(handler, '__qualname__', handler)} is not "
                "hashable; use a string, a number or a tuple"
            ) from None
        return self._add(handler, (topic,), ())

    def subscribe(self, *topics: Hashable) -> Callable[[F], F]:
        """Decorator: ``register`` the function for every topic in ``topics``; return it
        injected.

        Raises:
            TypeError: no topic was given.
        """
        if not topics:
            raise TypeError("subscribe() needs at least one topic: @subscriber.subscribe('loss')")

        def decorate(handler: F) -> F:
            registrations = [self.register(topic, handler) for topic in topics]
            injected: F = registrations[0].handler  # type: ignore[assignment]  # F, injected
            return injected

        return decorate

    def routes(self, topic: Hashable) -> Routes:
        """The handlers a message on ``topic`` is delivered to, in order."""
        return self._table.get(topic, ())

    def receive(self, message: Any, topic: Hashable) -> None:
        """Deliver ``message`` to the handlers subscribed to ``topic``."""
        for handler in self._table.get(topic, ()):
            handler(message)

    def watch(self, router: RouteCache) -> None:
        """Call ``router.forget_routes()`` whenever this subscriber's routes change."""
        self._listeners.add(router)

    def _changed(self) -> None:
        table: dict[Hashable, list[Callable[..., Any]]] = {}
        for r in self._registrations:
            handlers = table.setdefault(r.keys[0], [])
            if r.handler not in handlers:
                handlers.append(r.handler)
        self._handlers = MappingProxyType({topic: tuple(h) for topic, h in table.items()})
        self._table = {topic: self._wrapped(topic, h) for topic, h in self._handlers.items()}
        self._listeners.notify()

    def _wrapped(self, topic: Hashable, handlers: Routes) -> Routes:
        if not self._isolate:
            return handlers
        owner = "Subscriber" if self.name is None else f"Subscriber {self.name!r}"
        return tuple(isolated(handler, owner, f"topic {topic!r}") for handler in handlers)

    def __repr__(self) -> str:
        label = "" if self.name is None else f"{self.name!r}, "
        return f"Subscriber({label}topics={list(self._handlers)})"


class Publisher:
    """Publishes messages on topics to the subscribers registered with it.

    A subscriber is anything that implements ``Routable`` (``routes(topic)`` and
    ``watch(router)``). Routes of topics nobody subscribed to are remembered up to a
    bound, so publishing on ever new topics does not grow memory.

    Example:
        >>> subscriber = Subscriber()
        >>> @subscriber.subscribe("loss")
        ... def show(value: float) -> None:
        ...     print("loss", value)
        >>> publisher = Publisher()
        >>> publisher.register(subscriber)
        >>> publisher.publish(0.5, "loss")
        loss 0.5
    """

    def __init__(self) -> None:
        self._subscribers: tuple[Routable[Hashable], ...] = ()
        self._routes: dict[Hashable, Routes] = {}
        self._misses = 0

    @property
    def subscribers(self) -> tuple[Routable[Hashable], ...]:
        """The registered subscribers, in delivery order."""
        return self._subscribers

    def register(self, *subscribers: Routable[Hashable]) -> None:
        """Deliver future messages to ``subscribers`` too (each counted once).

        Raises:
            TypeError: an argument does not implement ``Routable``; nothing is registered.
        """
        self._subscribers = joined(self._subscribers, subscribers, self, (
            "Publisher.register expects subscribers (objects with routes(topic) and "
            "watch(router), such as Subscriber)"
        ))
        self.forget_routes()

    def remove(self, subscriber: Routable[Hashable]) -> None:
        """Stop delivering to ``subscriber``.

        Raises:
            ValueError: ``subscriber`` is not registered here.
        """
        self._subscribers = without(self._subscribers, subscriber, "this publisher")
        self.forget_routes()

    def publish(self, message: Any, topic: Hashable) -> None:
        """Deliver ``message`` to every subscriber's handlers for ``topic``, synchronously."""
        try:
            handlers = self._routes[topic]
        except KeyError:
            handlers = self.routes(topic)
        for handler in handlers:
            handler(message)

    def routes(self, topic: Hashable) -> Routes:
        """The handlers a message on ``topic`` is delivered to, across subscribers."""
        try:
            return self._routes[topic]
        except KeyError:
            pass
        found = tuple(h for s in self._subscribers for h in s.routes(topic))
        if not found:
            if self._misses >= _MISSES:
                self.forget_routes()
            self._misses += 1
        self._routes[topic] = found
        return found

    def forget_routes(self) -> None:
        """Drop the cached routes; the next publish asks the subscribers again."""
        self._routes.clear()
        self._misses = 0

    def __repr__(self) -> str:
        return f"Publisher(subscribers={list(self._subscribers)!r})"
