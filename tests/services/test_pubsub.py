"""Publisher/subscriber messaging by topic."""

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


# --- registrations --------------------------------------------------------------------------


def test_subscribe_registers_the_function_once_per_topic_and_returns_it() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    def store(value: float) -> None:
        received.append(value)

    returned = subscriber.subscribe("loss", "accuracy")(store)

    assert returned is store
    assert [r.keys for r in subscriber.registrations] == [("loss",), ("accuracy",)]
    assert {r.handler for r in subscriber.registrations} == {store}


def test_a_handler_subscribed_twice_to_a_topic_is_called_once() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    def store(value: float) -> None:
        received.append(value)

    subscriber.subscribe("loss")(store)
    subscriber.subscribe("loss", "loss")(store)
    subscriber.register("loss", store)
    _wired(subscriber).publish(0.5, "loss")

    assert received == [0.5]
    assert subscriber.handlers["loss"] == (store,)


def test_register_gives_back_a_registration_that_unsubscribes() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    publisher = _wired(subscriber)
    registration = subscriber.register("loss", received.append)
    kept = subscriber.register("accuracy", received.append)
    publisher.publish(0.5, "loss")

    registration.remove()
    publisher.publish(0.4, "loss")
    publisher.publish(0.9, "accuracy")

    assert received == [0.5, 0.9]
    assert subscriber.registrations == (kept,)
    assert list(subscriber.handlers) == ["accuracy"]


def test_remove_unsubscribes_a_decorated_handler_from_every_topic() -> None:
    received: list[Any] = []
    subscriber = Subscriber()

    def sink() -> list[Any]:
        return received

    @subscriber.subscribe("loss", "accuracy")
    def store(value: float, sink: Annotated[list[Any], Depends(sink)]) -> None:
        sink.append(value)

    subscriber.remove(store)
    subscriber.receive(0.5, "loss")
    subscriber.receive(0.9, "accuracy")

    assert received == []
    assert subscriber.routes("loss") == ()


def test_removing_an_unknown_handler_names_it() -> None:
    def store(value: float) -> None: ...

    with pytest.raises(ValueError, match=r"store is not registered with Subscriber\('s'"):
        Subscriber("s").remove(store)


def test_an_unhashable_topic_is_refused_at_registration() -> None:
    subscriber = Subscriber()

    with pytest.raises(TypeError, match=r"topic \['loss'\] of .*append is not hashable"):
        subscriber.register(["loss"], [].append)  # type: ignore[arg-type]
    assert subscriber.registrations == ()


def test_handlers_is_a_read_only_view() -> None:
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def store(value: float) -> None: ...

    with pytest.raises(TypeError):
        subscriber.handlers["accuracy"] = (store,)  # type: ignore[index]
    assert dict(subscriber.handlers) == {"loss": (store,)}


def test_isolate_switched_later_takes_effect(caplog: pytest.LogCaptureFixture) -> None:
    subscriber = Subscriber()

    @subscriber.subscribe("loss")
    def fail(value: float) -> None:
        raise OSError("sink unavailable")

    publisher = _wired(subscriber)
    subscriber.isolate = True
    publisher.publish(0.5, "loss")
    assert subscriber.isolate is True
    subscriber.isolate = False

    with pytest.raises(OSError, match="sink unavailable"):
        publisher.publish(0.5, "loss")
    assert "sink unavailable" in caplog.text


def test_an_isolated_failure_is_one_line_naming_handler_topic_and_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = Subscriber("sinks", isolate=True)

    @subscriber.subscribe("loss")
    def write(value: float) -> None:
        raise OSError("sink unavailable")

    with caplog.at_level(logging.DEBUG, logger="torchsystem.services"):
        subscriber.receive(0.5, "loss")

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            "Subscriber 'sinks': handler tests.services.test_pubsub.test_an_isolated_failure_is"
            "_one_line_naming_handler_topic_and_exception.<locals>.write failed on topic "
            "'loss': OSError: sink unavailable",
        ),
        (logging.DEBUG, f"traceback of the failure of {caplog.records[0].args[1]}"),  # type: ignore[index]
    ]
    assert caplog.records[1].exc_info is not None


def test_an_unnamed_isolated_subscriber_is_called_subscriber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = Subscriber(isolate=True)
    subscriber.register("loss", lambda value: 1 / 0)

    subscriber.receive(0.5, "loss")

    assert caplog.records[0].getMessage().startswith("Subscriber: handler ")


