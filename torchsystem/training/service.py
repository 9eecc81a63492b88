"""``Training``: a ready training service for aggregates with ``fit`` and ``evaluate``."""

# No `from __future__ import annotations` here: the handlers are injected per instance, and
# real annotations spare the injection a `get_type_hints` per handler (a third of the
# time `Training()` takes to make).

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import torch

from torchsystem.depends import Depends, Provider
from torchsystem.domain.aggregate import trains
from torchsystem.services import Producer
from torchsystem.training._arguments import (
    TRAIN,
    Limit,
    epochs_of,
    every_of,
    limit_for,
    limits_of,
    named_phases,
)
from torchsystem.training._collective import agree_on_stop
from torchsystem.training._phase import run_phase, target_device
from torchsystem.training._predict import check_batches, predictions
from torchsystem.training.events import (
    Advanced,
    Ended,
    Iterated,
    Measured,
    Metric,
    Started,
    Stopped,
    Trained,
    Validated,
    outcome_of,
)
from torchsystem.training.handlers import DeclaredService, handler
from torchsystem.training.hyperparameters import hyperparameters, learning_rates
from torchsystem.training.metrics import metric_factories
from torchsystem.training.optimization import Optimization
from torchsystem.training.protocol import Trainable, check_trainable, identify

__all__ = ["Training", "device"]

Metrics = Mapping[str, Any]
Loaders = Mapping[str, Iterable[Any]] | Sequence[tuple[str, Iterable[Any]]]
Results = dict[str, tuple[Metric, ...]]


def device() -> Any:
    """Where batches go. ``None`` (the default) means the model's own device.

    Override it on the service: ``training.override(device, lambda: "cuda")``.
    """
    return None


def _finished(model: Any) -> int:
    """``model.epoch``: the number of finished epochs (0 when the model has none)."""
    return operator.index(getattr(model, "epoch", 0))


def _boundary(model: Any, epoch: int) -> StopIteration | None:
    """The epoch boundary: ``model.epoch = epoch`` (its ``onepoch()``), then every event
    the aggregate queued is committed. The first ``StopIteration`` raised is the stop;
    delivery goes on, so later stop requests of the epoch are used up with it."""
    stop: StopIteration | None = None
    try:
        model.epoch = epoch
    except StopIteration as raised:  # an onepoch() that commits, as in torchsystem 1.3
        stop = raised
    events = getattr(model, "events", None)
    while events is not None:
        try:
            events.commit()
            break
        except StopIteration as raised:
            stop = raised if stop is None else stop
    return stop


def _started(model: Any, phases: list[tuple[str, Any]], epochs: int) -> Started:
    """``Started``, with what the run is trained with read now, on the training thread."""
    return Started(model, _finished(model) + 1, epochs, tuple(phases),
                   hyperparameters(model, phases, epochs), model_id=identify(model))


