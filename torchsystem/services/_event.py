"""``event``: the shape of an event is a dataclass."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
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

    Example:
        >>> @event
        ... class Trained:
        ...     epoch: int
        ...     loss: float
        >>> Trained(1, 0.5)
        Trained(epoch=1, loss=0.5)
    """

    def build(target: C) -> C:
        made: Any = dataclass(slots=slots, frozen=frozen)(target)
        return made  # type: ignore[no-any-return]

    return build if cls is None else build(cls)
