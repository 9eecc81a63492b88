"""``Trainable``: what the ``Training`` service asks of an aggregate, checked up front."""

from __future__ import annotations

import operator
import os
import sys
import warnings
from types import FrameType
from typing import Any, Protocol

from torch import nn

__all__ = ["MissingIdWarning", "Trainable", "check_trainable", "identify"]


class Trainable(Protocol):
    """The aggregate protocol of the ``Training`` service (``torchsystem.Aggregate`` fits).

    - ``phase``: set to ``'train'`` before a training pass and ``'evaluation'`` before an
      evaluation pass; on an ``nn.Module`` it must switch train/eval mode, so it must be
      a property (``Aggregate.phase`` is);
    - ``epoch``: the number of finished epochs (read as 0 when absent); ``iterate`` and
      ``fit`` assign ``epoch + 1`` at the end of each epoch;
    - ``fit(*batch)`` for a training pass, ``evaluate(*batch)`` for an evaluation pass
      (see the batch rule of ``Training``); only the ones a call needs must exist;
    - ``events`` (optional): an ``Events`` queue, committed once per epoch.

    Example:
        >>> from torchsystem import Aggregate
        >>> class Regressor(Aggregate):
        ...     id = "regressor"
        ...     def fit(self, inputs, target): ...
        ...     def evaluate(self, inputs, target): ...
        >>> check_trainable(Regressor(), fits=True, evaluates=True)
    """

    @property
    def phase(self) -> str: ...

    @phase.setter
    def phase(self, value: str) -> None: ...

    def fit(self, *args: Any, **kwargs: Any) -> Any: ...

    def evaluate(self, *args: Any, **kwargs: Any) -> Any: ...


def check_trainable(model: Any, *, fits: bool, evaluates: bool) -> None:
    """Refuse ``model`` before any batch runs when it lacks what the call needs.

    Raises:
        TypeError: no ``phase`` (or, on an ``nn.Module``, a ``phase`` that is not a
            property, so it could not switch train/eval mode); ``fit`` missing when
            ``fits``, ``evaluate`` missing when ``evaluates``; ``epoch`` not an integer.
    """
    name = type(model).__name__
    declared = getattr(type(model), "phase", None)
    if isinstance(model, nn.Module) and not hasattr(declared, "__set__"):
        raise TypeError(
            f"{name} has no `phase` property, so the Training service could not switch it "
            "between train and eval mode; subclass torchsystem.Aggregate (or define a "
            "`phase` property that calls train()/eval())"
        )
    if declared is None and not hasattr(model, "phase"):
        raise TypeError(
            f"{name} has no `phase`; the Training service sets it to 'train' or "
            "'evaluation' before each pass: subclass torchsystem.Aggregate"
        )
    for needed, method in ((fits, "fit"), (evaluates, "evaluate")):
        if needed and not callable(getattr(model, method, None)):
            raise TypeError(
                f"{name} has no `{method}` method; the Training service calls "
                f"model.{method}(*batch) for each batch of a "
                f"{'training' if method == 'fit' else 'evaluation'} phase"
            )
    epoch = getattr(model, "epoch", 0)
    try:
        if isinstance(epoch, bool):
            raise TypeError
        operator.index(epoch)
    except TypeError:
        raise TypeError(
            f"{name}.epoch must be an int (the number of finished epochs), "
            f"got {type(epoch).__name__}"
        ) from None


def identify(model: Any) -> str:
    """``str(model.id)``, the identity events carry; the class name when there is none.

    Without an id, consumers can only tag a model by its class, so two runs of one class
    write to the same TensorBoard tags and summary lines: that is warned about.
    """
    try:
        return str(model.id)
    except (AttributeError, NotImplementedError):
        name = type(model).__name__
        warnings.warn(
            f"{name} has no id, so its events carry the class name {name!r} instead and "
            f"every {name} is tagged alike (TensorBoard, EpochSummary): define `id` on "
            "the aggregate (for example `@property def id(self): return gethash(self.nn)`)",
            MissingIdWarning,
            stacklevel=_outside(sys._getframe()),
        )
        return name


def _outside(frame: FrameType | None) -> int:
    """The ``stacklevel`` of the first caller outside torchsystem (its generated code too,
    and mutmut's trampolines, which wrap the package's functions under ``make mutation``),
    counted from ``frame``, the one that calls ``warnings.warn``."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level = 1
    while frame is not None and (
        frame.f_code.co_filename.startswith((package, "<torchsystem"))
        or frame.f_globals.get("__name__", "").partition(".")[0] == "mutmut"
    ):
        frame, level = frame.f_back, level + 1
    return level


class MissingIdWarning(UserWarning):
    """A model without an ``id`` reached the service or a consumer."""
