"""Where a registered instance keeps its record, and how it appears nested in another's.

The attribute names are those of the original torchsystem, so pickles and code that
read them directly keep working: ``__model__arguments__`` (dict), ``__model__name__``
(custom name) and ``__model__hash__`` (hash set with ``sethash``).
"""

from __future__ import annotations

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


def nest(value: Any) -> Any:
    """A copy of ``value`` with registered objects replaced by ``{'name', 'arguments'}``
    (or just their name when they recorded no arguments), inside lists, tuples and dicts.

    Other values are shared, not copied.
    """
    arguments = read(value, ARGUMENTS)
    if isinstance(arguments, dict):
        if len(arguments) == 0:
            return name_of(value)
        return {"name": name_of(value), "arguments": nest(arguments)}
    if type(value) is list or type(value) is tuple:
        return type(value)(nest(item) for item in value)
    if type(value) is dict:
        return {key: nest(item) for key, item in value.items()}
    return value