class Training(DeclaredService):
    """Train, evaluate and predict with any aggregate that has ``fit`` and ``evaluate``.

    Handlers (call them directly or by name with ``handle``):

    - ``train(model, loader)``: one pass in phase ``'train'``; then each
      ``Optimization`` attribute of the model flushes its leftover gradients;
    - ``validate(model, loader, phase='validation')``: one pass under
      ``torch.inference_mode`` in phase ``'evaluation'``;
    - ``iterate(model, loaders)``: one epoch over ``(phase, loader)`` pairs (``'train'``
      or ``'training'`` trains, any other name evaluates, every ``validate_every``
      epochs), then the epoch boundary: ``model.epoch += 1`` and the aggregate's events
      are committed; an early stop raises ``StopIteration`` here;
    - ``fit(model, loaders, epochs)``: ``iterate`` until ``model.epoch`` reaches
      ``epochs`` or an early stop; returns the number of epochs run;
    - ``predict(model, loader, stream=False)``: ``model.predict(*batch)`` (or
      ``model(*batch)``) per batch under ``torch.inference_mode``; a list of outputs, or
      an iterator of them.

    Configuration, on the service or per call (which wins): ``metrics`` (names to metric
    objects, copied afresh for each pass, or factories such as ``Accuracy``);
    ``validate_every`` (evaluate every that many epochs); ``limit_batches`` (at most that
    many batches per phase, or a mapping phase -> number: a quick dry run).

    Batches: an ``(inputs, target)`` pair calls ``model.fit(inputs, target)``; any other
    list or tuple is spread (``fit(*batch)``, its second item is the target), a mapping is
    passed as keywords (``fit(**batch)``), anything else as one argument. Tensors (and
    anything with ``.to``) at the top level of a batch go to the injected ``device``.
    ``fit``/``evaluate`` return ``loss``, ``(prediction, loss)`` or ``(prediction,
    target, loss)``; each pass reports the sample-weighted mean ``loss`` first, then each
    metric.

    Events (through ``producer``): ``Stepped`` per batch (when a consumer receives it),
    ``Trained``/``Validated`` per pass, ``Iterated`` per epoch, ``Advanced`` after its
    boundary (``model.epoch`` moved: checkpoints copy the state there), ``Stopped`` on an
    early stop; they carry the model's id and the epoch in progress (``model.epoch + 1``;
    ``Advanced``: the epoch just finished). ``fit`` also dispatches ``Started`` first and
    ``Ended`` last (a run's true start and end, with its hyperparameters and its outcome).
    Subclasses add handlers with ``@handler``. docs/training.md has the whole contract.

    Under ``torchrun`` (a ``torch.distributed`` process group of more than one), each
    pass's loss and metrics are averaged over the ranks, weighted by their samples, and an
    early stop on any rank stops every rank at the same epoch (docs/distributed.md).

    Raises:
        TypeError, ValueError: bad ``metrics``, ``validate_every`` or ``limit_batches``.

    Example:
        >>> from torchsystem.training import Training, Accuracy
        >>> training = Training(metrics={"accuracy": Accuracy}, validate_every=2)
        >>> sorted(training.handlers)
        ['fit', 'iterate', 'predict', 'train', 'validate']
    """

    def __init__(
        self,
        producer: Producer | None = None,
        *,
        metrics: Metrics | None = None,
        validate_every: int = 1,
        limit_batches: Limit = None,
        name: str = "training",
        provider: Provider | None = None,
    ) -> None:
        metric_factories(metrics)  # refuse bad metrics now, not after a pass
        self.producer = Producer() if producer is None else producer
        self.metrics: Metrics = {} if metrics is None else dict(metrics)
        self.validate_every = every_of(validate_every)
        self.limit_batches = limits_of(limit_batches)
        super().__init__(name, provider=provider)

    @handler
    def train(
        self, model: Trainable, loader: Iterable[Any], metrics: Metrics | None = None,
        device: Any = Depends(device), limit_batches: Limit = None,
    ) -> tuple[Metric, ...]:
        """Train ``model`` for one pass over ``loader``; dispatch ``Trained``.

        Each ``Optimization`` attribute of the model is flushed before ``Trained`` (the
        leftover of an accumulation window) and ends its epoch after it.
        """
        check_trainable(model, fits=True, evaluates=False)
        model.phase = TRAIN
        return self._pass(model, TRAIN, loader, metrics, device, Trained, limit_batches)

    @handler
    def validate(
        self, model: Trainable, loader: Iterable[Any], metrics: Metrics | None = None,
        phase: str = "validation", device: Any = Depends(device), limit_batches: Limit = None,
    ) -> tuple[Metric, ...]:
        """Evaluate ``model`` over ``loader`` without gradients; dispatch ``Validated``.

        Raises:
            ValueError: ``phase`` names the training phase.
        """
        if trains(phase):
            raise ValueError(
                f"validate evaluates, but phase {phase!r} names the training phase; "
                "call train, or name this pass otherwise (for example 'train-eval')"
            )
        check_trainable(model, fits=False, evaluates=True)
        model.phase = "evaluation"
        return self._pass(model, phase, loader, metrics, device, Validated, limit_batches)

    @handler
    def iterate(
        self, model: Trainable, loaders: Loaders, metrics: Metrics | None = None,
        device: Any = Depends(device), validate_every: int | None = None,
        limit_batches: Limit = None,
    ) -> Results:
        """Run one epoch over every ``(phase, loader)``; then the epoch boundary.

        Evaluation phases run only on epochs that are a multiple of ``validate_every``.

        Raises:
            StopIteration: the aggregate's events asked to stop at this epoch boundary.
        """
        options = self._options(validate_every, limit_batches)
        results, stop = self._epoch(model, self._phases(model, loaders), metrics, device, options)
        if stop is not None:
            raise stop
        return results

    @handler
    def fit(
        self, model: Trainable, loaders: Loaders, epochs: int,
        metrics: Metrics | None = None, device: Any = Depends(device),
        validate_every: int | None = None, limit_batches: Limit = None,
    ) -> int:
        """``iterate`` until ``model.epoch == epochs``; return how many epochs ran.

        A ``StopIteration`` from the aggregate's events at an epoch boundary (early
        stopping) ends it cleanly and dispatches ``Stopped`` with the reason. One raised
        anywhere else (a loader, ``model.fit``, a consumer) is an error and propagates.
        When there is an epoch to run, ``Started`` (with the hyperparameters) is
        dispatched once the arguments are checked, and ``Ended`` (with the outcome) when
        it returns or raises.
        """
        remaining = epochs_of(epochs) - _finished(model)
        options = self._options(validate_every, limit_batches)
        phases = self._phases(model, loaders)
        if remaining <= 0:
            return 0
        started = _started(model, phases, epochs_of(epochs))
        self.producer.dispatch(started)
        try:
            ran, stop = self._fit(model, phases, remaining, metrics, device, options)
        except BaseException as error:
            self.producer.dispatch(Ended(model, _finished(model), outcome_of(error), error,
                                         model_id=started.model_id))
            raise
        outcome = "finished" if stop is None else "stopped early"
        self.producer.dispatch(Ended(model, _finished(model), outcome, stop,
                                     model_id=started.model_id))
        return ran

    def _fit(
        self, model: Any, phases: list[tuple[str, Any]], remaining: int,
        metrics: Metrics | None, device: Any, options: tuple[int, Limit],
    ) -> tuple[int, StopIteration | None]:
        for ran in range(1, remaining + 1):
            _, stop = self._epoch(model, phases, metrics, device, options)
            if stop is not None:
                self.producer.dispatch(Stopped(model, _finished(model), stop, identify(model)))
                return ran, stop
        return remaining, None

    @overload
    def predict(
        self, model: Any, loader: Iterable[Any], stream: Literal[False] = False,
        device: Any = ..., limit_batches: Limit = None,
    ) -> list[Any]: ...

    @overload
    def predict(
        self, model: Any, loader: Iterable[Any], stream: Literal[True],
        device: Any = ..., limit_batches: Limit = None,
    ) -> Iterator[Any]: ...

    @overload
    def predict(
        self, model: Any, loader: Iterable[Any], stream: bool,
        device: Any = ..., limit_batches: Limit = None,
    ) -> list[Any] | Iterator[Any]: ...

    @handler
    def predict(
        self, model: Any, loader: Iterable[Any], stream: bool = False,
        device: Any = Depends(device), limit_batches: Limit = None,
    ) -> list[Any] | Iterator[Any]:
        """``model.predict(*batch)`` (or ``model(*batch)``) for each batch of ``loader``,
        under ``torch.inference_mode()`` in phase ``'evaluation'``, by the batch rule.

        Returns the outputs in a list, or with ``stream=True`` an iterator that computes
        each when asked for. Nothing is dispatched: predicting changes nothing.

        Raises:
            TypeError: the model has no ``phase``; ``loader`` is a tensor or not iterable.
        """
        check_trainable(model, fits=False, evaluates=False)
        check_batches(loader)
        limits = self.limit_batches if limit_batches is None else limits_of(limit_batches)
        outputs = predictions(
            model, loader, target_device(model, device), limit_for("predict", limits)
        )
        return outputs if stream else list(outputs)

    def _options(self, validate_every: int | None, limit_batches: Limit) -> tuple[int, Limit]:
        every = self.validate_every if validate_every is None else every_of(validate_every)
        return every, self.limit_batches if limit_batches is None else limits_of(limit_batches)

    def _phases(self, model: Any, loaders: Loaders) -> list[tuple[str, Any]]:
        phases = named_phases(loaders)
        if not any(phase == TRAIN for phase, _ in phases):
            names = [phase for phase, _ in phases]
            raise ValueError(
                f"an epoch needs a training phase, but the loaders' phases are {names}; "
                "name the training loader 'train'"
            )
        check_trainable(model, fits=True, evaluates=len(phases) > 1)
        return phases

    def _epoch(
        self, model: Any, phases: list[tuple[str, Any]], metrics: Metrics | None, device: Any,
        options: tuple[int, Limit],
    ) -> tuple[Results, StopIteration | None]:
        results: Results = {}
        every, limits = options
        evaluates = (_finished(model) + 1) % every == 0
        for phase, loader in phases:
            if phase == TRAIN:
                results[phase] = self.train(model, loader, metrics, device, limits)
            elif evaluates:
                results[phase] = self.validate(model, loader, metrics, phase, device, limits)
        epoch, model_id = _finished(model) + 1, identify(model)
        self.producer.dispatch(Iterated(model, epoch, results, model_id))
        stop = agree_on_stop(_boundary(model, epoch))  # every rank stops together
        self.producer.dispatch(Advanced(model, epoch, results, stop, model_id))
        return results, stop

    def _pass(
        self, model: Any, phase: str, loader: Iterable[Any], metrics: Metrics | None,
        device: Any, made: type[Measured], limit_batches: Limit,
    ) -> tuple[Metric, ...]:
        factories = metric_factories(self.metrics if metrics is None else metrics)
        limits = self.limit_batches if limit_batches is None else limits_of(limit_batches)
        chosen, event = target_device(model, device), (phase, _finished(model) + 1, identify(model))
        limit = limit_for(phase, limits)
        if made is not Trained:
            with torch.inference_mode():
                results = run_phase(
                    model, "evaluate", loader, factories, chosen, self.producer, event, limit
                )
            self.producer.dispatch(made(model, phase, event[1], results, loader, event[2]))
            return results
        results = run_phase(model, "fit", loader, factories, chosen, self.producer, event, limit)
        optimizations = _optimizations(model)
        for optimization in optimizations:
            optimization.flush()
        done = made(model, phase, event[1], results, loader, event[2])
        if isinstance(done, Trained):  # the rates the pass used, before an epoch's step
            done.learning_rates = learning_rates(model)
        self.producer.dispatch(done)
        for optimization in optimizations:
            optimization.end_epoch()
        return results


def _optimizations(model: Any) -> list[Optimization]:
    """The ``Optimization`` attributes of the aggregate, whose epoch a training pass ends."""
    return [value for value in getattr(model, "__dict__", {}).values()
            if isinstance(value, Optimization)]
