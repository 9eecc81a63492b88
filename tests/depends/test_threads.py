"""Overrides that change while calls are in flight, in other threads or the same one."""

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from torchsystem.depends import Depends, Provider, inject


def _first() -> str:
    raise NotImplementedError


def _second() -> str:
    raise NotImplementedError


def _third() -> str:
    raise NotImplementedError


def _const(value: str) -> Callable[[], str]:
    return lambda: value


def _switch_interval(seconds: float) -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Threads switch every few microseconds, so races show up in few iterations."""
    yield from _switch_interval(1e-6)


def test_a_call_in_flight_in_another_thread_keeps_the_overrides_it_started_with() -> None:
    provider = Provider()
    started, changed = threading.Event(), threading.Event()

    def old_first() -> str:
        started.set()
        assert changed.wait(10)
        return "old"

    provider.dependency_overrides = {_first: old_first, _second: _const("old")}

    @inject(provider)
    def handler(a: str = Depends(_first), b: str = Depends(_second)) -> tuple[str, str]:
        return a, b

    results: list[tuple[str, str]] = []
    worker = threading.Thread(target=lambda: results.append(handler()))
    worker.start()
    assert started.wait(10)
    provider.dependency_overrides = {_first: _const("new"), _second: _const("new")}
    assert handler() == ("new", "new")
    changed.set()
    worker.join(10)

    assert results == [("old", "old")]


def test_a_reentrant_call_after_an_override_change_leaves_the_outer_call_intact() -> None:
    provider = Provider()
    inner: list[tuple[str, str, str]] = []

    def switching_first() -> str:
        if not inner:
            provider.dependency_overrides = {
                _first: _const("new"), _second: _const("new"), _third: _const("new")
            }
            inner.append(handler())
        return "old"

    provider.dependency_overrides = {
        _first: switching_first, _second: _const("old"), _third: _const("old")
    }

    @inject(provider)
    def handler(
        a: str = Depends(_first), b: str = Depends(_second), c: str = Depends(_third)
    ) -> tuple[str, str, str]:
        return a, b, c

    assert handler() == ("old", "old", "old")
    assert inner == [("new", "new", "new")]
    assert handler() == ("new", "new", "new")


def test_a_reentrant_call_with_a_different_graph_shape_leaves_the_outer_call_intact() -> None:
    provider = Provider()
    inner: list[tuple[str, str]] = []

    def leaf() -> str:
        return "leaf"

    def deep(value: str = Depends(leaf)) -> str:
        return f"deep({value})"

    def switching_first() -> str:
        if not inner:
            provider.dependency_overrides = {_first: _const("new"), _second: deep}
            inner.append(handler())
        return "old"

    provider.dependency_overrides = {_first: switching_first, _second: _const("old")}

    @inject(provider)
    def handler(a: str = Depends(_first), b: str = Depends(_second)) -> tuple[str, str]:
        return a, b

    assert handler() == ("old", "old")
    assert inner == [("new", "deep(leaf)")]


def test_threads_toggling_overrides_never_see_a_mix(frequent_switches: None) -> None:
    provider = Provider()
    sets = [
        {_first: _const(tag), _second: _const(tag), _third: _const(tag)} for tag in "AB"
    ]
    provider.dependency_overrides = sets[0]

    @inject(provider)
    def handler(
        a: str = Depends(_first), b: str = Depends(_second), c: str = Depends(_third)
    ) -> tuple[str, str, str]:
        return a, b, c

    stop = threading.Event()
    mixed: list[Any] = []

    def call() -> None:
        while not stop.is_set():
            try:
                result = handler()
            except BaseException as error:
                mixed.append(error)
                return
            if len(set(result)) != 1:
                mixed.append(result)

    callers = [threading.Thread(target=call) for _ in range(2)]
    for thread in callers:
        thread.start()
    for index in range(20000):
        provider.dependency_overrides = sets[index % 2]
    stop.set()
    for thread in callers:
        thread.join(10)

    assert mixed == []


def test_decorating_while_another_thread_changes_overrides(frequent_switches: None) -> None:
    provider = Provider()
    provider.override(_first, _const("v0"))

    def make() -> Callable[[], str]:
        @inject(provider)
        def handler(a: str = Depends(_first)) -> str:
            return a

        return handler

    handlers = [make() for _ in range(1000)]
    errors: list[BaseException] = []

    def decorate() -> None:
        try:
            handlers.extend(make() for _ in range(300))
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=decorate)
    worker.start()
    for version in range(1, 41):
        provider.override(_first, _const(f"v{version}"))
    worker.join(30)

    assert errors == []
    assert len(handlers) == 1300
    assert {handler() for handler in handlers} == {"v40"}


class _SlowToWrap:
    """A callable whose ``__doc__`` (read while ``inject`` builds the wrapper) blocks."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.release = threading.Event()

    @property  # type: ignore[override]
    def __doc__(self) -> None:  # type: ignore[override]
        self.reading.set()
        assert self.release.wait(10)
        return None

    def __call__(self, a: str = Depends(_first)) -> str:
        return a


def test_an_override_changed_while_a_function_is_being_decorated_reaches_it() -> None:
    provider = Provider()
    provider.override(_first, _const("before"))
    slow = _SlowToWrap()
    decorated: list[Callable[[], str]] = []
    worker = threading.Thread(target=lambda: decorated.append(inject(provider)(slow)))
    worker.start()
    assert slow.reading.wait(10)

    provider.override(_first, _const("after"))
    slow.release.set()
    worker.join(10)

    assert decorated[0]() == "after"
