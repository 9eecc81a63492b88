"""Subclasses of a registered class: each one that defines ``__init__`` records its own
arguments, whether it was defined before or after the registration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["follow_subclasses"]

_FOLLOWED = "__torchsystem_follows_subclasses__"


def follow_subclasses(cls: type, capture_subclass: Callable[[type], None]) -> None:
    """Call ``capture_subclass`` for every subclass of ``cls``: those that exist now, and
    each one defined later (from ``__init_subclass__``, after any hook of ``cls`` ran)."""
    if _FOLLOWED not in cls.__dict__:
        _hook(cls, capture_subclass)
    for subclass in _descendants(cls):
        capture_subclass(subclass)


def _hook(cls: type, capture_subclass: Callable[[type], None]) -> None:
    previous = cls.__dict__.get("__init_subclass__")

    def __init_subclass__(subclass: type, /, **kwargs: Any) -> None:
        if isinstance(previous, classmethod):
            previous.__get__(None, subclass)(**kwargs)
        else:
            super(cls, subclass).__init_subclass__(**kwargs)  # type: ignore[arg-type]
        capture_subclass(subclass)

    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
    setattr(cls, _FOLLOWED, True)


def _descendants(cls: type) -> list[type]:
    """Subclasses at any depth, parents first."""
    found: list[type] = []
    todo: list[type] = list(type.__subclasses__(cls))
    while todo:
        subclass = todo.pop(0)
        if subclass not in found:
            found.append(subclass)
            todo.extend(type.__subclasses__(subclass))
    return found
