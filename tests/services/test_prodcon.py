"""Producer/consumer messaging and ``event``."""

import dataclasses
import inspect
import logging
import typing
from collections.abc import Iterator
from typing import Any, Optional, Union

import pytest

from tests import _future_handlers
from torchsystem.services import Consumer, Depends, Producer, event


@event
class Trained:
    loss: float


@event
class Validated:
    loss: float


class Iterated:
    pass


class Stopped(Trained):
    pass


class Nothing:
    def __bool__(self) -> bool:
        return False


class Hollow:
    def __len__(self) -> int:
        return 0


def _wired(*consumers: Consumer) -> Producer:
    producer = Producer()
    producer.register(*consumers)
    return producer


# --- event ------------------------------------------------------------------------------


def test_event_makes_a_dataclass() -> None:
    @event
    class Evaluated:
        model: str
        accuracy: float

    evaluated = Evaluated("mlp", 0.9)

    assert dataclasses.is_dataclass(Evaluated)
    assert [f.name for f in dataclasses.fields(Evaluated)] == ["model", "accuracy"]
    assert evaluated == Evaluated(model="mlp", accuracy=0.9)
    assert evaluated.accuracy == 0.9


def test_event_returns_the_decorated_class() -> None:
    @event
    class Evaluated:
        accuracy: float

    assert Evaluated.__name__ == "Evaluated"
    assert isinstance(Evaluated(1.0), Evaluated)


@event(frozen=True)
class Frozen:
    loss: float
    tags: list[str]


class Plain:
    pass


@event
class Derived(Plain):
    loss: float


@event
class Slotted:
    loss: float


@event(slots=False)
class Unslotted:
    loss: float


@pytest.mark.parametrize(
    "instance",
    [Trained(0.5), Frozen(0.5, ["a"]), Derived(0.5), Stopped(0.5), Unslotted(0.5)],
    ids=lambda instance: type(instance).__name__,
)
def test_event_instances_pickle_copy_and_are_weakly_referenceable(instance: Any) -> None:
    import copy
    import pickle
    import weakref

    reference = weakref.ref(instance)

    assert reference() is instance
    assert pickle.loads(pickle.dumps(instance)) == instance
    assert copy.deepcopy(instance) == instance
    assert copy.copy(instance) == instance


def test_event_keeps_slots_unless_told_otherwise() -> None:
    import weakref

    @event(frozen=True)
    class Local:
        loss: float

    slotted = Slotted(1.0)
    reference = weakref.ref(slotted)

    assert not hasattr(slotted, "__dict__")
    assert Slotted.__slots__ == ("loss", "__weakref__")
    assert slotted.__weakref__ is reference
    assert Derived.__slots__ == ("loss",)  # its base already gives __dict__ and weak references
    assert hasattr(Unslotted(1.0), "__dict__")
    assert Local.__qualname__ == "test_event_keeps_slots_unless_told_otherwise.<locals>.Local"
    assert Local(0.5).__weakref__ is None


def test_an_event_is_mutable_unless_frozen() -> None:
    trained = Trained(0.5)

    trained.loss = 0.25

    assert trained == Trained(0.25)


def test_a_frozen_event_refuses_assignment() -> None:
    frozen = Frozen(0.5, [])

    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.loss = 1.0  # type: ignore[misc]
    assert hash(Frozen(0.5, ())) == hash(Frozen(0.5, ()))  # type: ignore[arg-type]


# --- registration and routing -----------------------------------------------------------------


def test_handler_receives_events_of_its_annotated_class() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append(event)

    trained = Trained(0.5)
    _wired(consumer).dispatch(trained)

    assert received == [trained]
    assert received[0] is trained


def test_handler_does_not_receive_other_event_classes() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append(event)

    _wired(consumer).dispatch(Validated(0.5))

    assert received == []


def test_consume_delivers_directly() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append(event)

    consumer.consume(Trained(0.5))

    assert received == [Trained(0.5)]


