"""Publisher/subscriber messaging by topic (DESIGN.md, `services`)."""

import inspect
import logging
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from torchsystem.services import Depends, Publisher, Subscriber


def _wired(*subscribers: Subscriber) -> Publisher:
    publisher = Publisher()
    publisher.register(*subscribers)
    return publisher


def test_published_message_reaches_the_topic_subscribers() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        received.append(value)

    _wired(subscriber).publish(0.5, "loss")

    assert received == [0.5]


def test_published_message_skips_other_topics() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        received.append(value)

    _wired(subscriber).publish(0.9, "accuracy")

    assert received == []


def test_handler_subscribed_to_several_topics_receives_each() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    @subscriber.subscribe("loss", "accuracy")
    def store(value: float) -> None:
        received.append(value)

    publisher = _wired(subscriber)
    publisher.publish(0.1, "loss")
    publisher.publish(0.9, "accuracy")
    publisher.publish(3, "epoch")

    assert received == [0.1, 0.9]


def test_receive_delivers_directly() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        received.append(value)

    subscriber.receive(0.5, "loss")
    subscriber.receive(0.6, "accuracy")

    assert received == [0.5]


def test_falsy_messages_are_delivered() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    @subscriber.subscribe("value")
    def on_value(value: Any) -> None:
        received.append(value)

    publisher = _wired(subscriber)
    for message in (0, None, "", [], False):
        publisher.publish(message, "value")

    assert received == [0, None, "", [], False]


def test_delivery_is_synchronous() -> None:
    log: list[str] = []
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        log.append("handled")

    _wired(subscriber).publish(0.5, "loss")
    log.append("publish returned")

    assert log == ["handled", "publish returned"]


def test_delivery_follows_registration_order_across_subscribers() -> None:
    order: list[str] = []
    first, second = Subscriber(), Subscriber()

    @second.subscribe("loss")
    def second_a(value: float) -> None:
        order.append("second.a")

    @first.subscribe("loss")
    def first_a(value: float) -> None:
        order.append("first.a")

    @first.subscribe("loss")
    def first_b(value: float) -> None:
        order.append("first.b")

    @second.subscribe("loss")
    def second_b(value: float) -> None:
        order.append("second.b")

    _wired(first, second).publish(0.5, "loss")

    assert order == ["first.a", "first.b", "second.a", "second.b"]


def test_handler_added_after_a_publish_receives_later_messages() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    publisher = _wired(subscriber)
    publisher.publish(0.1, "loss")

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        received.append(value)

    publisher.publish(0.2, "loss")

    assert received == [0.2]


def test_handler_exception_propagates_to_the_publisher_by_default() -> None:
    error = ValueError("bad value")
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def on_loss(value: float) -> None:
        raise error

    with pytest.raises(ValueError, match="bad value") as excinfo:
        _wired(subscriber).publish(0.5, "loss")
    assert excinfo.value is error


def test_stop_iteration_from_receive_propagates_to_the_caller() -> None:
    subscriber = Subscriber()

    @subscriber.subscribe("accuracy")
    def on_high_accuracy(value: float) -> None:
        if value > 0.995:
            raise StopIteration

    subscriber.receive(0.5, "accuracy")
    with pytest.raises(StopIteration):
        subscriber.receive(0.999, "accuracy")


def test_isolated_subscriber_logs_the_failing_handler_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = Subscriber(isolate=True)

    @subscriber.subscribe("loss")
    def write_to_flaky_sink(value: float) -> None:
        raise OSError("sink unavailable")

    with caplog.at_level(logging.ERROR):
        _wired(subscriber).publish(0.5, "loss")

    assert "write_to_flaky_sink" in caplog.text


def test_isolated_subscriber_keeps_delivering_after_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order: list[str] = []
    isolated, other = Subscriber(isolate=True), Subscriber()

    @isolated.subscribe("loss")
    def write_to_flaky_sink(value: float) -> None:
        raise OSError("sink unavailable")

    @isolated.subscribe("loss")
    def write_to_healthy_sink(value: float) -> None:
        order.append("healthy sink")

    @other.subscribe("loss")
    def on_loss(value: float) -> None:
        order.append("other subscriber")

    with caplog.at_level(logging.ERROR):
        _wired(isolated, other).publish(0.5, "loss")

    assert order == ["healthy sink", "other subscriber"]


def test_isolated_subscriber_receive_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    subscriber = Subscriber(isolate=True)

    @subscriber.subscribe("loss")
    def write_to_flaky_sink(value: float) -> None:
        raise OSError("sink unavailable")

    with caplog.at_level(logging.ERROR):
        subscriber.receive(0.5, "loss")

    assert "write_to_flaky_sink" in caplog.text


def test_handler_dependencies_are_injected() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    def store() -> list[Any]:
        return received

    @subscriber.subscribe("loss", "accuracy")
    def store_metric(metric: float, metrics: Annotated[list[Any], Depends(store)]) -> None:
        metrics.append(metric)

    publisher = _wired(subscriber)
    publisher.publish(0.1, "loss")
    publisher.publish(0.9, "accuracy")

    assert received == [0.1, 0.9]


def test_dependency_overrides_item_assignment_is_used() -> None:
    received: list[str] = []
    subscriber = Subscriber()

    def sink() -> str:
        raise NotImplementedError

    @subscriber.subscribe("loss")
    def on_loss(value: float, sink: str = Depends(sink)) -> None:
        received.append(sink)

    subscriber.dependency_overrides[sink] = lambda: "database"
    _wired(subscriber).publish(0.5, "loss")

    assert received == ["database"]


def test_override_method_is_used() -> None:
    received: list[str] = []
    subscriber = Subscriber()

    def sink() -> str:
        raise NotImplementedError

    @subscriber.subscribe("loss")
    def on_loss(value: float, sink: str = Depends(sink)) -> None:
        received.append(sink)

    subscriber.override(sink, lambda: "database")
    _wired(subscriber).publish(0.5, "loss")

    assert received == ["database"]


def test_generator_dependency_is_cleaned_up_after_each_delivery() -> None:
    log: list[str] = []
    subscriber = Subscriber()

    def connection() -> Iterator[str]:
        log.append("open")
        yield "connection"
        log.append("close")

    @subscriber.subscribe("loss")
    def on_loss(value: float, conn: str = Depends(connection)) -> None:
        log.append(f"store {value}")

    _wired(subscriber).publish(0.5, "loss")

    assert log == ["open", "store 0.5", "close"]


def test_decorated_handler_stays_directly_callable() -> None:
    subscriber = Subscriber()

    def prefix() -> str:
        return "loss="

    @subscriber.subscribe("loss")
    def render(value: float, prefix: str = Depends(prefix)) -> str:
        return f"{prefix}{value}"

    assert render(0.5) == "loss=0.5"


def test_publish_does_not_inspect_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    def sink() -> list[Any]:
        return received

    @subscriber.subscribe("loss")
    def on_loss(value: float, sink: Annotated[list[Any], Depends(sink)]) -> None:
        sink.append(value)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signatures must not be inspected per message")

    publisher = _wired(subscriber)
    monkeypatch.setattr(inspect, "signature", refuse)
    monkeypatch.setattr(typing, "get_type_hints", refuse)
    publisher.publish(0.5, "loss")

    assert received == [0.5]
