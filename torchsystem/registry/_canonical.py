"""Canonical JSON of recorded arguments: the same text in every process and on every machine.

Encodings: ``None``, ``bool``, ``int``, ``str`` and ``float`` as JSON (``nan``, ``inf`` and
``-inf`` as the tokens ``NaN``, ``Infinity`` and ``-Infinity``, which Python's ``json``
reads back); tuples as lists; sets and frozensets as lists sorted by their encoding;
dicts with string keys, sorted; ``enum.Enum`` as its value; ``pathlib`` paths as POSIX
strings; ``torch.dtype`` and ``torch.device`` as ``str()``. Anything else is refused.
"""

from __future__ import annotations

import enum
import json
import pathlib
from typing import Any

__all__ = ["canonical", "dumps"]

_TORCH_TYPES = frozenset({"dtype", "device"})


class UnencodableError(TypeError):
    """An argument has no canonical encoding; ``path`` says where it sits."""

    def __init__(self, path: str, value: Any, reason: str) -> None:
        super().__init__(path, value, reason)
        self.path = path
        self.value = value
        self.reason = reason


def dumps(arguments: dict[str, Any]) -> str:
    """Canonical JSON text of ``arguments`` (sorted keys, no spaces, ASCII).

    Raises:
        UnencodableError: a value (or a dict key) has no canonical encoding.
    """
    return json.dumps(
        canonical(arguments, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def canonical(value: Any, path: str) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None).

    Raises:
        UnencodableError: ``value``, or something inside it, cannot be encoded.
    """
    if isinstance(value, enum.Enum):
        return canonical(value.value, path)
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [canonical(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [canonical(item, f"{path}{{...}}") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, dict):
        return _mapping(value, path)
    if isinstance(value, pathlib.PurePath):
        return value.as_posix()
    if type(value).__module__ == "torch" and type(value).__name__ in _TORCH_TYPES:
        return str(value)
    raise UnencodableError(path, value, f"a {type(value).__qualname__} has no JSON encoding")


def _mapping(value: dict[Any, Any], path: str) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise UnencodableError(path, key, f"dict key {key!r} is not a string")
        encoded[key] = canonical(item, f"{path}[{key!r}]" if path else key)
    return encoded
