"""``Aggregate``: a model, its loss and its optimizer, treated as one unit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from torch import nn

from torchsystem.domain.events import Events

__all__ = ["EVALUATION_PHASES", "TRAINING_PHASES", "Aggregate", "Phase", "trains"]

Phase = Literal["train", "evaluation"]

TRAINING_PHASES: frozenset[str] = frozenset({"train", "training"})
"""The names of the training phase: ``'train'`` is the one the framework reports, and
``'training'`` is read as ``'train'`` wherever a phase is given (``Aggregate.phase``, the
phase of a loader given to the ``Training`` service)."""

EVALUATION_PHASES: frozenset[str] = frozenset(
    {"evaluation", "eval", "validation", "test", "inference"}
)
"""The names ``Aggregate.phase`` accepts for evaluation (it then reads ``'evaluation'``)."""


def trains(phase: str) -> bool:
    """Whether ``phase`` names the training phase: exactly ``'train'`` or ``'training'``.

    Any other name is an evaluation phase, ``'train-eval'`` and ``'trainval'`` included.
    """
    return phase in TRAINING_PHASES


def _get_id(self: Aggregate) -> Any:
    try:
        return self.__dict__["_aggregate_id"]
    except KeyError:
        raise NotImplementedError(
            f"{type(self).__name__} has no id: define `id` in the subclass (for example "
            "`@property def id(self): return gethash(self.nn)`) or assign `self.id = ...`"
        ) from None


def _set_id(self: Aggregate, value: Any) -> None:
    self.__dict__["_aggregate_id"] = value


class Aggregate(nn.Module):
    """An ``nn.Module`` that is the root of a training aggregate.

    Subclasses provide ``id`` (a property, a class attribute, or ``self.id = ...``).
    ``phase`` reads ``'train'`` or ``'evaluation'``; setting it (to a name of
    ``TRAINING_PHASES`` or ``EVALUATION_PHASES``) switches every submodule to train or
    eval mode and calls ``onphase()``. Setting ``epoch`` once it has a value calls
    ``onepoch()``. ``events`` holds the aggregate's domain events: the ready ``Training``
    service commits them once per epoch, right after setting ``epoch``; a hand-written
    loop commits them in ``onepoch()``, as below.

    Raises:
        NotImplementedError: ``id`` is read but the subclass provides none.
        ValueError: ``phase`` is set to an unknown name.
        AttributeError: ``epoch`` is read before it was set.

    Example:
        >>> import torch
        >>> class Classifier(Aggregate):
        ...     def __init__(self) -> None:
        ...         super().__init__()
        ...         self.epoch = 0
        ...         self.nn = torch.nn.Linear(4, 2)
        ...     @property
        ...     def id(self) -> str:
        ...         return "linear"
        ...     def onepoch(self) -> None:
        ...         self.events.commit()
        >>> classifier = Classifier()
        >>> classifier.phase = "evaluation"
        >>> classifier.nn.training, classifier.phase
        (False, 'evaluation')
    """

    events: Events

    def __init__(self) -> None:
        super().__init__()
        self.events = Events(owner=self)

    if TYPE_CHECKING:  # read-only for type checkers, so 1.3's `@property def id` fits

        @property
        def id(self) -> Any:
            """The identity of the aggregate root; subclasses provide it."""

    else:
        id = property(_get_id, _set_id, doc="The identity of the aggregate root.")

    if TYPE_CHECKING:  # for type checkers only: a subclass need not define both

        def fit(self, *args: Any, **kwargs: Any) -> Any:
            """One training step on a batch; subclasses define it to be trained."""

        def evaluate(self, *args: Any, **kwargs: Any) -> Any:
            """One evaluation step on a batch; subclasses define it to be evaluated."""

    @property
    def phase(self) -> Phase:
        """``'train'`` when in training mode, ``'evaluation'`` otherwise."""
        return "train" if self.training else "evaluation"

    @phase.setter
    def phase(self, value: str) -> None:
        if value in TRAINING_PHASES:
            self.train()
        elif value in EVALUATION_PHASES:
            self.eval()
        else:
            accepted = ", ".join(sorted(TRAINING_PHASES | EVALUATION_PHASES))
            raise ValueError(f"unknown phase {value!r}; use one of: {accepted}")
        self.onphase()

    @property
    def epoch(self) -> int:
        """The current epoch; assigning it after the first time calls ``onepoch()``."""
        try:
            value: int = self.__dict__["_aggregate_epoch"]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__}.epoch has not been set; assign it first "
                "(for example `self.epoch = 0` in __init__)"
            ) from None
        return value

    @epoch.setter
    def epoch(self, value: int) -> None:
        first = "_aggregate_epoch" not in self.__dict__
        self.__dict__["_aggregate_epoch"] = value
        if not first:
            self.onepoch()

    def onphase(self) -> None:
        """Called after ``phase`` is set. Override to react."""

    def onepoch(self) -> None:
        """Called after ``epoch`` is set (except the first time). Override to react."""
