"""Domain events: ``Event`` and the ``Events`` queue every aggregate carries."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torchsystem.domain._owner import describe, note, reference
from torchsystem.domain.handlers import Handler, Handlers, HandlerSpec, takes_event

__all__ = ["Event", "Events", "Handlers"]

Deliver = Callable[[Any], Any]


class Event:
    """Optional base class for domain events (something that happened, past tense).

    Example:
        >>> class Evaluated(Event):
        ...     def __init__(self, accuracy: float) -> None:
        ...         self.accuracy = accuracy
    """


def _restore(
    handlers: dict[type, HandlerSpec], queued: list[Any], owner: object = None
) -> Events:
    events = Events(handlers, owner=owner)
    events.queue.extend(queued)
    return events


def _ignore(event: Any) -> None:
    return None


def _made(cls: type[BaseException], message: str) -> BaseException:
    """An instance of an exception class that was enqueued, with ``message`` when it takes
    one (never for ``StopIteration``, whose first argument is its value)."""
    if not issubclass(cls, StopIteration):
        try:
            return cls(message)
        except TypeError:
            pass
    try:
        return cls()
    except TypeError as failure:
        raise TypeError(
            f"{cls.__qualname__} was {message.split(' and raised')[0]} as a class, but it "
            f"cannot be made without arguments ({failure}); enqueue an instance"
        ) from failure


class Events:
    """A FIFO queue of domain events and the handlers that receive them on ``commit``.

    ``enqueue`` accepts an event (class or instance) or an exception (class or instance).
    ``commit`` delivers every queued item in order to the handlers of the most specific
    class along its MRO, as ``except`` and ``functools.singledispatch`` match; a handler
    with no parameters is called without the event. Falsy events are delivered like any
    other. An exception with no handler is raised at its turn, with a note naming the
    queue's ``owner`` (the aggregate); whatever was queued after it stays queued. A
    handler that raises stops the commit the same way: the handlers after it in that
    event's list do not see the event, the event is not queued again, and the items
    after it stay queued for the next commit.

    Example:
        >>> events = Events()
        >>> events.handlers[KeyError] = lambda: print("KeyError handled")
        >>> events.enqueue(KeyError)
        >>> events.enqueue(StopIteration)
        >>> try:
        ...     events.commit()
        ... except StopIteration:
        ...     print("stop")
        KeyError handled
        stop
    """

    def __init__(
        self, handlers: Mapping[type, HandlerSpec] | None = None, *, owner: object = None
    ) -> None:
        self._queue: deque[Any] = deque()
        self._owner = reference(owner)
        self._routes: dict[type, Deliver] = {}
        self._class_routes: dict[type, Deliver] = {}
        self._arity: dict[Any, bool] = {}
        self._unhashable: dict[int, tuple[Handler, bool]] = {}
        self._handlers = Handlers(self, handlers)
        # enqueue is the queue's own append: no Python frame per event.
        self.enqueue = self._queue.append  # type: ignore[method-assign,assignment]

    @property
    def owner(self) -> Any:
        """The object these events belong to (an aggregate), or ``None``."""
        return self._owner()

    @property
    def queue(self) -> deque[Any]:
        """The queued events and exceptions, oldest first."""
        return self._queue

    @queue.setter
    def queue(self, value: Iterable[Any]) -> None:
        self._queue = value if isinstance(value, deque) else deque(value)
        self.enqueue = self._queue.append  # type: ignore[method-assign,assignment]

    @property
    def handlers(self) -> Handlers:
        """Event class -> handler or list of handlers."""
        return self._handlers

    @handlers.setter
    def handlers(self, value: Mapping[type, HandlerSpec]) -> None:
        self._handlers = Handlers(self, value)
        self._forget_routes()

    def enqueue(self, event: Any) -> None:
        """Queue an event or exception (class or instance) for the next ``commit``."""
        self.queue.append(event)

    def dequeue(self) -> Any | None:
        """Remove and return the oldest queued item, or ``None`` when the queue is empty."""
        return self._queue.popleft() if self._queue else None

    def handle(self, event: Any) -> None:
        """Deliver one event now, without queueing it (an unhandled exception is raised)."""
        try:
            deliver = self._routes[type(event)]
        except KeyError:
            deliver = self._route(type(event))
        deliver(event)

    def commit(self) -> None:
        """Deliver every queued item, in order, including items queued meanwhile.

        Raises:
            BaseException: an exception that was queued with no handler, or that a
                handler raised; the items after it stay queued.
        """
        queue, routes = self._queue, self._routes
        while queue:
            event = queue.popleft()
            try:
                deliver = routes[type(event)]
            except KeyError:
                deliver = self._route(type(event))
            deliver(event)

    def _learn(self, checked: list[tuple[Handler, bool]]) -> None:
        for handler, takes in checked:
            try:
                self._arity[handler] = takes
            except TypeError:  # unhashable callable: looked up by identity instead
                self._unhashable[id(handler)] = (handler, takes)

    def _takes(self, handler: Handler) -> bool:
        """Whether ``handler`` takes the event; inspected once (lists may grow in place)."""
        try:
            return self._arity[handler]
        except KeyError:
            takes = self._arity[handler] = takes_event(handler)
            return takes
        except TypeError:
            known = self._unhashable.get(id(handler))
            if known is None or known[0] is not handler:
                known = self._unhashable[id(handler)] = (handler, takes_event(handler))
            return known[1]

    def _forget_routes(self) -> None:
        self._routes.clear()
        self._class_routes.clear()

    def _route(self, cls: type) -> Deliver:
        deliver = self._deliver_class if issubclass(cls, type) else self._lookup(cls)
        self._routes[cls] = deliver
        return deliver

    def _deliver_class(self, event: type) -> None:
        try:
            deliver = self._class_routes[event]
        except KeyError:
            deliver = self._class_routes[event] = self._lookup(event)
        deliver(event)

    def _lookup(self, cls: type) -> Deliver:
        for klass in cls.__mro__:
            if klass in self._handlers:
                return self._deliverer(self._handlers[klass])
        return self._raise if issubclass(cls, BaseException) else _ignore

    def _raise(self, event: Any) -> None:
        """Raise an exception nobody handles, saying whose events raised it: as the message
        of one made from a class (a ``StopIteration`` stays without one), else as a note."""
        cls = event if isinstance(event, type) else type(event)
        text = (
            f"enqueued on {describe(self.owner)} and raised by commit(): no handler is "
            f"registered for {cls.__qualname__}; set events.handlers[{cls.__qualname__}] "
            "to handle it"
        )
        error = _made(event, text) if isinstance(event, type) else event
        if text not in error.args:
            note(error, text)
        raise error

    def _deliverer(self, value: HandlerSpec) -> Deliver:
        if isinstance(value, (list, tuple)):
            return lambda event: self._deliver_all(value, event)
        handler: Handler = value  # type: ignore[assignment]
        if self._takes(handler):
            return handler
        return lambda event: handler()

    def _deliver_all(self, handlers: Iterable[Handler], event: Any) -> None:
        takes = self._takes
        for handler in handlers:
            handler(event) if takes(handler) else handler()

    def __copy__(self) -> Events:
        copied = Events(dict(self._handlers), owner=self.owner)
        copied._queue.extend(self._queue)
        return copied

    def __deepcopy__(self, memo: dict[int, Any]) -> Events:
        owner = self.owner  # the copy of the aggregate when the aggregate is being copied
        copied = Events(copy.deepcopy(dict(self._handlers), memo), owner=memo.get(id(owner), owner))
        copied._queue.extend(copy.deepcopy(list(self._queue), memo))
        return copied

    def __reduce__(self) -> tuple[Any, ...]:
        # enqueue is bound to this queue: rebuild instead of copying attributes
        return (_restore, (dict(self._handlers), list(self._queue), self.owner))

    def __repr__(self) -> str:
        return f"Events(queued={len(self._queue)}, handlers={len(self._handlers)})"
