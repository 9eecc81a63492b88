"""``Handlers``: the table of ``Events``, checked when a handler is set."""

from __future__ import annotations

from typing import Any

import pytest

from torchsystem.domain import Event, Events
from torchsystem.domain.handlers import takes_event


class Happened(Event):
    pass


def test_a_handler_needing_two_arguments_is_refused_when_set() -> None:
    events = Events()

    def needs_two(event: Any, extra: Any) -> None: ...

    with pytest.raises(TypeError, match=r"event handler '.*needs_two' requires \(event, extra\); "
                       r"a handler takes the event as its only parameter, or no parameters"):
        events.handlers[Happened] = needs_two
    assert Happened not in events.handlers


def test_a_required_keyword_only_parameter_is_refused() -> None:
    def keyword(*, event: Any) -> None: ...

    with pytest.raises(TypeError, match=r"requires \(event\)"):
        Events({Happened: keyword})


def test_optional_and_variadic_parameters_are_allowed() -> None:
    def optional(event: Any, extra: int = 1) -> None: ...

    def star(*args: Any) -> None: ...

    def keywords(**kwargs: Any) -> None: ...

    def nothing() -> None: ...

    assert takes_event(optional) is True
    assert takes_event(star) is True
    assert takes_event(keywords) is False
    assert takes_event(nothing) is False


def test_a_callable_without_a_signature_is_given_the_event() -> None:
    seen: list[Any] = []

    class Opaque:
        __signature__ = "unreadable"  # inspect.signature raises TypeError

        def __call__(self, *args: Any) -> None:
            seen.append(args)

    events = Events({Happened: Opaque()})
    events.handle(Happened)

    assert takes_event(Opaque()) is True
    assert seen == [(Happened,)]


def test_handlers_are_keyed_by_class_and_must_be_callable() -> None:
    events = Events()

    with pytest.raises(TypeError, match=r"event handlers are keyed by class, got 'Happened'"):
        events.handlers["Happened"] = print  # type: ignore[index]
    with pytest.raises(TypeError, match=r"handler for Happened is not callable: 3"):
        events.handlers[Happened] = [print, 3]  # type: ignore[list-item]
    assert dict(events.handlers) == {}


def test_setdefault_starts_a_list_the_commit_sees() -> None:
    seen: list[str] = []
    events = Events()

    events.handlers.setdefault(Happened).append(lambda: seen.append("appended"))
    same = events.handlers.setdefault(Happened, print)
    events.enqueue(Happened)
    events.commit()

    assert same is events.handlers[Happened]
    assert seen == ["appended"]


def test_setdefault_with_a_handler_sets_it() -> None:
    events = Events()

    assert events.handlers.setdefault(Happened, print) is print
    assert events.handlers[Happened] is print


def test_the_module_exports_its_public_names() -> None:
    import torchsystem.domain.handlers as module

    assert module.__all__ == ["Handler", "HandlerSpec", "Handlers", "takes_event"]
