"""Canonical JSON of recorded arguments: the same text in every process and on every machine.

Encodings: ``None``, ``bool``, ``int``, ``str`` and ``float`` as JSON (``nan``, ``inf`` and
``-inf`` as the tokens ``NaN``, ``Infinity`` and ``-Infinity``, which Python's ``json``
reads back); other integers (``numbers.Integral``, such as ``numpy.int64``) as ``int``,
other real numbers (``numbers.Real``: ``float`` subclasses, ``numpy.float32``) as
``float``, and any other NumPy scalar as its ``item()``; lists and tuples (subclasses
included) as lists; sets and frozensets as lists sorted by their encoding; dicts with
string keys, sorted; ``enum.Enum`` as its value; ``pathlib`` paths as POSIX strings;
``torch.dtype`` and ``torch.device`` as ``str()``; a class or a named function as
``module.qualname``. Anything else, and a container that contains itself, is refused.
"""

from __future__ import annotations

import enum
import json
import numbers
import pathlib
import types
from typing import Any

__all__ = ["UnencodableError", "canonical", "dumps"]

_TORCH_TYPES = frozenset({"dtype", "device"})
_NAMED = (type, types.FunctionType, types.BuiltinFunctionType)


class UnencodableError(TypeError):
    """An argument has no canonical encoding; ``path`` says where it sits; ``registrable``
    whether decorating the value's class with ``@register`` would give it one."""

    def __init__(self, path: str, value: Any, reason: str, registrable: bool = False) -> None:
        super().__init__(path, value, reason, registrable)
        self.path = path
        self.value = value
        self.reason = reason
        self.registrable = registrable


def dumps(arguments: dict[str, Any]) -> str:
    """Canonical JSON text of ``arguments`` (sorted keys, no spaces, ASCII).

    Raises:
        UnencodableError: a value (or a dict key) has no canonical encoding.
    """
    return json.dumps(
        canonical(arguments, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def canonical(value: Any, path: str, _inside: frozenset[int] = frozenset()) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None).

    Raises:
        UnencodableError: ``value``, or something inside it, cannot be encoded.
    """
    if value is None or type(value) in (bool, int, str, float):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value, path, _inside)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if id(value) in _inside:
            raise UnencodableError(path, value, f"the {type(value).__name__} contains itself")
        return _container(value, path, _inside | {id(value)})
    return _scalar(value, path)


def _container(value: Any, path: str, inside: frozenset[int]) -> Any:
    if isinstance(value, dict):
        return _mapping(value, path, inside)
    if isinstance(value, (list, tuple)):
        return [canonical(item, f"{path}[{index}]", inside) for index, item in enumerate(value)]
    items = [canonical(item, f"{path}{{...}}", inside) for item in value]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, pathlib.PurePath):
        return value.as_posix()
    kind = type(value)
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return canonical(value.item(), path)
    if kind.__module__ == "torch" and kind.__name__ in _TORCH_TYPES:
        return str(value)
    if isinstance(value, _NAMED):
        return _named(value, path)
    registrable = kind.__module__ != "builtins"
    raise UnencodableError(path, value, f"a {kind.__qualname__} has no JSON encoding", registrable)


def _named(value: Any, path: str) -> str:
    """A class or a function, by where it is defined."""
    name = getattr(value, "__qualname__", None)
    if not isinstance(name, str) or "<lambda>" in name:
        raise UnencodableError(path, value, "a lambda has no stable name; pass a named function")
    return f"{value.__module__}.{name}"


def _mapping(value: dict[Any, Any], path: str, inside: frozenset[int]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise UnencodableError(path, key, f"dict key {key!r} is not a string")
        encoded[str(key)] = canonical(item, f"{path}[{key!r}]" if path else key, inside)
    return encoded
