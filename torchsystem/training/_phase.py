"""One pass over a loader: the batch rule, the device, the loss mean and the metrics."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from torchsystem.services import Producer
from torchsystem.training._arguments import describe
from torchsystem.training._collective import reduce_metrics
from torchsystem.training.events import Metric, Stepped
from torchsystem.training.metrics import LOSS, MetricLike, weighted_mean

__all__ = ["run_phase", "target_device", "unpack"]


def target_device(model: Any, device: Any) -> torch.device:
    """``device`` made concrete (``'cuda'`` -> ``cuda:<current>``), or the model's own."""
    if device is None:
        parameters = getattr(model, "parameters", None)
        parameter = next(iter(parameters()), None) if callable(parameters) else None
        return torch.device("cpu") if parameter is None else parameter.device
    chosen = torch.device(device)
    index: int | None = chosen.index  # None for a bare "cuda"
    if chosen.type == "cuda" and index is None and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return chosen


def _to(value: Any, device: torch.device) -> Any:
    """``value`` sent to ``device`` when it can move (``.to``); anything else as it is."""
    to = getattr(value, "to", None)
    return value if to is None else to(device, non_blocking=True)


def _moved(value: Any, device: torch.device) -> Any:
    return value if getattr(value, "device", None) == device else _to(value, device)


def unpack(batch: Any, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """The batch rule: a list/tuple is spread as arguments, a mapping as keyword
    arguments, anything else is one argument. Returns (args, kwargs, target)."""
    if isinstance(batch, (tuple, list)):
        args = tuple(_moved(item, device) for item in batch)
        return args, {}, args[1] if len(args) > 1 else None
    if isinstance(batch, Mapping):
        return (), {str(key): _moved(value, device) for key, value in batch.items()}, None
    return (_moved(batch, device),), {}, None


def _size(sample: Any) -> int:
    """How many samples a batch holds (the weight of its loss in the mean): the first
    dimension, else the length, else 1."""
    try:
        return int(sample.shape[0])
    except (AttributeError, IndexError, TypeError):  # not a tensor, or a 0-dim one
        pass
    try:
        return len(sample)
    except TypeError:  # no length (a 0-dim tensor raises here too)
        return 1


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


class _Pass:
    """The state of one pass: made per call, never shared (services are stateless)."""

    def __init__(
        self, model: Any, method: str, factories: Mapping[str, Callable[[], MetricLike]],
    ) -> None:
        self.model, self.method = model, method
        self.losses: list[Tensor] = []  # detached, left on their device until the end
        self.weights: list[int] = []  # the number of samples of each batch
        self.meters = [(name, factory()) for name, factory in factories.items()]
        for name, meter in self.meters:
            if not callable(getattr(meter, "update", None)):
                raise TypeError(
                    f"the factory of metric {name!r} made {describe(meter)}, not a metric "
                    "(update/compute/reset)"
                )

    def split(self, output: Any, target: Any) -> tuple[Any, Any, Tensor]:
        """``loss``, ``(prediction, loss)`` or ``(prediction, target, loss)``."""
        if isinstance(output, tuple):
            if len(output) == 2:
                return output[0], target, self._tensor(output[1])
            if len(output) == 3:
                return output[0], output[1], self._tensor(output[2])
            raise TypeError(
                f"{self._culprit()} returned a tuple of {len(output)}; return loss, "
                "(prediction, loss) or (prediction, target, loss)"
            )
        return None, target, self._tensor(output)

    def _tensor(self, loss: Any) -> Tensor:
        if isinstance(loss, Tensor):
            return loss.detach()  # consumers may keep it; the graph must not live on
        if type(loss) is not bool and isinstance(loss, Real):
            return torch.tensor(float(loss))
        raise TypeError(
            f"{self._culprit()} returned {describe(loss)} as the loss; return a tensor "
            "(or a number): loss, (prediction, loss) or (prediction, target, loss)"
        )

    def refuse(self, prediction: Any) -> None:
        """Metrics need a prediction and a target; say which one is missing."""
        raise TypeError(
            f"{self._culprit()} returned only a loss; metrics need it to return "
            "(prediction, loss)"
            if prediction is None
            else "metrics need the target of each batch, but the batches of this loader are "
            f"not (inputs, target, ...): {self._culprit()} must return "
            "(prediction, target, loss)"
        )

    def _culprit(self) -> str:
        return f"{type(self.model).__name__}.{self.method}"

    def results(self) -> tuple[Metric, ...]:
        """Read every accumulated value (one host synchronisation each); under
        ``torchrun``, averaged over every rank by the samples each saw.

        A metric whose ``compute()`` returns a mapping (a torchmetrics
        ``MetricCollection``) contributes one entry per key.
        """
        found = [Metric(LOSS, float(weighted_mean(self.losses, self.weights)))]
        for name, meter in self.meters:
            value = meter.compute()
            values = value.items() if isinstance(value, Mapping) else [(name, value)]
            found.extend(Metric(str(key), _scalar(item)) for key, item in values)
        names = [metric.name for metric in found]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"metrics report {repeated} more than once ('loss' is the mean loss); "
                "rename the metric (or the keys of its collection)"
            )
        return reduce_metrics(tuple(found), sum(self.weights))  # global under torchrun


def _scalar(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def run_phase(
    model: Any, method: str, loader: Iterable[Any],
    factories: Mapping[str, Callable[[], MetricLike]], device: torch.device,
    producer: Producer, event: tuple[str, int, str], limit: int | None = None,
) -> tuple[Metric, ...]:
    """Feed every batch of ``loader`` (its first ``limit`` when given) to
    ``model.<method>``; the metrics of the pass.

    ``event`` is ``(phase, epoch, model_id)`` for the ``Stepped`` events, built only
    when a consumer receives them.

    Raises:
        ValueError: the loader yielded no batch.
    """
    counted, step = _Pass(model, method, factories), getattr(model, method)
    phase, epoch, model_id = event
    total, dispatch = _length(loader), producer.dispatch
    losses, weights = counted.losses, counted.weights
    batches = loader
    if limit is not None:
        total, batches = (None if total is None else min(total, limit)), itertools.islice(
            loader, limit
        )
    meters = [meter for _, meter in counted.meters]
    listening = bool(producer.routes(Stepped))  # no Stepped built for nobody
    index = 0
    for index, batch in enumerate(batches, start=1):
        if (type(batch) is tuple or type(batch) is list) and len(batch) == 2:
            sample, target = batch  # (inputs, target): the common case, kept short
            if getattr(sample, "device", None) != device:
                sample = _to(sample, device)
            if getattr(target, "device", None) != device:
                target = _to(target, device)
            output = step(sample, target)
        else:
            args, kwargs, target = unpack(batch, device)
            output = step(*args, **kwargs)
            sample = args[0] if args else next(iter(kwargs.values()), None)
        if type(output) is tuple and len(output) == 2 and isinstance(output[1], Tensor):
            prediction, loss = output[0], output[1].detach()  # the graph must not live on
        else:
            prediction, target, loss = counted.split(output, target)
        losses.append(loss)
        sized = sample if target is None else target  # inlined: this runs every step
        weights.append(sized.shape[0] if type(sized) is Tensor and sized.ndim else _size(sized))
        if meters:
            if prediction is None or target is None:
                counted.refuse(prediction)
            for meter in meters:
                meter.update(prediction, target)
        if listening:
            dispatch(Stepped(model, phase, epoch, index, total, loss, model_id))
    if index == 0:
        raise ValueError(f"the {phase!r} loader yielded no batch ({describe(loader)})")
    return counted.results()