def test_pipe_union_registers_the_handler_for_each_class() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_metrics(event: Trained | Validated) -> None:
        received.append(event)

    producer = _wired(consumer)
    producer.dispatch(Trained(1.0))
    producer.dispatch(Validated(2.0))
    producer.dispatch(Iterated())

    assert received == [Trained(1.0), Validated(2.0)]


def test_typing_union_registers_the_handler_for_each_class() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_metrics(event: Union[Trained, Validated]) -> None:  # noqa: UP007
        received.append(event)

    producer = _wired(consumer)
    producer.dispatch(Trained(1.0))
    producer.dispatch(Validated(2.0))

    assert received == [Trained(1.0), Validated(2.0)]


def test_optional_registers_the_class_and_ignores_none() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Optional[Trained]) -> None:  # noqa: UP045
        received.append(event)

    producer = _wired(consumer)
    producer.dispatch(None)
    producer.dispatch(Trained(1.0))

    assert received == [Trained(1.0)]


def test_pipe_none_union_ignores_none() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained | None) -> None:
        received.append(event)

    producer = _wired(consumer)
    producer.dispatch(None)
    producer.dispatch(Trained(1.0))

    assert received == [Trained(1.0)]


def test_handler_union_is_called_once_per_event() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_any(event: Trained | Stopped) -> None:
        received.append(event)

    _wired(consumer).dispatch(Stopped(0.1))

    assert received == [Stopped(0.1)]


def test_routing_is_by_class_object_not_by_name() -> None:
    def make_event_class() -> type:
        @event
        class Trained:
            loss: float

        return Trained

    first, second = make_event_class(), make_event_class()
    received: list[str] = []
    consumer = Consumer()

    @consumer.handler
    def on_first(event: first) -> None:  # type: ignore[valid-type]
        received.append("first")

    @consumer.handler
    def on_second(event: second) -> None:  # type: ignore[valid-type]
        received.append("second")

    producer = _wired(consumer)
    producer.dispatch(second(1.0))
    producer.dispatch(first(1.0))

    assert first.__name__ == second.__name__
    assert received == ["second", "first"]


def test_class_with_same_name_in_another_module_is_a_different_event() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_local_trained(event: Trained) -> None:
        received.append(event)

    _wired(consumer).dispatch(_future_handlers.Trained(1.0))

    assert received == []


def test_handler_for_a_base_class_receives_subclass_events() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append(event)

    stopped = Stopped(0.1)
    _wired(consumer).dispatch(stopped)

    assert received == [stopped]


def test_handler_for_object_receives_every_event() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_anything(event: object) -> None:
        received.append(event)

    producer = _wired(consumer)
    producer.dispatch(Trained(1.0))
    producer.dispatch(Iterated)

    assert received == [Trained(1.0), Iterated]


def test_handler_without_annotation_is_rejected_at_registration() -> None:
    consumer = Consumer()

    def on_event(event):  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(TypeError, match="on_event"):
        consumer.handler(on_event)


def test_handler_without_parameters_is_rejected_at_registration() -> None:
    consumer = Consumer()

    def on_nothing() -> None:
        pass

    with pytest.raises(TypeError, match="on_nothing"):
        consumer.handler(on_nothing)


def test_handler_with_unresolvable_annotation_is_rejected_at_registration() -> None:
    consumer = Consumer()

    def on_event(event: "UndefinedEvent") -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(TypeError, match=r"cannot resolve the annotation 'UndefinedEvent' of "
                       r"'event' in .*on_event; make the class importable"):
        consumer.handler(on_event)


def test_future_annotations_union_handler_is_registered_for_each_class() -> None:
    received: list[Any] = []
    consumer = _future_handlers.make_consumer(received)
    consumer.override(_future_handlers.device, lambda: "cpu")
    producer = _wired(consumer)

    producer.dispatch(_future_handlers.Trained(1.0))
    producer.dispatch(_future_handlers.Validated(2.0))
    producer.dispatch(Trained(3.0))

    assert received == [
        (_future_handlers.Trained(1.0), "cpu"),
        (_future_handlers.Validated(2.0), "cpu"),
    ]


