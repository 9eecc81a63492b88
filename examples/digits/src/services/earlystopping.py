"""Early stopping, the seed's way: a consumer hands each metric to subscribers by name;
a subscriber that wants to stop raises StopIteration, which is enqueued on the aggregate
as a domain event and raised when the aggregate commits its events (``onepoch``)."""

from __future__ import annotations

from torchsystem.services import Consumer, Subscriber
from torchsystem.training import Metric, Trained

subscriber = Subscriber()
consumer = Consumer()


@consumer.handler
def deliver_metrics(event: Trained) -> None:
    for metric in event.metrics:
        try:
            subscriber.receive(metric, metric.name)
        except StopIteration as stop:
            event.model.events.enqueue(stop)  # exceptions are domain events too


@subscriber.subscribe("loss")
def on_low_loss(metric: Metric) -> None:
    if metric.value < 0.001:
        raise StopIteration(f"training loss {metric.value:.5f} < 0.001")


@subscriber.subscribe("accuracy")
def on_high_accuracy(metric: Metric) -> None:
    if metric.value > 0.995:
        raise StopIteration(f"training accuracy {metric.value:.4f} > 0.995")
