"""What services say about themselves: reprs, the one-line failure report, redefinition.

Each test pins an exact text or outcome that a careless change to the reporting code
would alter (found by mutation testing: these clauses survived every other test).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

from torchsystem.services import Consumer, Producer, Service, Subscriber, event
from torchsystem.services._delivery import one_line


@event
class Trained:
    loss: float


class Sink:
    """A callable object: it has no ``__name__`` or ``__qualname__`` of its own."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def __call__(self, message: Trained) -> None:
        self.received.append(message)


def on_trained(message: Trained) -> None: ...


def test_a_consumer_names_its_handlers_and_marks_nameless_ones() -> None:
    consumer = Consumer("sinks")
    consumer.register(Trained, Sink())
    consumer.register(Trained, on_trained)

    assert repr(consumer) == "Consumer('sinks', handlers=['?', 'on_trained'])"


def test_a_registration_names_class_keys_by_qualname_and_topics_by_repr() -> None:
    consumer, subscriber = Consumer(), Subscriber()

    by_class = consumer.register(Trained, on_trained)
    by_topic = subscriber.register("loss", on_trained)

    assert repr(by_class) == f"Registration({__name__}.on_trained for Trained)"
    assert repr(by_topic) == f"Registration({__name__}.on_trained for 'loss')"


@pytest.mark.parametrize(("length", "shown"), [(200, 200), (201, 200), (199, 199)])
def test_one_line_cuts_messages_over_200_characters(length: int, shown: int) -> None:
    message = "x" * length

    reported = one_line(ValueError(message))

    kept = reported.removeprefix("ValueError: ")
    assert len(kept) == shown
    assert kept.endswith("...") == (length > 200)


def test_an_isolated_handler_gets_the_message_and_is_reported_by_its_inner_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, sink = Consumer("sinks", isolate=True), Sink()
    consumer.register(Trained, sink)

    @functools.wraps(on_trained)
    def failing(message: Trained) -> None:
        raise OSError("disk full")

    consumer.register(Trained, failing)
    producer = Producer()
    producer.register(consumer)

    with caplog.at_level(logging.ERROR):
        producer.dispatch(Trained(0.5))

    assert sink.received == [Trained(0.5)]
    assert f"handler {__name__}.on_trained failed" in caplog.text


def test_a_service_accepts_a_redefinition_of_the_same_function() -> None:
    service = Service()

    def train(model: Any) -> str:
        return "first"

    service.register(train)
    first = train

    def train(model: Any) -> str:  # the cell re-run: same module and qualname
        return "second"

    assert train is not first
    service.register(train)
    assert service.handle("train", None) == "second"


@pytest.mark.parametrize("make", [
    lambda: functools.partial(lambda model, scale: scale, scale=2),
    lambda: Sink(),
], ids=["partial", "callable object"])
def test_two_nameless_callables_under_one_name_are_not_taken_for_a_redefinition(
    make: Any,
) -> None:
    service = Service()
    service.register(make(), name="train")

    with pytest.raises(ValueError, match="already has a handler named 'train'"):
        service.register(make(), name="train")


def test_another_function_of_the_same_name_is_refused() -> None:
    service = Service()

    def train(model: Any) -> str:
        return "here"

    service.register(train)
    elsewhere = _from_another_module()

    with pytest.raises(ValueError, match="already has a handler named 'train'"):
        service.register(elsewhere)


def _from_another_module() -> Any:
    namespace: dict[str, Any] = {"__name__": "elsewhere"}
    exec("def train(model):\n    return 'there'\n", namespace)
    return namespace["train"]


def test_a_function_after_a_nameless_callable_of_its_name_is_refused() -> None:
    service = Service()
    service.register(functools.partial(lambda model, scale: scale, scale=2), name="train")

    def train(model: Any) -> str:
        return "a function"

    with pytest.raises(ValueError, match="already has a handler named 'train'"):
        service.register(train)


def test_removing_what_was_never_registered_names_where_it_was_looked_for() -> None:
    from torchsystem.services import Publisher

    consumer, subscriber = Consumer("sinks"), Subscriber()

    with pytest.raises(ValueError, match=r"^Consumer\('sinks', handlers=\[\]\) is not "
                                         r"registered with this producer$"):
        Producer().remove(consumer)
    with pytest.raises(ValueError, match=r" is not registered with this publisher$"):
        Publisher().remove(subscriber)