def test_future_annotations_handler_of_a_local_class_is_registered() -> None:
    received: list[Any] = []
    consumer, evaluated_class = _future_handlers.make_consumer_of_local_class(received)
    evaluated = evaluated_class()

    _wired(consumer).dispatch(evaluated)
    _wired(consumer).dispatch(None)

    assert received == [evaluated]


# --- delivery ---------------------------------------------------------------------------------


def test_falsy_event_is_delivered() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_nothing(event: Nothing) -> None:
        received.append(event)

    nothing = Nothing()
    _wired(consumer).dispatch(nothing)

    assert received == [nothing]


def test_event_of_length_zero_is_delivered() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_hollow(event: Hollow) -> None:
        received.append(event)

    hollow = Hollow()
    consumer.consume(hollow)

    assert received == [hollow]


def test_falsy_builtin_event_is_delivered() -> None:
    received: list[Any] = []
    consumer = Consumer()

    @consumer.handler
    def on_int(event: int) -> None:
        received.append(event)

    _wired(consumer).dispatch(0)

    assert received == [0]


def test_delivery_is_synchronous() -> None:
    log: list[str] = []
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        log.append("handled")

    _wired(consumer).dispatch(Trained(1.0))
    log.append("dispatch returned")

    assert log == ["handled", "dispatch returned"]


def test_delivery_follows_registration_order_across_consumers() -> None:
    order: list[str] = []
    first, second = Consumer(), Consumer()

    @second.handler
    def second_a(event: Trained) -> None:
        order.append("second.a")

    @first.handler
    def first_a(event: Trained) -> None:
        order.append("first.a")

    @first.handler
    def first_b(event: Trained) -> None:
        order.append("first.b")

    @second.handler
    def second_b(event: Trained) -> None:
        order.append("second.b")

    _wired(first, second).dispatch(Trained(1.0))

    assert order == ["first.a", "first.b", "second.a", "second.b"]


def test_delivery_follows_registration_order_between_base_and_subclass_handlers() -> None:
    order: list[str] = []
    consumer = Consumer()

    @consumer.handler
    def on_stopped(event: Stopped) -> None:
        order.append("stopped")

    @consumer.handler
    def on_trained(event: Trained) -> None:
        order.append("trained")

    _wired(consumer).dispatch(Stopped(0.1))

    assert order == ["stopped", "trained"]


def test_consumers_registered_separately_are_delivered_in_registration_order() -> None:
    order: list[str] = []
    first, second = Consumer(), Consumer()

    @first.handler
    def on_first(event: Trained) -> None:
        order.append("first")

    @second.handler
    def on_second(event: Trained) -> None:
        order.append("second")

    producer = Producer()
    producer.register(second)
    producer.register(first)
    producer.dispatch(Trained(1.0))

    assert order == ["second", "first"]


def test_handler_added_after_a_dispatch_receives_later_events() -> None:
    received: list[str] = []
    consumer = Consumer()
    producer = _wired(consumer)
    producer.dispatch(Trained(1.0))

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append("late")

    producer.dispatch(Trained(2.0))

    assert received == ["late"]


def test_consumer_registered_after_a_dispatch_receives_later_events() -> None:
    received: list[str] = []
    producer = Producer()
    producer.dispatch(Trained(1.0))
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        received.append("received")

    producer.register(consumer)
    producer.dispatch(Trained(2.0))

    assert received == ["received"]


def test_handler_exception_propagates_to_the_dispatcher_by_default() -> None:
    error = ValueError("bad metric")
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None:
        raise error

    with pytest.raises(ValueError, match="bad metric") as excinfo:
        _wired(consumer).dispatch(Trained(1.0))
    assert excinfo.value is error


def test_stop_iteration_propagates_to_the_dispatcher_by_default() -> None:
    consumer = Consumer()

    def writer() -> Iterator[str]:
        yield "writer"

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> None:
        raise StopIteration

    with pytest.raises(StopIteration):
        _wired(consumer).dispatch(Trained(1.0))


def test_handler_exception_stops_later_handlers_by_default() -> None:
    order: list[str] = []
    consumer = Consumer()

    @consumer.handler
    def failing(event: Trained) -> None:
        raise ValueError("bad metric")

    @consumer.handler
    def later(event: Trained) -> None:
        order.append("later")

    with pytest.raises(ValueError, match="bad metric"):
        _wired(consumer).dispatch(Trained(1.0))
    assert order == []


