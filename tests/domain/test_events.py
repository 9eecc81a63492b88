"""Domain events: ``Event`` and the ``Events`` queue (DESIGN.md, `domain`)."""

import copy
import inspect
from typing import Any

import pytest

from torchsystem import Event as RootEvent
from torchsystem import Events as RootEvents
from torchsystem.domain import Event, Events


class Happened(Event):
    pass


class Measured(Event):
    def __init__(self, value: float) -> None:
        self.value = value


class Falsy(Event):
    def __bool__(self) -> bool:
        return False


class Empty(Event):
    def __len__(self) -> int:
        return 0


class DomainError(Exception):
    pass


class SpecificDomainError(DomainError):
    pass


def test_root_package_exports_the_same_event_classes() -> None:
    assert RootEvent is Event
    assert RootEvents is Events


def test_event_base_class_is_optional() -> None:
    class PlainEvent:
        pass

    received: list[Any] = []
    events = Events()
    events.handlers[PlainEvent] = received.append
    event = PlainEvent()

    events.enqueue(event)
    events.commit()

    assert received == [event]


def test_event_instance_is_delivered_to_its_handler() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Measured] = received.append
    event = Measured(0.5)

    events.enqueue(event)
    events.commit()

    assert received == [event]
    assert received[0] is event


def test_event_class_is_delivered_to_its_handler() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Happened] = received.append

    events.enqueue(Happened)
    events.commit()

    assert received == [Happened]


def test_handler_with_no_parameters_is_called_without_the_event() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Measured] = lambda: calls.append("handled")

    events.enqueue(Measured(1.0))
    events.commit()

    assert calls == ["handled"]


def test_handler_with_one_parameter_receives_the_event_data() -> None:
    values: list[float] = []
    events = Events()
    events.handlers[Measured] = lambda event: values.append(event.value)

    events.enqueue(Measured(0.25))
    events.commit()

    assert values == [0.25]


def test_exception_class_with_a_handler_is_handled_not_raised() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[KeyError] = lambda: calls.append("KeyError handled")

    events.enqueue(KeyError)
    events.commit()

    assert calls == ["KeyError handled"]


def test_exception_instance_with_a_handler_is_delivered_to_it() -> None:
    received: list[Any] = []
    error = DomainError("diverged")
    events = Events()
    events.handlers[DomainError] = received.append

    events.enqueue(error)
    events.commit()

    assert received == [error]
    assert received[0] is error


def test_commit_delivers_items_in_fifo_order() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: order.append("happened")
    events.handlers[Measured] = lambda event: order.append(f"measured {event.value}")
    events.handlers[KeyError] = lambda: order.append("key error")

    events.enqueue(Measured(1))
    events.enqueue(Happened)
    events.enqueue(KeyError)
    events.enqueue(Measured(2))
    events.enqueue(Happened())
    events.commit()

    assert order == ["measured 1", "happened", "key error", "measured 2", "happened"]


def test_commit_empties_the_queue() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: calls.append("handled")
    events.enqueue(Happened)
    events.commit()

    events.commit()

    assert calls == ["handled"]


def test_list_of_handlers_are_all_called_in_order() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Measured] = [
        lambda event: order.append(f"first {event.value}"),
        lambda: order.append("second"),
        lambda event: order.append(f"third {event.value}"),
    ]

    events.enqueue(Measured(3))
    events.commit()

    assert order == ["first 3", "second", "third 3"]


def test_handler_for_a_base_class_receives_subclass_instances() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Event] = received.append
    event = Measured(1.0)

    events.enqueue(event)
    events.commit()

    assert received == [event]


def test_handler_for_a_base_class_receives_subclass_classes() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Event] = received.append

    events.enqueue(Happened)
    events.commit()

    assert received == [Happened]


def test_handler_for_a_base_exception_handles_subclass_exceptions() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[LookupError] = lambda: calls.append("lookup error handled")

    events.enqueue(KeyError)
    events.enqueue(IndexError("out of range"))
    events.commit()

    assert calls == ["lookup error handled", "lookup error handled"]


def test_most_specific_handler_along_the_mro_is_used() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[DomainError] = lambda: calls.append("base")
    events.handlers[SpecificDomainError] = lambda: calls.append("specific")

    events.enqueue(SpecificDomainError)
    events.enqueue(DomainError)
    events.commit()

    assert calls == ["specific", "base"]


def test_unhandled_exception_class_is_raised_by_commit() -> None:
    events = Events()
    events.enqueue(StopIteration)

    with pytest.raises(StopIteration):
        events.commit()


def test_unhandled_exception_instance_is_raised_unchanged_by_commit() -> None:
    error = DomainError("invariant broken")
    events = Events()
    events.enqueue(error)

    with pytest.raises(DomainError) as excinfo:
        events.commit()
    assert excinfo.value is error


