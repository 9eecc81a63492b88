"""``MetricsConsumer``: catch-all handlers that skip the per-step bookkeeping, as data."""

from __future__ import annotations

from typing import Any

from torchsystem.consumers._reports import MetricsConsumer
from torchsystem.services import Producer
from torchsystem.training.events import Ended, Iterated, Started, Stepped, Stopped, Trained


class Recorder(MetricsConsumer):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.seen: list[str] = []
        self.register(object, self.everything)
        self.register(Stepped, self.steps)

    def everything(self, event: object) -> None:
        self.seen.append(f"everything {type(event).__name__}")

    def steps(self, event: Stepped) -> None:
        self.seen.append("steps")


def _event(cls: type) -> Any:
    return cls.__new__(cls)  # the routing reads only the class


def test_a_catch_all_handler_is_registered_without_the_bookkeeping() -> None:
    recorder = Recorder()

    catch_all, steps = recorder.registrations

    assert catch_all.exclude == (Stepped, Iterated, Stopped, Started, Ended)
    assert steps.exclude == ()


def test_bookkeeping_reaches_only_handlers_registered_for_it_by_name() -> None:
    recorder = Recorder()
    producer = Producer()
    producer.register(recorder)

    for cls in (Stepped, Iterated, Stopped, Trained):
        producer.dispatch(_event(cls))

    assert recorder.seen == ["steps", "everything Trained"]
    assert producer.routes(Iterated) == ()


def test_exclusions_given_by_a_subclass_are_kept() -> None:
    consumer = MetricsConsumer()

    consumer.register(object, print, exclude=Trained)
    consumer.register(object, repr, exclude=[Trained])

    assert [r.exclude for r in consumer.registrations] == [
        (Trained, Stepped, Iterated, Stopped, Started, Ended),
        (Trained, Stepped, Iterated, Stopped, Started, Ended),
    ]