def test_isolated_consumer_logs_the_failing_handler_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = Consumer(isolate=True)

    @consumer.handler
    def write_to_flaky_sink(event: Trained) -> None:
        raise OSError("sink unavailable")

    with caplog.at_level(logging.ERROR):
        _wired(consumer).dispatch(Trained(1.0))

    assert "write_to_flaky_sink" in caplog.text


def test_isolated_consumer_keeps_delivering_after_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order: list[str] = []
    isolated, other = Consumer(isolate=True), Consumer()

    @isolated.handler
    def write_to_flaky_sink(event: Trained) -> None:
        raise OSError("sink unavailable")

    @isolated.handler
    def write_to_healthy_sink(event: Trained) -> None:
        order.append("healthy sink")

    @other.handler
    def on_trained(event: Trained) -> None:
        order.append("other consumer")

    with caplog.at_level(logging.ERROR):
        _wired(isolated, other).dispatch(Trained(1.0))

    assert order == ["healthy sink", "other consumer"]


# --- injection --------------------------------------------------------------------------------


def test_handler_dependencies_are_injected() -> None:
    received: list[str] = []
    consumer = Consumer()

    def writer() -> str:
        return "writer"

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> None:
        received.append(f"{writer} <- {event.loss}")

    _wired(consumer).dispatch(Trained(0.5))

    assert received == ["writer <- 0.5"]


def test_dependency_overrides_item_assignment_is_used() -> None:
    received: list[str] = []
    consumer = Consumer()

    def writer() -> str:
        raise NotImplementedError

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> None:
        received.append(writer)

    consumer.dependency_overrides[writer] = lambda: "tensorboard"
    _wired(consumer).dispatch(Trained(0.5))

    assert received == ["tensorboard"]


def test_override_method_is_used() -> None:
    received: list[str] = []
    consumer = Consumer()

    def writer() -> str:
        raise NotImplementedError

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> None:
        received.append(writer)

    consumer.override(writer, lambda: "tensorboard")
    _wired(consumer).dispatch(Trained(0.5))

    assert received == ["tensorboard"]


def test_generator_dependency_is_cleaned_up_after_each_delivery() -> None:
    log: list[str] = []
    consumer = Consumer()

    def writer() -> str:
        raise NotImplementedError

    def summary_writer() -> Iterator[str]:
        log.append("open")
        yield "writer"
        log.append("close")

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> None:
        log.append(f"write {event.loss}")

    consumer.dependency_overrides[writer] = summary_writer
    producer = _wired(consumer)
    producer.dispatch(Trained(1.0))
    producer.dispatch(Trained(2.0))

    assert log == ["open", "write 1.0", "close", "open", "write 2.0", "close"]


def test_decorated_handler_stays_directly_callable() -> None:
    consumer = Consumer()

    def writer() -> str:
        return "writer"

    @consumer.handler
    def on_trained(event: Trained, writer: str = Depends(writer)) -> str:
        return f"{writer} <- {event.loss}"

    assert on_trained(Trained(0.5)) == "writer <- 0.5"


def test_dispatch_does_not_inspect_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[Any] = []
    consumer = Consumer()

    def writer() -> str:
        return "writer"

    @consumer.handler
    def on_metrics(event: Trained | Validated, writer: str = Depends(writer)) -> None:
        received.append((event, writer))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signatures must not be inspected per event")

    producer = _wired(consumer)
    monkeypatch.setattr(inspect, "signature", refuse)
    monkeypatch.setattr(typing, "get_type_hints", refuse)
    producer.dispatch(Trained(1.0))
    producer.dispatch(Validated(2.0))

    assert received == [(Trained(1.0), "writer"), (Validated(2.0), "writer")]


def test_producer_routes_lists_the_handlers_an_event_class_reaches_in_order() -> None:
    first, second, producer = Consumer(), Consumer(), Producer()

    @first.handler
    def one(event: int) -> None: ...

    @second.handler
    def two(event: int) -> None: ...

    producer.register(first, second)

    assert producer.routes(int) == (one, two)
    assert producer.routes(str) == ()


