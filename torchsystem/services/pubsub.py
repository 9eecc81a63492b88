"""Publisher/subscriber messaging: messages routed by topic."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from torchsystem._container import Container
from torchsystem.depends import Depends, Provider, inject
from torchsystem.services._delivery import Listeners, isolated, reject_async

__all__ = ["Depends", "Publisher", "Subscriber"]

F = TypeVar("F", bound=Callable[..., Any])
Routes = tuple[Callable[[Any], Any], ...]


class Subscriber(Container):
    """Handlers subscribed to topics; ``receive(message, topic)`` calls them in order.

    With ``isolate=True`` a handler's ``Exception`` is logged with the handler's name and
    delivery goes on; by default it propagates to the caller.

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
        self.isolate = isolate
        self.handlers: dict[Hashable, list[Callable[..., Any]]] = {}
        self._routes: dict[Hashable, Routes] = {}
        self._listeners = Listeners()

    def register(self, topic: Hashable, handler: F) -> F:
        """Subscribe ``handler`` to ``topic``; return it with its dependencies injected."""
        reject_async(handler, self)
        injected: F = inject(self.provider, owner=self)(handler)
        self._add(topic, injected)
        return injected

    def _add(self, topic: Hashable, injected: Callable[..., Any]) -> None:
        self.handlers.setdefault(topic, []).append(injected)
        self._routes.pop(topic, None)
        self._listeners.notify()

    def subscribe(self, *topics: Hashable) -> Callable[[F], F]:
        """Decorator: subscribe the function to every topic in ``topics``.

        Raises:
            TypeError: no topic was given.
        """
        if not topics:
            raise TypeError("subscribe() needs at least one topic: @subscriber.subscribe('loss')")

        def decorate(handler: F) -> F:
            reject_async(handler, self)
            injected: F = inject(self.provider, owner=self)(handler)
            for topic in topics:
                self._add(topic, injected)
            return injected

        return decorate

    def routes(self, topic: Hashable) -> Routes:
        """The handlers a message on ``topic`` is delivered to, in order."""
        try:
            return self._routes[topic]
        except KeyError:
            pass
        found = tuple(self.handlers.get(topic, ()))
        if self.isolate:
            found = tuple(isolated(h, self) for h in found)
        self._routes[topic] = found
        return found

    def receive(self, message: Any, topic: Hashable) -> None:
        """Deliver ``message`` to the handlers subscribed to ``topic``."""
        try:
            handlers = self._routes[topic]
        except KeyError:
            handlers = self.routes(topic)
        for handler in handlers:
            handler(message)

    def _forget_routes(self) -> None:
        self._routes.clear()
        self._listeners.notify()

    def __repr__(self) -> str:
        label = "" if self.name is None else f"{self.name!r}, "
        return f"Subscriber({label}topics={list(self.handlers)})"


class Publisher:
    """Publishes messages on topics to the subscribers registered with it.

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
        self._subscribers: list[Subscriber] = []
        self._routes: dict[Hashable, Routes] = {}

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        """The registered subscribers, in delivery order."""
        return tuple(self._subscribers)

    def register(self, *subscribers: Subscriber) -> None:
        """Deliver future messages to ``subscribers`` too (each counted once)."""
        for subscriber in subscribers:
            if not isinstance(subscriber, Subscriber):
                raise TypeError(
                    f"Publisher.register expects Subscriber objects, got {subscriber!r}"
                )
            if subscriber not in self._subscribers:
                self._subscribers.append(subscriber)
                subscriber._listeners.add(self)
        self._routes.clear()

    def publish(self, message: Any, topic: Hashable) -> None:
        """Deliver ``message`` to every subscriber's handlers for ``topic``, synchronously."""
        try:
            handlers = self._routes[topic]
        except KeyError:
            handlers = self._route(topic)
        for handler in handlers:
            handler(message)

    def _route(self, topic: Hashable) -> Routes:
        found = tuple(h for s in self._subscribers for h in s.routes(topic))
        self._routes[topic] = found
        return found

    def _forget_routes(self) -> None:
        self._routes.clear()

    def __repr__(self) -> str:
        return f"Publisher(subscribers={self._subscribers!r})"
