"""What the ``Training`` service is given: phase names, loaders, a number of epochs."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from torchsystem.domain.aggregate import TRAINING_PHASES, trains

__all__ = [
    "TRAIN",
    "Limit",
    "describe",
    "epochs_of",
    "every_of",
    "limit_for",
    "limits_of",
    "named_phases",
]

TRAIN = "train"
"""The name the framework reports the training phase under."""


def describe(value: Any) -> str:
    """A short description for an error message: never a whole tensor or data set."""
    if isinstance(value, (tuple, list)) and not value:
        return f"an empty {type(value).__name__}"
    if isinstance(value, (tuple, list)):
        kinds = ", ".join(type(item).__name__ for item in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"a {type(value).__name__} of {len(value)} ({kinds}{more})"
    if isinstance(value, Mapping):
        keys = ", ".join(repr(key)[:30] for key in list(value)[:4])
        return f"a {type(value).__name__} with keys ({keys})"
    if isinstance(value, str):
        return f"the string {value!r:.40}"
    return f"a {type(value).__name__}"


def named_phases(loaders: Any) -> list[tuple[str, Any]]:
    """``(phase, loader)`` pairs from a mapping or a list/tuple of pairs, in order.

    ``'training'`` is read as ``'train'``. The pairs are read once, so a call that runs
    many epochs iterates the same loaders each epoch.

    Raises:
        TypeError: ``loaders`` is not a mapping or a list/tuple of (str, loader) pairs.
        ValueError: two loaders for one phase.
    """
    if isinstance(loaders, Mapping):
        pairs = list(loaders.items())
    elif isinstance(loaders, (list, tuple)):
        pairs = list(loaders)
    else:
        raise TypeError(
            "loaders must be a list of (phase, loader) pairs or a mapping phase -> loader, "
            f"got {describe(loaders)}; for one loader pass [('train', loader)]"
        )
    named: list[tuple[str, Any]] = []
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(
                f"loaders must be (phase, loader) pairs, but item {index} is "
                f"{describe(pair)}; for one loader pass [('train', loader)]"
            )
        phase = TRAIN if trains(pair[0]) else pair[0]
        if any(phase == seen for seen, _ in named):
            both = f" ({' and '.join(sorted(TRAINING_PHASES))} both name it)"
            raise ValueError(
                f"two loaders for the phase {phase!r}{both if phase == TRAIN else ''}; "
                "give each loader its own phase name"
            )
        named.append((phase, pair[1]))
    return named


def epochs_of(epochs: Any) -> int:
    """``epochs`` as a whole number of epochs, 0 or more.

    Raises:
        TypeError: not an integer (``'3'``, ``3.0``, ``True``).
        ValueError: negative.
    """
    try:
        if isinstance(epochs, bool):
            raise TypeError
        count = operator.index(epochs)
    except TypeError:
        raise TypeError(
            f"epochs must be an int (fit trains until model.epoch reaches it), "
            f"got {describe(epochs)}"
        ) from None
    if count < 0:
        raise ValueError(f"epochs must be 0 or more, got {count}")
    return count


Limit = int | Mapping[str, int] | None


def limits_of(limit_batches: Any) -> Limit:
    """``limit_batches`` checked: ``None``, a number of batches for every phase, or a
    mapping phase -> number of batches (``'training'`` read as ``'train'``).

    Raises:
        TypeError: not an int or a mapping of str to int.
        ValueError: a number below 1.
    """
    if limit_batches is None:
        return None
    if isinstance(limit_batches, Mapping):
        checked: dict[str, int] = {}
        for phase, limit in limit_batches.items():
            if not isinstance(phase, str):
                raise TypeError(f"limit_batches maps phase names to numbers, got key {phase!r:.40}")
            checked[TRAIN if trains(phase) else phase] = _batches(limit, f"[{phase!r}]")
        return checked
    return _batches(limit_batches, "")


def _batches(limit: Any, where: str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(
            f"limit_batches{where} must be a whole number of batches (or a mapping phase -> "
            f"number), got {describe(limit)}"
        )
    if limit < 1:
        raise ValueError(
            f"limit_batches{where} must be 1 or more, got {limit}; to skip a phase, leave its "
            "loader out"
        )
    return limit


def limit_for(phase: str, limits: Limit) -> int | None:
    """How many batches ``phase`` may run: the number, or the mapping's entry (none: all)."""
    if limits is None or isinstance(limits, int):
        return limits
    return limits.get(phase)


def every_of(validate_every: Any) -> int:
    """``validate_every`` checked: evaluation phases run every that many epochs.

    Raises:
        TypeError: not an int.
        ValueError: below 1.
    """
    if isinstance(validate_every, bool) or not isinstance(validate_every, int):
        raise TypeError(
            f"validate_every must be a whole number of epochs, got {describe(validate_every)}"
        )
    if validate_every < 1:
        raise ValueError(f"validate_every must be 1 or more, got {validate_every}")
    return validate_every