# --- routing as registration data ---------------------------------------------------------


class Stepped(Trained):
    pass


def test_exclude_keeps_a_class_and_its_subclasses_from_a_registration() -> None:
    seen: list[Any] = []
    consumer = Consumer()
    consumer.register(object, seen.append, exclude=Trained)

    for message in (Trained(1.0), Stopped(2.0), Validated(3.0), 4):
        consumer.consume(message)

    assert seen == [Validated(3.0), 4]
    assert consumer.registrations[0].exclude == (Trained,)


def test_exclude_applies_to_its_registration_only() -> None:
    seen: list[str] = []
    consumer = Consumer()

    @consumer.handler(exclude=(Stepped, Iterated))
    def everything(event: object) -> None:
        seen.append(f"everything {type(event).__name__}")

    @consumer.handler
    def steps(event: Stepped) -> None:
        seen.append("steps")

    producer = _wired(consumer)
    for message in (Stepped(0.1), Trained(0.2), Iterated()):
        producer.dispatch(message)

    assert seen == ["steps", "everything Trained"]
    assert producer.routes(Stepped) == (steps,)


def test_exclude_must_name_classes() -> None:
    consumer = Consumer()

    with pytest.raises(TypeError, match=r"exclude of .*append takes classes, got 'Trained'"):
        consumer.register(object, [].append, exclude=["Trained"])  # type: ignore[list-item]
    assert consumer.registrations == ()


def test_routing_reads_only_what_was_registered() -> None:
    consumer = Consumer()

    @consumer.handler
    def on_trained(event: Trained) -> None: ...

    assert not hasattr(consumer, "accepts")
    assert consumer.routes(Stopped) == (on_trained,)
    assert consumer.routes(Validated) == ()


def test_handlers_is_a_read_only_view_of_the_registrations() -> None:
    consumer = Consumer()

    @consumer.handler
    def on_metrics(event: Trained | Validated) -> None: ...

    @consumer.handler
    def on_trained(event: Trained) -> None: ...

    assert dict(consumer.handlers) == {Trained: (on_metrics, on_trained), Validated: (on_metrics,)}
    with pytest.raises(TypeError):
        consumer.handlers[Iterated] = (on_trained,)  # type: ignore[index]
    consumer.remove(on_metrics)
    assert dict(consumer.handlers) == {Trained: (on_trained,)}


# --- the same handler twice -----------------------------------------------------------------


def test_a_handler_decorated_twice_is_called_once_per_event() -> None:
    received: list[Any] = []
    consumer = Consumer()

    def on_trained(event: Trained) -> None:
        received.append(event)

    consumer.handler(on_trained)
    consumer.handler(on_trained)
    _wired(consumer).dispatch(Trained(1.0))

    assert received == [Trained(1.0)]
    assert consumer.handlers[Trained] == (on_trained,)


def test_a_handler_registered_again_by_its_injected_function_is_called_once() -> None:
    received: list[Any] = []
    consumer = Consumer()

    def source() -> str:
        return "source"

    @consumer.handler
    def on_trained(event: Trained, source: str = Depends(source)) -> None:
        received.append(source)

    consumer.register(Trained, on_trained)
    consumer.consume(Trained(1.0))

    assert received == ["source"]


def test_a_bound_method_registered_twice_is_called_once() -> None:
    class Sink:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def write(self, event: Trained) -> None:
            self.seen.append(event)

    sink, consumer = Sink(), Consumer()
    consumer.register(Trained, sink.write)
    consumer.register(Trained, sink.write)  # a new bound method object each time
    consumer.consume(Trained(1.0))

    assert sink.seen == [Trained(1.0)]


def test_overlapping_registrations_deliver_once_and_add_classes() -> None:
    received: list[Any] = []
    consumer = Consumer()
    consumer.register(Trained, received.append)
    consumer.register(Trained | Validated, received.append)

    consumer.consume(Trained(1.0))
    consumer.consume(Validated(2.0))
    consumer.consume(Stopped(3.0))

    assert received == [Trained(1.0), Validated(2.0), Stopped(3.0)]


