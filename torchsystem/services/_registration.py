"""``Registration``: one handler registered with a consumer or subscriber, removable."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any

from torchsystem._container import Container
from torchsystem._inspect import qualified_name
from torchsystem.depends import Provider, inject
from torchsystem.services._delivery import reject_async

__all__ = ["Registration", "Registrations"]


class Registration:
    """A handler registered for some event classes (or topics); ``remove()`` takes it back.

    ``handler`` is what is called (the function with its dependencies injected); ``keys``
    the classes or topics it was registered for; ``exclude`` the classes (and their
    subclasses) it is never given. Removing twice does nothing; as a context manager it
    is removed on exit.

    Example:
        >>> from torchsystem.services import Consumer
        >>> consumer, seen = Consumer(), []
        >>> registration = consumer.register(int, seen.append)
        >>> consumer.consume(1)
        >>> registration.remove()
        >>> consumer.consume(2)
        >>> seen, registration.active
        ([1], False)
    """

    __slots__ = ("_owner", "exclude", "function", "handler", "keys")

    def __init__(
        self,
        owner: Registrations,
        function: Callable[..., Any],
        handler: Callable[..., Any],
        keys: tuple[Hashable, ...],
        exclude: tuple[type, ...] = (),
    ) -> None:
        self._owner = owner
        self.function = function
        self.handler = handler
        self.keys = keys
        self.exclude = exclude

    @property
    def active(self) -> bool:
        """Whether the handler is still registered through this registration."""
        return self in self._owner.registrations

    def remove(self) -> None:
        """Stop delivering to the handler through this registration."""
        self._owner._discard(self)

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        keys = ", ".join(getattr(k, "__qualname__", None) or repr(k) for k in self.keys)
        state = "" if self.active else ", removed"
        return f"Registration({qualified_name(self.function)} for {keys}{state})"


class Registrations(Container):
    """A container whose handlers are held as ``Registration`` objects, in order.

    Each function is injected once, however often it is registered; ``_changed`` is
    called after every registration or removal.
    """

    def __init__(self, provider: Provider | None) -> None:
        super().__init__(provider)
        self._registrations: tuple[Registration, ...] = ()

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """The active registrations, oldest first."""
        return self._registrations

    def _add(
        self, function: Callable[..., Any], keys: tuple[Hashable, ...], exclude: tuple[type, ...]
    ) -> Registration:
        known = self._find(function)
        if known:
            handler = known[0].handler
        else:
            reject_async(function, self)
            handler = inject(self.provider, owner=self)(function)
        registration = Registration(self, function, handler, keys, exclude)
        self._registrations += (registration,)
        self._changed()
        return registration

    def _find(self, function: Callable[..., Any]) -> list[Registration]:
        """The registrations of ``function``: given as registered or as injected."""
        return [
            r for r in self._registrations
            if r.handler is function or r.function is function or r.function == function
        ]

    def remove(self, handler: Callable[..., Any]) -> None:
        """Remove every registration of ``handler`` (as registered or as returned).

        Raises:
            ValueError: ``handler`` is not registered here.
        """
        found = self._find(handler)
        if not found:
            raise ValueError(f"{qualified_name(handler)} is not registered with {self!r}")
        self._registrations = tuple(r for r in self._registrations if r not in found)
        self._changed()

    def _discard(self, registration: Registration) -> None:
        if registration in self._registrations:
            self._registrations = tuple(r for r in self._registrations if r is not registration)
            self._changed()

    def _changed(self) -> None:
        """Routes may differ now."""
