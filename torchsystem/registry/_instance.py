"""Where a registered instance keeps its record, and how it appears nested in another's.

The attribute names are those of the original torchsystem, so pickles and code that
read them directly keep working: ``__model__arguments__`` (dict), ``__model__name__``
(custom name) and ``__model__hash__`` (hash set with ``sethash``).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["ARGUMENTS", "HASH", "NAME", "name_of", "nest", "read", "write"]

ARGUMENTS = "__model__arguments__"
NAME = "__model__name__"
HASH = "__model__hash__"


def read(obj: object, key: str, default: Any = None) -> Any:
    """The value stored on the instance itself under ``key`` (class attributes ignored)."""
    return getattr(obj, "__dict__", {}).get(key, default)


def write(obj: object, key: str, value: Any) -> None:
    """Store ``value`` on the instance, bypassing ``__setattr__`` (``nn.Module``, frozen
    dataclasses), so it never becomes a parameter, buffer or submodule."""
    object.__setattr__(obj, key, value)


def name_of(obj: object) -> str:
    """The custom name of ``obj``, else the name of its class."""
    name: str = read(obj, NAME, type(obj).__name__)
    return name


def nest(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A snapshot of ``value``: registered objects replaced by ``{'name', 'arguments'}``
    (or just their name when they recorded no arguments), and lists, tuples, dicts and
    sets copied (subclasses such as ``OrderedDict`` included, keeping their type where a
    shallow copy can), so later changes by the caller never reach the record. A container
    that holds itself is copied as a cycle.

    Other values (frozensets included: they cannot change) are shared, not copied.
    """
    memo = {} if memo is None else memo
    found = memo.get(id(value), _MISSING)
    if found is not _MISSING:
        return found
    arguments = read(value, ARGUMENTS)
    if isinstance(arguments, dict):
        if len(arguments) == 0:
            return name_of(value)
        return {"name": name_of(value), "arguments": nest(arguments, memo)}
    if isinstance(value, (list, dict)):
        copied = _shallow(value, dict if isinstance(value, dict) else list)
        memo[id(value)] = copied
        pairs = list(value.items() if isinstance(value, dict) else enumerate(value))
        for key, item in pairs:
            copied[key] = nest(item, memo)
        return copied
    if isinstance(value, tuple):
        items = [nest(item, memo) for item in value]
        make = getattr(type(value), "_make", None)  # a namedtuple keeps its type
        return tuple(items) if make is None else make(items)
    if isinstance(value, set):  # a frozenset is kept: it cannot change
        return _shallow(value, set)
    return value


_MISSING = object()


def _shallow(value: Any, base: type) -> Any:
    """A shallow copy of the same type, or a ``base`` when that type refuses a copy."""
    try:
        return copy.copy(value)
    except Exception:
        return base(value)
