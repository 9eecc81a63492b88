"""Early stopping: when the validation loss stops improving, or the training loss diverges.

The first is the ready ``EarlyStopping`` consumer. The second is torchsystem 1.3's pattern:
a consumer hands each training metric to subscribers by name; a subscriber that wants to
stop raises ``StopIteration``, which is enqueued on the aggregate as a domain event and
raised when the training service commits the aggregate's events at the epoch boundary.
"""

from __future__ import annotations

import math

from torchsystem.consumers import EarlyStopping
from torchsystem.services import Consumer, Subscriber
from torchsystem.training import Metric, Trained

__all__ = ["consumers", "divergence"]


def consumers(patience: int = 5, min_delta: float = 1e-3) -> list[Consumer]:
    """Stop after ``patience`` epochs without the validation loss improving by more than
    ``min_delta``, or as soon as the training loss is not a finite number."""
    plateau = EarlyStopping("loss", phase="validation", mode="min", patience=patience,
                            min_delta=min_delta)
    return [plateau, divergence()]


def divergence() -> Consumer:
    """A consumer that stops training whose loss became NaN or infinite."""
    subscriber, consumer = Subscriber(), Consumer("divergence")

    @consumer.handler
    def deliver_metrics(event: Trained) -> None:
        for metric in event.metrics:
            try:
                subscriber.receive(metric, metric.name)
            except StopIteration as stop:
                event.model.events.enqueue(stop)  # exceptions are domain events too

    @subscriber.subscribe("loss")
    def on_divergence(metric: Metric) -> None:
        if not math.isfinite(metric.value):
            raise StopIteration(f"training loss is {metric.value}")

    return consumer