def test_unhandled_exception_is_raised_at_its_turn() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Measured] = lambda event: order.append(f"measured {event.value}")

    events.enqueue(Measured(1))
    events.enqueue(StopIteration)
    events.enqueue(Measured(2))

    with pytest.raises(StopIteration):
        events.commit()
    assert order == ["measured 1"]


def test_items_queued_after_a_raised_exception_stay_queued() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Measured] = lambda event: order.append(f"measured {event.value}")
    later = Measured(2)
    events.enqueue(Measured(1))
    events.enqueue(StopIteration)
    events.enqueue(later)
    events.enqueue(Happened)

    with pytest.raises(StopIteration):
        events.commit()

    assert list(events.queue) == [later, Happened]
    events.commit()
    assert order == ["measured 1", "measured 2"]


def test_unhandled_event_is_ignored() -> None:
    events = Events()
    events.enqueue(Happened)
    events.enqueue(Measured(1))

    events.commit()

    assert list(events.queue) == []


def test_falsy_event_is_delivered() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Falsy] = received.append
    event = Falsy()

    events.enqueue(event)
    events.commit()

    assert received == [event]


def test_event_of_length_zero_is_delivered() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Empty] = received.append
    event = Empty()

    events.enqueue(event)
    events.commit()

    assert received == [event]


def test_falsy_event_does_not_stop_the_commit() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Falsy] = lambda: order.append("falsy")
    events.handlers[Measured] = lambda event: order.append(f"measured {event.value}")

    events.enqueue(Falsy())
    events.enqueue(Measured(1))
    events.enqueue(Empty())
    events.enqueue(Measured(2))
    events.commit()

    assert order == ["falsy", "measured 1", "measured 2"]


def test_falsy_builtin_values_are_delivered() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[int] = received.append
    events.handlers[str] = received.append

    events.enqueue(0)
    events.enqueue("")
    events.enqueue(7)
    events.commit()

    assert received == [0, "", 7]


def test_handler_registered_after_a_commit_applies_to_the_next_commit() -> None:
    calls: list[str] = []
    events = Events()
    events.enqueue(Happened)
    events.commit()

    events.handlers[Happened] = lambda: calls.append("late handler")
    events.enqueue(Happened)
    events.commit()

    assert calls == ["late handler"]


def test_handler_replaced_after_a_commit_is_used_by_the_next_commit() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: calls.append("old")
    events.enqueue(Happened)
    events.commit()

    events.handlers[Happened] = lambda: calls.append("new")
    events.enqueue(Happened)
    events.commit()

    assert calls == ["old", "new"]


def test_handler_appended_to_a_list_after_a_commit_is_called() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Happened] = [lambda: calls.append("first")]
    events.enqueue(Happened)
    events.commit()

    events.handlers[Happened].append(lambda event: calls.append("appended"))
    events.enqueue(Happened)
    events.commit()

    assert calls == ["first", "first", "appended"]


def test_handlers_mapping_reassigned_after_a_commit_is_used() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: calls.append("old")
    events.enqueue(Happened)
    events.commit()

    events.handlers = {Happened: lambda: calls.append("new")}
    events.enqueue(Happened)
    events.commit()

    assert calls == ["old", "new"]


def test_subclass_handler_registered_after_a_commit_takes_precedence() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Event] = lambda: calls.append("base")
    events.enqueue(Measured(1))
    events.commit()

    events.handlers[Measured] = lambda: calls.append("specific")
    events.enqueue(Measured(2))
    events.commit()

    assert calls == ["base", "specific"]


def test_exception_handler_registered_after_a_failed_commit_handles_it() -> None:
    calls: list[str] = []
    events = Events()
    events.enqueue(DomainError)
    with pytest.raises(DomainError):
        events.commit()

    events.handlers[DomainError] = lambda: calls.append("handled")
    events.enqueue(DomainError)
    events.commit()

    assert calls == ["handled"]


def test_events_queues_are_independent() -> None:
    first, second = Events(), Events()
    first.enqueue(StopIteration)

    second.commit()

    with pytest.raises(StopIteration):
        first.commit()


def test_deep_copy_has_its_own_queue() -> None:
    events = Events()
    duplicate = copy.deepcopy(events)

    duplicate.enqueue(StopIteration)

    assert list(events.queue) == []
    assert list(duplicate.queue) == [StopIteration]


def test_handlers_maps_each_class_to_what_was_registered() -> None:
    events = Events()

    def on_happened() -> None:
        pass

    events.handlers[Happened] = on_happened

    assert isinstance(events.handlers, dict)
    assert events.handlers[Happened] is on_happened


def test_handler_signatures_are_not_inspected_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: order.append("happened")
    events.handlers[Measured] = [
        lambda event: order.append(f"measured {event.value}"),
        lambda: order.append("measured, no argument"),
    ]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handler signatures must not be inspected per event")

    monkeypatch.setattr(inspect, "signature", refuse)
    monkeypatch.setattr(inspect, "getfullargspec", refuse)
    events.enqueue(Happened)
    events.enqueue(Measured(1))
    events.commit()

    assert order == ["happened", "measured 1", "measured, no argument"]
