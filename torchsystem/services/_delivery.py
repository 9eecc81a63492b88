"""What routers and their targets share: the routing protocol, route invalidation and
failure isolation."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from torchsystem._inspect import call_kind, qualified_name

__all__ = [
    "Listeners", "RouteCache", "Routable", "Routes", "isolated", "joined", "one_line",
    "reject_async", "without",
]

logger = logging.getLogger("torchsystem.services")

K = TypeVar("K", contravariant=True)
Routes = tuple[Callable[[Any], Any], ...]
_LONGEST = 200  # characters of an exception message in the one-line failure report


class RouteCache(Protocol):
    """Something that caches routes (a producer, a publisher, ``Background``)."""

    def forget_routes(self) -> None:
        """Drop every cached route; the next delivery asks for them again."""


@runtime_checkable
class Routable(Protocol[K]):
    """What a ``Producer`` (keys are classes) or ``Publisher`` (keys are topics) delivers to.

    ``routes(key)`` gives the callables a message under ``key`` is handed to, in order;
    ``watch(router)`` promises to call ``router.forget_routes()`` whenever ``routes`` may
    answer differently, holding ``router`` weakly. ``Consumer``, ``Subscriber`` and
    ``torchsystem.consumers.Background`` implement it.

    Example:
        >>> from torchsystem.services import Producer
        >>> class Printer:
        ...     def routes(self, cls: type) -> tuple:
        ...         return (print,) if issubclass(cls, str) else ()
        ...     def watch(self, router) -> None:
        ...         pass  # its routes never change
        >>> producer = Producer()
        >>> producer.register(Printer())
        >>> producer.dispatch("hello")
        hello
    """

    def routes(self, key: K, /) -> Routes:
        """The callables a message under ``key`` is handed to, in delivery order."""

    def watch(self, router: RouteCache, /) -> None:
        """Call ``router.forget_routes()`` when ``routes`` may change; hold it weakly."""


class Listeners:
    """The routers to tell when routes change, held weakly. Registering copies the tuple,
    so notifying never iterates something another thread is growing."""

    __slots__ = ("_routers",)

    def __init__(self) -> None:
        self._routers: tuple[weakref.ReferenceType[Any], ...] = ()

    def add(self, router: RouteCache) -> None:
        alive = tuple(ref for ref in self._routers if ref() is not None)
        if not any(ref() is router for ref in alive):
            alive += (weakref.ref(router),)
        self._routers = alive

    def notify(self) -> None:
        for reference in self._routers:
            router = reference()
            if router is not None:
                router.forget_routes()


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``, cut at 200 characters."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    if len(message) > _LONGEST:
        message = message[: _LONGEST - 3] + "..."
    name = type(error).__qualname__
    return f"{name}: {message}" if message else name


def isolated(handler: Callable[[Any], Any], owner: str, where: str) -> Callable[[Any], None]:
    """Wrap ``handler`` so that an ``Exception`` is logged (one line naming ``owner``, the
    handler, ``where`` and the exception; the traceback at debug level), not raised."""
    name = qualified_name(getattr(handler, "__wrapped__", handler))

    def deliver(message: Any) -> None:
        try:
            handler(message)
        except Exception as error:
            logger.error("%s: handler %s failed on %s: %s", owner, name, where, one_line(error))
            logger.debug("traceback of the failure of %s", name, exc_info=True)

    deliver.__wrapped__ = handler  # type: ignore[attr-defined]
    return deliver


def reject_async(handler: Callable[..., Any], owner: object) -> None:
    """Delivery is synchronous: an ``async def`` handler would never be awaited."""
    if call_kind(handler) in ("async", "asyncgen"):
        raise TypeError(
            f"{qualified_name(handler)} is async, but {type(owner).__name__} delivers "
            "messages synchronously and would never await it; make it a plain function "
            "(it can hand work to a queue or thread)"
        )


R = TypeVar("R", bound="Routable[Any]")


def joined(known: tuple[R, ...], added: tuple[R, ...], router: RouteCache,
           expects: str) -> tuple[R, ...]:
    """``known`` followed by each of ``added`` not already there (by identity), each made
    to tell ``router`` when its routes change.

    Raises:
        TypeError: one of ``added`` is not ``Routable`` (``expects`` says what is); then
            nothing is added.
    """
    for item in added:
        if not isinstance(item, Routable):
            raise TypeError(f"{expects}, got {item!r}")
    for item in added:
        if all(item is not other for other in known):
            known += (item,)
            item.watch(router)
    return known


def without(known: tuple[R, ...], item: R, owner: str) -> tuple[R, ...]:
    """``known`` without ``item`` (by identity).

    Raises:
        ValueError: ``item`` is not in ``known``; ``owner`` names where it was looked for.
    """
    if all(item is not other for other in known):
        raise ValueError(f"{item!r} is not registered with {owner}")
    return tuple(other for other in known if other is not item)
