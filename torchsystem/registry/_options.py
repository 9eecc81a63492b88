"""The options a class is registered with, where they are kept, and their checks."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torchsystem._inspect import qualified_name

__all__ = ["MARKER", "Capture", "check_exclusions", "pick_excluded", "registered_options"]

MARKER = "__torchsystem_capture__"  # the attribute of the __init__ wrapper holding a Capture


@dataclass(frozen=True)
class Capture:
    """What a registered class records: its custom name and the parameters left out."""

    owner: type
    name: str | None
    excluded_args: frozenset[int]
    excluded_kwargs: frozenset[str]


def registered_options(cls: type) -> Capture | None:
    """The options ``cls`` itself was registered with (not a base's), or ``None``."""
    options = getattr(cls.__dict__.get("__init__"), MARKER, None)
    return options if isinstance(options, Capture) and options.owner is cls else None


def pick_excluded(given: Iterable[Any] | None, previous: frozenset[Any], kind: type) -> Any:
    if given is None:
        return previous
    items = None if isinstance(given, (str, bytes)) else frozenset(given)
    if items is None or not all(isinstance(item, kind) for item in items):
        raise TypeError(
            f"excluded options take a collection of {kind.__name__}, got {given!r} "
            "(for example excluded_args=[0], excluded_kwargs={'name'})"
        )
    return items


def check_exclusions(cls: type, parameters: list[inspect.Parameter], options: Capture) -> None:
    names = [parameter.name for parameter in parameters]
    wrong = sorted(index for index in options.excluded_args if not 0 <= index < len(names))
    if wrong:
        raise ValueError(
            f"excluded_args {wrong} of {qualified_name(cls)} are out of range: __init__ "
            f"has {len(names)} parameters after self ({', '.join(names) or 'none'})"
        )
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    unknown = sorted(options.excluded_kwargs - set(names))
    if unknown and not takes_kwargs:
        raise ValueError(
            f"excluded_kwargs {unknown} are not parameters of {qualified_name(cls)}.__init__; "
            f"its parameters are: {', '.join(names) or 'none'}"
        )