def test_two_functions_of_the_same_name_are_both_called() -> None:
    received: list[str] = []
    consumer = Consumer()

    def make(label: str) -> Any:
        def collect(event: Trained) -> None:
            received.append(label)

        return collect

    consumer.handler(make("first"))
    consumer.handler(make("second"))
    consumer.consume(Trained(1.0))

    assert received == ["first", "second"]


# --- removing registrations -----------------------------------------------------------------


def test_register_gives_back_a_registration_that_removes_the_handler() -> None:
    received: list[Any] = []
    consumer = Consumer()
    producer = _wired(consumer)
    registration = consumer.register(Trained, received.append)
    producer.dispatch(Trained(1.0))

    registration.remove()
    producer.dispatch(Trained(2.0))

    assert received == [Trained(1.0)]
    assert registration.active is False
    assert consumer.registrations == ()
    assert producer.routes(Trained) == ()


def test_a_registration_describes_itself() -> None:
    consumer = Consumer()

    def on_metrics(event: Trained | Validated) -> None: ...

    registration = consumer.register(Trained | Validated, on_metrics)

    assert registration.keys == (Trained, Validated)
    assert registration.function is on_metrics
    assert registration.handler is on_metrics
    assert registration.active is True
    assert repr(registration) == (
        "Registration(tests.services.test_prodcon.test_a_registration_describes_itself"
        ".<locals>.on_metrics for Trained, Validated)"
    )
    registration.remove()
    assert repr(registration).endswith("for Trained, Validated, removed)")


def test_removing_a_registration_twice_does_nothing() -> None:
    received: list[Any] = []
    consumer = Consumer()
    first = consumer.register(Trained, received.append)
    second = consumer.register(Validated, received.append)

    first.remove()
    first.remove()
    consumer.consume(Validated(1.0))
    consumer.consume(Trained(2.0))

    assert received == [Validated(1.0)]
    assert consumer.registrations == (second,)


def test_removing_one_of_two_registrations_of_a_handler_keeps_the_other() -> None:
    received: list[Any] = []
    consumer = Consumer()
    first = consumer.register(Trained, received.append)
    consumer.register(Trained, received.append)

    first.remove()
    consumer.consume(Trained(1.0))

    assert received == [Trained(1.0)]


def test_a_registration_is_removed_when_its_with_block_ends() -> None:
    received: list[Any] = []
    consumer = Consumer()

    with consumer.register(Trained, received.append) as registration:
        consumer.consume(Trained(1.0))
    consumer.consume(Trained(2.0))

    assert received == [Trained(1.0)]
    assert registration.active is False


def test_remove_takes_the_decorated_function_or_the_original() -> None:
    received: list[str] = []
    consumer = Consumer()

    def source() -> str:
        return "source"

    def on_trained(event: Trained, source: str = Depends(source)) -> None:
        received.append("trained")

    injected = consumer.handler(on_trained)
    consumer.register(Validated, on_trained)
    consumer.remove(injected)
    consumer.consume(Trained(1.0))
    consumer.consume(Validated(1.0))

    assert injected is not on_trained
    assert received == []
    consumer.handler(on_trained)
    consumer.remove(on_trained)
    assert consumer.registrations == ()


def test_removing_an_unknown_handler_names_it() -> None:
    consumer = Consumer("metrics")

    def on_trained(event: Trained) -> None: ...

    with pytest.raises(ValueError, match=r"on_trained is not registered with Consumer\('metrics'"):
        consumer.remove(on_trained)


def test_a_removal_reaches_every_producer_of_the_consumer() -> None:
    received: list[Any] = []
    consumer = Consumer()
    first, second = _wired(consumer), _wired(consumer)
    registration = consumer.register(Trained, received.append)
    first.dispatch(Trained(1.0))
    second.dispatch(Trained(2.0))

    registration.remove()
    first.dispatch(Trained(3.0))
    second.dispatch(Trained(4.0))

    assert received == [Trained(1.0), Trained(2.0)]


