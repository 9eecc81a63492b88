"""``GracefulStop`` of the interfaces: a requested stop ends training the way a signal
does in ``torchsystem.storage``: ``Interrupted`` first, then ``JobStopped``."""

from __future__ import annotations

import pytest

from torchsystem.interfaces import JobStopped
from torchsystem.interfaces.stopping import GracefulStop
from torchsystem.services import Consumer, Producer
from torchsystem.storage import Interrupted, StopRequested
from torchsystem.training.events import Advanced, Stepped


def listening() -> tuple[Producer, list[Interrupted]]:
    producer, seen = Producer(), []
    notes = Consumer("notes")

    @notes.handler
    def note(event: Interrupted) -> None:
        seen.append(event)
        event.notes.append("checkpoint of epoch 2: /somewhere/epoch-2.pt")

    producer.register(notes)
    return producer, seen


def test_one_except_clause_catches_a_stop_by_request_and_by_signal() -> None:
    assert issubclass(JobStopped, StopRequested)
    assert issubclass(JobStopped, KeyboardInterrupt)
    assert JobStopped("stopped").status == 1


def test_a_requested_stop_dispatches_interrupted_then_raises_after_the_step() -> None:
    producer, seen = listening()
    stop = GracefulStop("job 3f2a9c01b7de")
    stop.attach(producer)
    producer.dispatch(Stepped("model", "train", 3, 7, 10, 0.5, model_id="m1"))
    stop.request()

    with pytest.raises(JobStopped, match=r"^stop requested for job 3f2a9c01b7de \(after step 8 "
                       r"of train, epoch 3\); checkpoint of epoch 2: /somewhere/epoch-2\.pt$"):
        producer.dispatch(Stepped("model", "train", 3, 8, 10, 0.5, model_id="m1"))
    assert [(e.epoch, e.phase, e.step, e.model_id) for e in seen] == [(2, "train", 8, "m1")]
    assert seen[0].reason == "a stop request for job 3f2a9c01b7de"


def test_a_stop_at_the_epoch_boundary_is_noticed_there_and_used_up_once() -> None:
    producer, seen = listening()
    stop = GracefulStop("job 3f2a9c01b7de")
    stop.attach(producer)
    stop.request()

    with pytest.raises(JobStopped, match=r"\(at the end of epoch 4\); checkpoint of epoch 2"):
        producer.dispatch(Advanced("model", 4, {}, model_id="m1"))
    producer.dispatch(Stepped("model", "train", 5, 1, 10, 0.5, model_id="m1"))
    assert [(e.epoch, e.step) for e in seen] == [(4, None)]


def test_without_a_checkpoint_the_message_says_none_are_written() -> None:
    producer = Producer()
    stop = GracefulStop("job 3f2a9c01b7de")
    stop.attach(producer)
    stop.request()

    with pytest.raises(JobStopped, match=r"; no checkpoint \(none are written\)$"):
        producer.dispatch(Stepped("model", "validation", 1, 2, None, 0.5))
