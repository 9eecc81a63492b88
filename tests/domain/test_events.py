"""Domain events: ``Event`` and the ``Events`` queue."""

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
        Silent([], "unhashable"),
    ]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handler signatures must not be inspected per event")

    monkeypatch.setattr(inspect, "signature", refuse)
    monkeypatch.setattr(inspect, "getfullargspec", refuse)
    events.enqueue(Happened)
    events.enqueue(Measured(1))
    events.commit()

    assert order == ["happened", "measured 1", "measured, no argument"]


# --- a handler that raises during commit ---------------------------------------------------


def test_a_failing_handler_stops_the_commit_and_its_event_is_not_requeued() -> None:
    order: list[str] = []
    error = DomainError("handler failed")
    later = Measured(2)
    events = Events()

    def fail(event: Measured) -> None:
        order.append(f"fail {event.value}")
        if event.value == 1:
            raise error

    events.handlers[Measured] = [lambda event: order.append(f"first {event.value}"), fail,
                                 lambda event: order.append(f"third {event.value}")]
    events.handlers[Happened] = lambda: order.append("happened")
    events.enqueue(Measured(1))
    events.enqueue(later)
    events.enqueue(Happened)

    with pytest.raises(DomainError) as raised:
        events.commit()

    assert raised.value is error
    assert order == ["first 1", "fail 1"]
    assert list(events.queue) == [later, Happened]
    events.commit()
    assert order == ["first 1", "fail 1", "first 2", "fail 2", "third 2", "happened"]
    assert list(events.queue) == []


def test_items_enqueued_by_a_handler_are_delivered_in_the_same_commit() -> None:
    order: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: (order.append("happened"), events.enqueue(Measured(1)))
    events.handlers[Measured] = lambda event: order.append(f"measured {event.value}")

    events.enqueue(Happened)
    events.commit()

    assert order == ["happened", "measured 1"]


# --- unhandled exceptions say whose events raised them ------------------------------------------


class Owner:
    id = "model-7"


def test_an_unhandled_exception_class_says_whose_events_raised_it() -> None:
    owner = Owner()
    events = Events(owner=owner)
    events.enqueue(ValueError)

    with pytest.raises(ValueError, match=r"^enqueued on the domain events of Owner") as raised:
        events.commit()

    assert str(raised.value) == (
        "enqueued on the domain events of Owner (id 'model-7') and raised by commit(): no "
        "handler is registered for ValueError; set events.handlers[ValueError] to handle it"
    )
    assert not hasattr(raised.value, "__notes__")
    assert events.owner is owner


def test_an_unhandled_stop_iteration_class_keeps_its_value_and_gets_a_note() -> None:
    events = Events(owner=Owner())  # gone at once: no owner to name
    events.enqueue(StopIteration)

    with pytest.raises(StopIteration) as raised:
        events.commit()

    assert raised.value.value is None
    assert raised.value.args == ()
    assert raised.value.__notes__ == [
        "enqueued on an Events queue and raised by commit(): no handler is registered for "
        "StopIteration; set events.handlers[StopIteration] to handle it"
    ]


def test_an_unhandled_exception_instance_gets_the_note_once() -> None:
    error = DomainError("diverged")
    events = Events()

    for _ in range(2):
        events.enqueue(error)
        with pytest.raises(DomainError, match=r"^diverged\n") as raised:
            events.commit()
        assert raised.value is error

    assert error.args == ("diverged",)
    assert error.__notes__ == [
        "enqueued on an Events queue and raised by commit(): no handler is registered for "
        "DomainError; set events.handlers[DomainError] to handle it"
    ]


def test_an_exception_class_without_a_message_parameter_gets_a_note() -> None:
    class Silent(Exception):
        def __init__(self) -> None:
            super().__init__()

    events = Events(owner=Owner)  # a class is an owner like any other object
    events.enqueue(Silent)

    with pytest.raises(Silent) as raised:
        events.commit()

    assert raised.value.args == ()
    assert raised.value.__notes__[0].startswith("enqueued on the domain events of type ")


def test_an_owner_without_an_id_is_named_by_its_class() -> None:
    class Nameless:
        @property
        def id(self) -> str:
            raise NotImplementedError

    owner = Nameless()
    events = Events(owner=owner)
    events.enqueue(KeyError("k"))

    with pytest.raises(KeyError) as raised:
        events.commit()

    assert raised.value.__notes__[0].startswith(
        "enqueued on the domain events of "
        "test_an_owner_without_an_id_is_named_by_its_class.<locals>.Nameless and raised"
    )


def test_an_exception_class_that_needs_arguments_is_reported_clearly() -> None:
    class NeedsTwo(Exception):
        def __init__(self, reason: str, code: int) -> None:
            super().__init__(reason, code)

    events = Events()
    events.enqueue(NeedsTwo)

    with pytest.raises(TypeError, match=r"NeedsTwo was enqueued on an Events queue as a class, "
                       r"but it cannot be made without arguments .*; enqueue an instance"):
        events.commit()