def test_isolate_switched_after_a_dispatch_takes_effect(caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer()

    @consumer.handler
    def fail(event: Trained) -> None:
        raise OSError("sink unavailable")

    producer = _wired(consumer)
    with pytest.raises(OSError, match="sink unavailable"):
        producer.dispatch(Trained(1.0))

    consumer.isolate = True
    producer.dispatch(Trained(2.0))
    assert consumer.isolate is True
    assert "sink unavailable" in caplog.text

    consumer.isolate = False
    with pytest.raises(OSError, match="sink unavailable"):
        producer.dispatch(Trained(3.0))


def test_an_isolated_failure_is_one_line_naming_handler_event_class_and_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = Consumer("sinks", isolate=True)

    @consumer.handler
    def write_to_flaky_sink(event: Trained) -> None:
        raise OSError("sink unavailable\nsecond line of the message")

    with caplog.at_level(logging.DEBUG, logger="torchsystem.services"):
        _wired(consumer).dispatch(Stopped(1.0))

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.getMessage() for r in errors] == [
        "Consumer 'sinks': handler tests.services.test_prodcon."
        "test_an_isolated_failure_is_one_line_naming_handler_event_class_and_exception"
        ".<locals>.write_to_flaky_sink failed on Stopped: OSError: sink unavailable"
    ]
    assert errors[0].exc_info is None
    assert len(debug) == 1
    assert debug[0].exc_info is not None
    assert debug[0].exc_info[0] is OSError


def test_an_isolated_failure_with_a_long_message_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer(isolate=True)

    @consumer.handler
    def fail(event: Trained) -> None:
        raise ValueError("x" * 500)

    @consumer.handler
    def fail_silently(event: Validated) -> None:
        raise KeyError

    with caplog.at_level(logging.ERROR, logger="torchsystem.services"):
        consumer.consume(Trained(1.0))
        consumer.consume(Validated(1.0))

    long, bare = (r.getMessage() for r in caplog.records)
    assert long.startswith("Consumer: handler ")
    assert long.endswith("failed on Trained: ValueError: " + "x" * 197 + "...")
    assert bare.endswith("fail_silently failed on Validated: KeyError")


# --- producers ----------------------------------------------------------------------------------


def test_a_consumer_registered_twice_receives_each_event_once() -> None:
    received: list[Any] = []
    consumer = Consumer()
    consumer.register(Trained, received.append)
    producer = Producer()

    producer.register(consumer, consumer)
    producer.register(consumer)
    producer.dispatch(Trained(1.0))

    assert received == [Trained(1.0)]
    assert producer.consumers == (consumer,)


def test_register_refuses_a_non_consumer_and_registers_nothing() -> None:
    consumer, producer = Consumer(), Producer()

    with pytest.raises(
        TypeError, match=r"^Producer\.register expects consumers \(objects with routes\(cls\) "
                         r"and watch\(router\), such as Consumer\), got 42$"
    ):
        producer.register(consumer, 42)  # type: ignore[arg-type]

    assert producer.consumers == ()


def test_any_object_with_routes_and_watch_is_a_consumer() -> None:
    class Printer:
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.routers: list[Any] = []

        def routes(self, cls: type) -> tuple[Any, ...]:
            return (self.lines.append,) if issubclass(cls, str) else ()

        def watch(self, router: Any) -> None:
            self.routers.append(router)

    printer, producer = Printer(), Producer()
    producer.register(printer)
    producer.dispatch("hello")
    producer.dispatch(1)

    assert printer.lines == ["hello"]
    assert printer.routers == [producer]


def test_a_removed_consumer_receives_nothing_more() -> None:
    received: list[Any] = []
    kept: list[Any] = []
    consumer, other = Consumer(), Consumer()
    consumer.register(Trained, received.append)
    other.register(Trained, kept.append)
    producer = _wired(consumer, other)
    producer.dispatch(Trained(1.0))

    producer.remove(consumer)
    producer.dispatch(Trained(2.0))

    assert received == [Trained(1.0)]
    assert kept == [Trained(1.0), Trained(2.0)]
    assert producer.consumers == (other,)


