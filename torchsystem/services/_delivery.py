"""Shared by consumers and subscribers: failure isolation and route invalidation."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from torchsystem._inspect import call_kind, qualified_name

__all__ = ["Listeners", "isolated", "reject_async"]

logger = logging.getLogger("torchsystem.services")


class _RouteCache(Protocol):
    def _forget_routes(self) -> None: ...


class Listeners:
    """Routers (producers, publishers) to tell when a consumer or subscriber changes."""

    __slots__ = ("_routers",)

    def __init__(self) -> None:
        self._routers: weakref.WeakSet[Any] = weakref.WeakSet()

    def add(self, router: _RouteCache) -> None:
        self._routers.add(router)

    def notify(self) -> None:
        for router in list(self._routers):
            router._forget_routes()


def isolated(handler: Callable[[Any], Any], owner: object) -> Callable[[Any], None]:
    """Wrap ``handler`` so an ``Exception`` is logged with its name instead of raised."""
    name = qualified_name(getattr(handler, "__wrapped__", handler))

    def deliver(message: Any) -> None:
        try:
            handler(message)
        except Exception:
            logger.exception("handler %s of %r failed on %r", name, owner, message)

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