def test_the_owner_is_held_weakly() -> None:
    import gc

    owner = Owner()
    events = Events(owner=owner)

    del owner
    gc.collect()

    assert events.owner is None


def test_an_owner_that_cannot_be_weakly_referenced_is_kept() -> None:
    events = Events(owner=42)

    assert events.owner == 42
    assert Events().owner is None


# --- the queue, dequeue, handle, handlers ---------------------------------------------------------


def test_the_queue_can_be_replaced_and_enqueue_follows_it() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Measured] = lambda event: received.append(event.value)
    events.enqueue(Measured(0))
    first, second = Measured(1), Measured(2)

    events.queue = [first]  # type: ignore[assignment]
    events.enqueue(second)

    assert list(events.queue) == [first, second]
    events.commit()
    assert received == [1, 2]


def test_a_deque_given_as_queue_is_used_as_is() -> None:
    from collections import deque

    shared: deque[Any] = deque([Happened])
    events = Events()

    events.queue = shared
    events.enqueue(KeyError)

    assert events.queue is shared
    assert list(shared) == [Happened, KeyError]


def test_dequeue_takes_the_oldest_item_or_none() -> None:
    events = Events()
    events.enqueue(Happened)
    events.enqueue(KeyError)

    assert events.dequeue() is Happened
    assert events.dequeue() is KeyError
    assert events.dequeue() is None
    assert list(events.queue) == []


def test_handle_delivers_at_once_without_the_queue() -> None:
    received: list[Any] = []
    events = Events()
    events.handlers[Measured] = received.append
    queued, handled = Measured(1), Measured(2)
    events.enqueue(queued)

    events.handle(handled)
    events.handle(Happened)

    assert received == [handled]
    assert list(events.queue) == [queued]


def test_handle_raises_an_unhandled_exception() -> None:
    owner = Owner()
    events = Events(owner=owner)

    with pytest.raises(StopIteration) as raised:
        events.handle(StopIteration)

    assert "Owner (id 'model-7')" in raised.value.__notes__[0]
    assert raised.value.args == ()


def test_handlers_replaced_by_an_empty_mapping_after_a_commit_forget_the_old_routes() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[KeyError] = lambda: calls.append("handled")
    events.handlers[Happened] = lambda: calls.append("happened")
    events.enqueue(KeyError)
    events.enqueue(Happened)
    events.commit()

    events.handlers = {}
    events.enqueue(Happened)
    events.enqueue(KeyError)

    with pytest.raises(KeyError):
        events.commit()
    assert calls == ["handled", "happened"]
    assert dict(events.handlers) == {}


def test_handlers_removed_after_a_commit_are_not_called() -> None:
    calls: list[str] = []
    events = Events()
    events.handlers[Happened] = lambda: calls.append("happened")
    events.handlers[Event] = lambda: calls.append("event")
    events.enqueue(Happened)
    events.commit()

    del events.handlers[Happened]
    events.enqueue(Happened)
    events.commit()

    assert calls == ["happened", "event"]


def test_repr_counts_queued_items_and_handlers() -> None:
    events = Events({Happened: print, KeyError: print})
    events.enqueue(Happened)

    assert repr(events) == "Events(queued=1, handlers=2)"


# --- copies and pickles with events still queued --------------------------------------------------


def record(event: Any) -> None:
    """A module-level handler: pickles by reference."""


def test_copy_keeps_handlers_queue_and_owner_but_queues_apart() -> None:
    owner = Owner()
    events = Events({Measured: record}, owner=owner)
    queued = Measured(1)
    events.enqueue(queued)

    copied = copy.copy(events)
    copied.enqueue(Happened)

    assert list(copied.queue) == [queued, Happened]
    assert list(events.queue) == [queued]
    assert copied.handlers == {Measured: record}
    assert copied.owner is owner


def test_deep_copy_copies_the_queued_events() -> None:
    owner = Owner()
    events = Events({Measured: record}, owner=owner)
    events.enqueue(Measured(1))
    events.enqueue(DomainError("late"))

    copied = copy.deepcopy(events)

    first, error = copied.queue
    assert isinstance(first, Measured)
    assert first is not events.queue[0]
    assert first.value == 1
    assert isinstance(error, DomainError)
    assert error.args == ("late",)
    assert copied.owner is owner
    assert copied.handlers == {Measured: record}