def test_removing_a_consumer_that_is_not_registered_names_it() -> None:
    with pytest.raises(ValueError, match=r"Consumer\('lost', handlers=\[\]\) is not registered"):
        Producer().remove(Consumer("lost"))


def test_a_consumer_does_not_keep_its_producers_alive() -> None:
    import gc
    import weakref

    consumer = Consumer()
    producer = _wired(consumer)
    reference = weakref.ref(producer)

    del producer
    gc.collect()
    consumer.register(Trained, [].append)  # tells the producers still alive, none here

    assert reference() is None


def test_reprs_name_the_handlers_and_consumers() -> None:
    consumer = Consumer("metrics")

    @consumer.handler
    def on_trained(event: Trained) -> None: ...

    @consumer.handler
    def another(event: Validated) -> None: ...

    assert repr(consumer) == "Consumer('metrics', handlers=['another', 'on_trained'])"
    assert repr(Consumer()) == "Consumer(handlers=[])"
    assert repr(_wired(consumer)) == (
        "Producer(consumers=[Consumer('metrics', handlers=['another', 'on_trained'])])"
    )


def test_an_async_handler_is_refused_at_registration() -> None:
    consumer = Consumer()

    async def on_trained(event: Trained) -> None: ...

    with pytest.raises(TypeError, match=r"on_trained is async, but Consumer delivers messages "
                       r"synchronously and would never await it"):
        consumer.handler(on_trained)
    assert consumer.registrations == ()


def test_isolated_routes_wrap_the_handlers_they_deliver_to() -> None:
    consumer = Consumer(isolate=True)

    @consumer.handler
    def on_trained(event: Trained) -> None: ...

    (route,) = consumer.routes(Trained)

    assert route is not on_trained
    assert route.__wrapped__ is on_trained  # type: ignore[attr-defined]


def test_register_refuses_an_annotation_that_names_no_class() -> None:
    consumer = Consumer()

    with pytest.raises(TypeError, match=r"cannot register .*append: typing.Any is not an event "
                       r"class or a union of classes"):
        consumer.register(Any, [].append)
    with pytest.raises(TypeError, match=r"'Trained' is not an event class"):
        consumer.register("Trained", [].append)
    assert consumer.registrations == ()


def test_a_handler_without_a_readable_signature_is_refused() -> None:
    class Opaque:
        __signature__ = "unreadable"

        def __call__(self, event: Trained) -> None: ...

    with pytest.raises(TypeError, match=r"cannot read the signature of .*Opaque"):
        Consumer().handler(Opaque())


def test_a_new_consumer_has_no_handlers() -> None:
    consumer = Consumer()

    assert dict(consumer.handlers) == {}
    assert consumer.routes(Trained) == ()


def test_routes_are_computed_once_per_class() -> None:
    consumer = Consumer(isolate=True)
    consumer.register(Trained, [].append)
    producer = _wired(consumer)

    assert consumer.routes(Trained) is consumer.routes(Trained)
    assert producer.routes(Trained) is producer.routes(Trained)


def test_the_only_consumer_can_be_removed() -> None:
    received: list[Any] = []
    consumer = Consumer()
    consumer.register(Trained, received.append)
    producer = _wired(consumer)

    producer.remove(consumer)
    producer.dispatch(Trained(1.0))

    assert received == []
    assert producer.consumers == ()


def test_the_modules_export_their_public_names() -> None:
    from torchsystem.services import _delivery, _event, _registration, prodcon, pubsub, service

    assert prodcon.__all__ == ["Consumer", "Depends", "Producer", "Registration", "event"]
    assert pubsub.__all__ == ["Depends", "Publisher", "Subscriber"]
    assert service.__all__ == ["HandlerNotFoundError", "Service", "kebab_case"]
    assert _registration.__all__ == ["Registration", "Registrations"]
    assert _event.__all__ == ["event"]
    assert _delivery.__all__ == [
        "Listeners", "RouteCache", "Routable", "Routes", "isolated", "joined", "one_line",
        "reject_async", "without",
    ]