# --- publishers -----------------------------------------------------------------------------


def test_publishing_on_ever_new_topics_keeps_memory_bounded() -> None:
    import tracemalloc

    subscriber = Subscriber()
    subscriber.register("loss", [].append)
    publisher = _wired(subscriber)
    for topic in range(2000):  # warm up: the cache reaches its bound
        publisher.publish(0.5, topic)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for topic in range(2000, 100_000):
            publisher.publish(0.5, topic)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert grown < 200_000  # unbounded, the cache grew by about 10 MB


def test_a_subscribed_topic_is_still_delivered_after_many_unsubscribed_ones() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    subscriber.register("loss", received.append)
    publisher = _wired(subscriber)

    for topic in range(5000):
        publisher.publish(topic, topic)
        publisher.publish(topic, "loss")

    assert received == list(range(5000))
    assert publisher.routes("loss") == (received.append,)


def test_a_subscriber_registered_twice_receives_each_message_once() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    subscriber.register("loss", received.append)
    publisher = Publisher()

    publisher.register(subscriber, subscriber)
    publisher.register(subscriber)
    publisher.publish(0.5, "loss")

    assert received == [0.5]
    assert publisher.subscribers == (subscriber,)


def test_register_refuses_a_non_subscriber_and_registers_nothing() -> None:
    subscriber, publisher = Subscriber(), Publisher()

    with pytest.raises(TypeError, match=r"^Publisher\.register expects subscribers \(objects "
                                        r"with routes\(topic\) and watch\(router\), such as "
                                        r"Subscriber\), got 'loss'$"):
        publisher.register(subscriber, "loss")  # type: ignore[arg-type]

    assert publisher.subscribers == ()


def test_a_removed_subscriber_receives_nothing_more() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    subscriber.register("loss", received.append)
    publisher = _wired(subscriber)
    publisher.publish(0.5, "loss")

    publisher.remove(subscriber)
    publisher.publish(0.4, "loss")

    assert received == [0.5]
    assert publisher.subscribers == ()
    with pytest.raises(ValueError, match=r"Subscriber\(topics=\['loss'\]\) is not registered"):
        publisher.remove(subscriber)


def test_reprs_name_the_topics_and_subscribers() -> None:
    subscriber = Subscriber("metrics")
    subscriber.register("loss", [].append)

    assert repr(subscriber) == "Subscriber('metrics', topics=['loss'])"
    assert repr(_wired(subscriber)) == (
        "Publisher(subscribers=[Subscriber('metrics', topics=['loss'])])"
    )


def test_an_async_handler_is_refused_at_subscription() -> None:
    subscriber = Subscriber()

    async def on_loss(value: float) -> None: ...

    with pytest.raises(TypeError, match=r"on_loss is async, but Subscriber delivers"):
        subscriber.subscribe("loss")(on_loss)
    assert subscriber.registrations == ()


def test_subscribe_needs_a_topic() -> None:
    with pytest.raises(TypeError, match=r"subscribe\(\) needs at least one topic"):
        Subscriber().subscribe()


def test_publishing_with_no_subscriber_does_nothing() -> None:
    publisher = Publisher()

    publisher.publish(0.5, "loss")

    assert publisher.routes("loss") == ()


def test_a_subscriber_registered_after_a_publish_receives_later_messages() -> None:
    received: list[Any] = []
    subscriber = Subscriber()
    subscriber.register("loss", received.append)
    publisher = Publisher()
    publisher.publish(0.1, "loss")

    publisher.register(subscriber)
    publisher.publish(0.2, "loss")

    assert received == [0.2]


def test_subscribed_routes_stay_cached_until_many_unsubscribed_topics_were_seen() -> None:
    subscriber = Subscriber()
    subscriber.register("loss", [].append)
    publisher = _wired(subscriber)
    route = publisher.routes("loss")

    for topic in range(1000):  # fewer than the bound: nothing is forgotten
        publisher.publish(0.5, topic)
    assert publisher.routes("loss") is route

    for topic in range(1000, 1100):  # past the bound: the cache starts afresh, once
        publisher.publish(0.5, topic)
    route = publisher.routes("loss")
    for topic in range(1100, 1200):
        publisher.publish(0.5, topic)
    assert publisher.routes("loss") is route
