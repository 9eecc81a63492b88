"""A job's events as JSON records: what a Server-Sent Events client receives.

``EventStream`` is a consumer: attached to a training's producer, it turns every event
into a plain record (``type``, ``time``, the model's id, phase, epoch, metrics...) and
hands it to a sink (the job's feed in this process, a pipe from a job's own process).
Records are made on the training thread from what the event carries; ``Stepped`` is
forwarded at most every ``interval`` seconds (its loss is read only then), the first
and last step of a phase always.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from torchsystem.services import Consumer
from torchsystem.training.events import Iterated, Measured, Stepped, Stopped, metric_items

__all__ = ["EventStream", "jsonable", "record"]

Sink = Callable[[dict[str, Any]], object]
_SCALARS = (str, int, float, bool, type(None))


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with JSON types only: non-finite floats become ``None``, tuples lists,
    dataclasses mappings, and anything else its ``str``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, _SCALARS):
        return value
    if depth > 20:
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, depth + 1) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name), depth + 1)
                for field in dataclasses.fields(value)}
    item = getattr(value, "item", None)
    if callable(item):  # a tensor or a NumPy number
        try:
            return jsonable(item(), depth + 1)
        except (TypeError, ValueError, RuntimeError):
            return str(value)
    return str(value)


def _metrics(metrics: Any) -> dict[str, float | None]:
    return {name: jsonable(value) for name, value in metric_items(metrics)}


def record(event: Any) -> dict[str, Any]:
    """The JSON record of a training event (any other event: its JSON-able fields)."""
    base: dict[str, Any] = {"type": type(event).__name__, "time": time.time(),
                            "model_id": getattr(event, "model_id", None)}
    if isinstance(event, Stepped):
        return {**base, "phase": event.phase, "epoch": event.epoch, "step": event.step,
                "total": event.total, "loss": jsonable(event.loss)}
    if isinstance(event, Measured):
        return {**base, "phase": event.phase, "epoch": event.epoch,
                "metrics": _metrics(event.metrics)}
    if isinstance(event, Iterated):
        return {**base, "epoch": event.epoch,
                "results": {phase: _metrics(values) for phase, values in event.results.items()}}
    if isinstance(event, Stopped):
        return {**base, "epoch": event.epoch,
                "reason": str(event.reason) or type(event.reason).__name__}
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        for field in dataclasses.fields(event):
            value = getattr(event, field.name)
            if field.name not in base and isinstance(value, _SCALARS):
                base[field.name] = jsonable(value)
    return base


class EventStream(Consumer):
    """Forward every event dispatched through the producer it is registered with to
    ``sink`` as a JSON record (``record``), ``Stepped`` throttled to one every
    ``interval`` seconds (plus the first and the last step of each phase).

    Example:
        >>> from torchsystem.services import Producer
        >>> seen = []
        >>> producer = Producer()
        >>> producer.register(EventStream(seen.append))
        >>> producer.dispatch(Stopped(None, 3, StopIteration("plateau"), model_id="mlp"))
        >>> seen[0]["type"], seen[0]["reason"]
        ('Stopped', 'plateau')
    """

    def __init__(self, sink: Sink, *, interval: float = 0.2) -> None:
        super().__init__("events")
        self.sink, self.interval = sink, interval
        self._last = -math.inf
        self.register(object, self.forward)

    def forward(self, event: object) -> None:
        """Forward ``event``; a step only when it is a phase's first or last, or
        ``interval`` seconds passed since the last one forwarded."""
        if isinstance(event, Stepped):
            now = time.monotonic()
            if not (event.step == 1 or event.step == event.total
                    or now - self._last >= self.interval):
                return
            self._last = now
        self.sink(record(event))
