"""The moment a checkpoint is taken: ``Advanced``, after the epoch boundary."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storage._models import Model, loaders
from torchsystem.services import Consumer
from torchsystem.training import Advanced, Iterated, Stopped, Training


def _watch(training: Training) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    watcher = Consumer()

    @watcher.handler
    def remember(event: Iterated | Advanced | Stopped) -> None:
        model = event.model
        seen.append((type(event).__name__, (event.epoch, model.epoch, model.onepochs)))

    training.producer.register(watcher)
    return seen


def test_advanced_follows_the_epoch_counter_and_onepoch() -> None:
    training = Training()
    seen = _watch(training)

    training.fit(Model(), loaders(), 2)

    assert seen == [
        ("Iterated", (1, 0, 0)), ("Advanced", (1, 1, 1)),
        ("Iterated", (2, 1, 1)), ("Advanced", (2, 2, 2)),
    ]


def test_advanced_carries_the_stop_of_its_boundary_before_stopped() -> None:
    training = Training()
    seen = _watch(training)
    stops: list[Any] = []
    asker = Consumer()

    @asker.handler
    def stop_at_two(event: Iterated) -> None:
        if event.epoch == 2:
            event.model.events.enqueue(StopIteration("enough"))

    @asker.handler
    def remember(event: Advanced) -> None:
        stops.append(None if event.stop is None else str(event.stop))

    training.producer.register(asker)
    training.fit(Model(), loaders(), 5)

    assert [name for name, _ in seen] == [
        "Iterated", "Advanced", "Iterated", "Advanced", "Stopped"
    ]
    assert stops == [None, "enough"]


def test_iterate_dispatches_advanced_too() -> None:
    training, model = Training(), Model()
    seen = _watch(training)

    training.iterate(model, loaders())

    assert seen[-1] == ("Advanced", (1, 1, 1))


def test_advanced_is_not_dispatched_when_an_epoch_fails() -> None:
    training, model = Training(), Model()
    seen = _watch(training)
    model.fit = None  # type: ignore[assignment,method-assign]

    with pytest.raises(TypeError, match="Model has no `fit` method"):
        training.fit(model, loaders(), 1)

    assert seen == []
