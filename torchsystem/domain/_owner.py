"""Who owns an ``Events`` queue, and how an exception it raises names that owner."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["describe", "note", "reference"]


def reference(owner: object) -> Callable[[], Any]:
    """A weak reference to ``owner`` where it allows one, else a strong one."""
    try:
        return weakref.ref(owner)
    except TypeError:
        return lambda: owner


def describe(owner: object) -> str:
    """``the domain events of Classifier (id '...')``, or ``an Events queue``."""
    if owner is None:
        return "an Events queue"
    try:
        identity = f" (id {owner.id!r})"  # type: ignore[attr-defined]
    except Exception:
        identity = ""
    return f"the domain events of {type(owner).__qualname__}{identity}"


def note(error: BaseException, text: str) -> None:
    """Add ``text`` to the exception's notes once (printed with the traceback from 3.11)."""
    notes = getattr(error, "__notes__", None) or []
    if text not in notes:  # __notes__ is what add_note (3.11) fills and tracebacks print
        error.__notes__ = [*notes, text]  # type: ignore[attr-defined]
