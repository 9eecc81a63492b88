"""``Training``: a ready training service for aggregates with ``fit`` and ``evaluate``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from torchsystem.depends import Depends, Provider
from torchsystem.services import Producer, Service
from torchsystem.training.events import Iterated, Metric, Stepped, Stopped, Trained, Validated
from torchsystem.training.metrics import Mean

__all__ = ["Training", "device"]

Metrics = Mapping[str, Any]


def device() -> Any:
    """Where batches go. ``None`` (the default) means the model's own device.

    Override it on the service: ``training.override(device, lambda: "cuda")``.
    """
    return None


def _model_device(model: Any) -> torch.device:
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return torch.device("cpu") if parameter is None else parameter.device


def _concrete(device: Any) -> torch.device:
    """``'cuda'`` -> ``cuda:<current>``, so it compares equal to a tensor's device."""
    chosen = torch.device(device)
    index: int | None = chosen.index  # None for a bare "cuda"
    if chosen.type == "cuda" and index is None and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return chosen


def _running(model: Any) -> int:
    """The number of the epoch in progress, from 1: ``model.epoch`` counts finished ones."""
    return int(getattr(model, "epoch", 0)) + 1


def _size(target: Any) -> int:
    try:
        return int(target.shape[0])
    except (AttributeError, IndexError):  # not a tensor, or a 0-dim one
        return len(target) if hasattr(target, "__len__") else 1


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _named(loaders: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    pairs = list(loaders.items()) if isinstance(loaders, Mapping) else list(loaders)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(
                f"loaders must be (phase, loader) pairs or a mapping phase -> loader, got {pair!r}"
            )
    return pairs


class Training(Service):
    """Train and evaluate any aggregate with the seed's ``fit``/``evaluate`` protocol.

    Handlers (call them directly or by name with ``handle``):

    - ``train(model, loader, metrics=None)``: one epoch in phase ``'train'``;
    - ``validate(model, loader, metrics=None, phase='validation')``: one pass under
      ``torch.inference_mode``;
    - ``iterate(model, loaders, metrics=None)``: every ``(phase, loader)`` pair, then
      ``model.epoch += 1`` and the aggregate's events are committed (an early stop
      raises ``StopIteration`` here, at the epoch boundary);
    - ``fit(model, loaders, epochs, metrics=None)``: ``iterate`` until ``model.epoch``
      reaches ``epochs`` or a ``StopIteration`` stops it; returns the epochs run.

    ``model.fit(inputs, target)`` / ``model.evaluate(inputs, target)`` return
    ``(prediction, loss)`` (or just the loss). Batches are moved to the injected
    ``device``. The mean loss and every metric (``update(prediction, target)`` /
    ``compute()`` / ``reset()``, torchmetrics included) are accumulated on the device
    and read once per phase. Each batch dispatches ``Stepped`` (when a consumer
    receives it), each phase ``Trained`` or ``Validated``, each epoch ``Iterated``, and an
    early stop ``Stopped``, all through ``producer``. Events carry the number of the
    epoch in progress, counting from 1 (``model.epoch + 1``: ``model.epoch`` counts
    finished epochs).

    Example:
        >>> from torchsystem.training import Training, Accuracy
        >>> training = Training(metrics={"accuracy": Accuracy()})
        >>> sorted(training.handlers)
        ['fit', 'iterate', 'train', 'validate']
    """

    def __init__(
        self,
        producer: Producer | None = None,
        *,
        metrics: Metrics | None = None,
        name: str = "training",
        provider: Provider | None = None,
    ) -> None:
        super().__init__(name, provider=provider)
        self.producer = Producer() if producer is None else producer
        self.metrics: Metrics = {} if metrics is None else dict(metrics)
        for handler in ("train", "validate", "iterate", "fit"):
            # the instance attribute is the injected handler, so direct calls inject too
            setattr(self, handler, self.register(getattr(self, handler), handler))

    def train(
        self, model: Any, loader: Any, metrics: Metrics | None = None,
        device: Any = Depends(device),
    ) -> tuple[Metric, ...]:
        """Train ``model`` for one pass over ``loader``; dispatch ``Trained``."""
        model.phase = "train"
        results = self._run(model, loader, metrics, device, "train", model.fit)
        epoch = _running(model)
        self.producer.dispatch(Trained(model, "train", epoch, results, loader))
        return results

    def validate(
        self, model: Any, loader: Any, metrics: Metrics | None = None,
        phase: str = "validation", device: Any = Depends(device),
    ) -> tuple[Metric, ...]:
        """Evaluate ``model`` over ``loader`` without gradients; dispatch ``Validated``."""
        model.phase = "evaluation"
        with torch.inference_mode():
            results = self._run(model, loader, metrics, device, phase, model.evaluate)
        epoch = _running(model)
        self.producer.dispatch(Validated(model, phase, epoch, results, loader))
        return results

    def iterate(
        self, model: Any, loaders: Mapping[str, Any] | Sequence[tuple[str, Any]],
        metrics: Metrics | None = None, device: Any = Depends(device),
    ) -> dict[str, tuple[Metric, ...]]:
        """Run one epoch over every ``(phase, loader)``; then advance ``model.epoch``.

        Raises:
            StopIteration: the aggregate's events asked to stop at this epoch boundary.
        """
        results, stop = self._epoch(model, loaders, metrics, device)
        if stop is not None:
            raise stop
        return results

    def _epoch(
        self, model: Any, loaders: Mapping[str, Any] | Sequence[tuple[str, Any]],
        metrics: Metrics | None, device: Any,
    ) -> tuple[dict[str, tuple[Metric, ...]], StopIteration | None]:
        results: dict[str, tuple[Metric, ...]] = {}
        for phase, loader in _named(loaders):
            if phase == "train":
                results[phase] = self.train(model, loader, metrics, device=device)
            else:
                results[phase] = self.validate(model, loader, metrics, phase, device=device)
        epoch = _running(model)
        self.producer.dispatch(Iterated(model, epoch, results))
        try:  # the epoch boundary: the aggregate's onepoch() and its queued events
            model.epoch = epoch
            events = getattr(model, "events", None)
            if events is not None:
                events.commit()
        except StopIteration as stop:
            return results, stop
        return results, None

    def fit(
        self, model: Any, loaders: Mapping[str, Any] | Sequence[tuple[str, Any]],
        epochs: int, metrics: Metrics | None = None, device: Any = Depends(device),
    ) -> int:
        """``iterate`` until ``model.epoch == epochs``; return how many epochs ran.

        A ``StopIteration`` from the aggregate's events at an epoch boundary (early
        stopping) ends it cleanly and dispatches ``Stopped`` with the reason. One raised
        anywhere else (a loader, ``model.fit``, a consumer) is an error and propagates.
        """
        ran = 0
        while getattr(model, "epoch", 0) < epochs:
            _, stop = self._epoch(model, loaders, metrics, device)
            ran += 1
            if stop is not None:
                self.producer.dispatch(Stopped(model, getattr(model, "epoch", 0), stop))
                break
        return ran

    def _run(
        self, model: Any, loader: Any, metrics: Metrics | None, device: Any, phase: str,
        step: Any,
    ) -> tuple[Metric, ...]:
        chosen = self.metrics if metrics is None else metrics
        target_device = _model_device(model) if device is None else _concrete(device)
        loss_mean, meters = Mean(), list(chosen.values())
        epoch, total, dispatch = _running(model), _length(loader), self.producer.dispatch
        listening = bool(self.producer.routes(Stepped))  # no Stepped built for nobody
        index = 0
        for index, (inputs, target) in enumerate(loader, start=1):
            if getattr(inputs, "device", None) != target_device:
                inputs = inputs.to(target_device, non_blocking=True)
            if getattr(target, "device", None) != target_device:
                target = target.to(target_device, non_blocking=True)
            output = step(inputs, target)
            prediction, loss = output if isinstance(output, tuple) else (None, output)
            loss = loss.detach()  # consumers may keep it; the graph must not live on
            loss_mean.update(loss, _size(target))
            if meters and prediction is None:
                raise TypeError(
                    f"{type(model).__name__}.{getattr(step, '__name__', 'fit')} returned only a "
                    "loss; metrics need it to return (prediction, loss)"
                )
            for meter in meters:
                meter.update(prediction, target)
            if listening:
                dispatch(Stepped(model, phase, epoch, index, total, loss))
        if index == 0:
            raise ValueError(f"the {phase!r} loader yielded no batch: {loader!r}")
        return _results(loss_mean, chosen)


def _results(loss: Mean, metrics: Metrics) -> tuple[Metric, ...]:
    """Read every accumulated value (one host synchronisation each) and reset.

    A metric whose ``compute()`` returns a mapping (a torchmetrics ``MetricCollection``)
    contributes one entry per key.
    """
    found = [Metric("loss", float(loss.compute()))]
    for name, meter in metrics.items():
        value = meter.compute()
        values = value.items() if isinstance(value, Mapping) else [(name, value)]
        found.extend(Metric(str(key), _scalar(item)) for key, item in values)
        meter.reset()
    return tuple(found)


def _scalar(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)
