"""``event``: the shape of an event is a dataclass."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # Python 3.10
    from typing_extensions import dataclass_transform

__all__ = ["event"]

C = TypeVar("C", bound=type)


@overload
def event(cls: C, /) -> C: ...


@overload
def event(*, slots: bool = True, frozen: bool = False) -> Callable[[C], C]: ...


@dataclass_transform()
def event(cls: Any = None, /, *, slots: bool = True, frozen: bool = False) -> Any:
    """Make ``cls`` a dataclass (with ``__slots__`` by default): the shape of an event.

    Instances can be weakly referenced, pickled and copied (``frozen=True`` included).

    Example:
        >>> @event
        ... class Trained:
        ...     epoch: int
        ...     loss: float
        >>> Trained(1, 0.5)
        Trained(epoch=1, loss=0.5)
    """

    def build(target: C) -> C:
        weak = slots and not any(base.__weakrefoffset__ for base in target.__mro__[1:])
        if sys.version_info >= (3, 11):
            made: Any = dataclasses.dataclass(slots=slots, frozen=frozen, weakref_slot=weak)(target)
            return made  # type: ignore[no-any-return]
        plain: Any = dataclasses.dataclass(slots=slots and not weak, frozen=frozen)(target)
        rebuilt: C = _with_weakref_slot(plain, frozen) if weak else plain
        return rebuilt

    return build if cls is None else build(cls)


def _with_weakref_slot(cls: Any, frozen: bool) -> Any:
    """Python 3.10's ``dataclass(slots=True)`` without ``weakref_slot``: rebuild the class
    with its fields and ``__weakref__`` as slots."""
    names = tuple(field.name for field in dataclasses.fields(cls))
    namespace = {k: v for k, v in cls.__dict__.items() if k not in (*names, "__dict__")}
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = (*names, "__weakref__")
    rebuilt = type(cls)(cls.__name__, cls.__bases__, namespace)
    rebuilt.__qualname__ = cls.__qualname__
    if frozen:  # pickle and copy set slots through __setstate__, past the frozen __setattr__
        rebuilt.__getstate__ = _getstate
        rebuilt.__setstate__ = _setstate
    return rebuilt


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, field.name) for field in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for field, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, field.name, value)
