"""``WatchedDict``: a dict that validates what goes in and reports every change."""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["WatchedDict"]

K = TypeVar("K")
V = TypeVar("V")


class WatchedDict(dict[K, V]):
    """Calls ``_check(key, value)`` before each insertion and ``_changed()`` after each
    mutation, whichever ``dict`` method made it. Subclasses override the two hooks."""

    __slots__ = ()

    def _check(self, key: K, value: V) -> None:
        """Raise to refuse ``value`` under ``key``."""

    def _changed(self) -> None:
        """React to a change."""

    def __setitem__(self, key: K, value: V) -> None:
        self._check(key, value)
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: K) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> WatchedDict[K, V]:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, key: K, default: V | None = None) -> V:
        if key not in self:
            if default is None:
                raise TypeError(f"{type(self).__name__}.setdefault needs a value for {key!r}")
            self[key] = default
        return self[key]

    def pop(self, key: K, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[K, V]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))  # a copy on its own is a plain dict