def test_pickle_keeps_the_queued_events_and_handlers() -> None:
    import pickle

    events = Events({Measured: record})
    events.enqueue(Measured(1))
    events.enqueue(StopIteration)

    restored = pickle.loads(pickle.dumps(events))

    first, stop = restored.queue
    assert (type(first), first.value, stop) == (Measured, 1, StopIteration)
    assert restored.handlers == {Measured: record}
    restored.enqueue(Happened)
    assert len(restored.queue) == 3
    assert len(events.queue) == 2


# --- an aggregate with events still queued ------------------------------------------------------


def _aggregate_with_queued_events() -> Any:
    torch = pytest.importorskip("torch")
    from tests.domain._aggregates import Tracked

    model = Tracked(torch.nn.Linear(2, 1))
    model.events.enqueue(Measured(0.5))
    model.events.enqueue(DomainError("stop here"))
    model.events.enqueue(Happened)
    return model


def _assert_same_events(copied: Any) -> None:
    measured, error, happened = copied.events.queue
    assert (type(measured), measured.value) == (Measured, 0.5)
    assert (type(error), error.args) == (DomainError, ("stop here",))
    assert happened is Happened
    assert copied.events.owner is copied
    assert copied.events.handlers == {Measured: copied.remember}  # bound to the copy
    with pytest.raises(DomainError, match=r"domain events of Tracked \(id 'tracked'\)"):
        copied.events.commit()
    assert copied.seen == [0.5]
    assert list(copied.events.queue) == [Happened]


def test_an_aggregate_deep_copied_with_queued_events_owns_its_copy() -> None:
    model = _aggregate_with_queued_events()

    copied = copy.deepcopy(model)

    assert copied.events is not model.events
    _assert_same_events(copied)
    assert len(model.events.queue) == 3
    assert model.events.owner is model


def test_an_aggregate_pickled_with_queued_events_restores_them() -> None:
    import pickle

    model = _aggregate_with_queued_events()

    _assert_same_events(pickle.loads(pickle.dumps(model)))


def test_an_aggregate_saved_by_torch_with_queued_events_restores_them(tmp_path: Any) -> None:
    model = _aggregate_with_queued_events()
    import torch

    torch.save(model, tmp_path / "model.pt")

    _assert_same_events(torch.load(tmp_path / "model.pt", weights_only=False))


def test_a_shallow_copy_of_an_aggregate_shares_its_events() -> None:
    model = _aggregate_with_queued_events()

    copied = copy.copy(model)

    assert copied.events is model.events  # as every attribute of a shallow copy
    assert len(copied.events.queue) == 3


class Callback:
    """An unhashable handler (``__eq__`` without ``__hash__``)."""

    def __init__(self, seen: list[Any], label: str) -> None:
        self.seen, self.label = seen, label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Callback)

    def __call__(self, event: Any) -> None:
        self.seen.append(f"{self.label} {type(event).__name__}")


class Silent(Callback):
    def __call__(self) -> None:  # type: ignore[override]
        self.seen.append(f"{self.label} without the event")


def test_unhashable_handlers_are_told_apart_by_identity() -> None:
    seen: list[str] = []
    events = Events()
    events.handlers[Happened] = [Callback(seen, "first"), Silent(seen, "second")]
    events.handlers[Measured] = Silent(seen, "third")
    events.enqueue(Happened())
    events.enqueue(Measured(1))
    events.commit()

    events.handlers[Happened].append(Silent(seen, "late"))
    events.enqueue(Happened())
    events.commit()

    assert seen == [
        "first Happened", "second without the event", "third without the event",
        "first Happened", "second without the event", "late without the event",
    ]


def test_enqueue_is_the_queue_append_itself_also_after_a_new_queue() -> None:
    events = Events()
    assert events.enqueue == events.queue.append
    Events.enqueue(events, KeyError)  # the method, called on the class, queues too
    assert list(events.queue) == [KeyError]

    events.queue = [Happened]  # type: ignore[assignment]

    assert events.enqueue == events.queue.append


def test_the_module_exports_its_public_names() -> None:
    import torchsystem.domain._owner as owner
    import torchsystem.domain.events as module

    assert module.__all__ == ["Event", "Events", "Handlers"]
    assert owner.__all__ == ["describe", "note", "reference"]


def test_a_queued_event_that_points_at_its_aggregate_points_at_the_copy() -> None:
    from torchsystem import Aggregate

    class Stopped(Event):
        def __init__(self, model: Any) -> None:
            self.model = model

    class Model(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

    model = Model()
    model.events.enqueue(Stopped(model))

    copied = copy.deepcopy(model)

    (queued,) = list(copied.events.queue)
    assert queued.model is copied  # one copy of the aggregate, not a second one


def test_an_unknown_name_of_the_domain_package_is_named() -> None:
    import torchsystem.domain as domain

    with pytest.raises(AttributeError, match=r"^module 'torchsystem.domain' has no attribute "
                                              r"'Agregate'$"):
        domain.Agregate  # noqa: B018 - the attribute access is the test
