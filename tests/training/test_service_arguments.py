"""What ``fit`` and ``iterate`` hand on to each pass and put in their events: the
per-call metrics and limits, the loader of each pass, the stop of the epoch."""

from __future__ import annotations

from torch import Tensor, nn

from tests.training._models import Classifier, loaders, recorder, stop_at
from torchsystem.services import Consumer
from torchsystem.training import (
    Accuracy,
    Advanced,
    Iterated,
    Stepped,
    Stopped,
    Trained,
    Training,
    Validated,
)


def _names(event: Trained | Validated) -> list[str]:
    return [metric.name for metric in event.metrics]


def test_metrics_given_to_fit_reach_every_pass() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(), epochs=2, metrics={"accuracy": Accuracy})

    passes = [(type(e).__name__, e.epoch, _names(e)) for e in seen
              if isinstance(e, (Trained, Validated))]
    assert passes == [
        ("Trained", 1, ["loss", "accuracy"]), ("Validated", 1, ["loss", "accuracy"]),
        ("Trained", 2, ["loss", "accuracy"]), ("Validated", 2, ["loss", "accuracy"]),
    ]


def test_metrics_given_to_iterate_reach_every_pass() -> None:
    results = Training().iterate(Classifier(), loaders(), metrics={"accuracy": Accuracy})

    assert {phase: [m.name for m in metrics] for phase, metrics in results.items()} == {
        "train": ["loss", "accuracy"], "validation": ["loss", "accuracy"],
    }


def test_a_limit_given_to_fit_reaches_the_validation_pass() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(train_batches=3, validation_batches=3), epochs=1,
                 limit_batches={"validation": 1})

    steps = [(e.phase, e.step, e.total) for e in seen if isinstance(e, Stepped)]
    assert steps == [("train", 1, 3), ("train", 2, 3), ("train", 3, 3), ("validation", 1, 1)]


def test_each_pass_event_carries_its_loader() -> None:
    training = Training()
    seen = recorder(training.producer)
    phases = loaders()

    training.fit(Classifier(), phases, epochs=1)

    carried = {e.phase: e.loader for e in seen if isinstance(e, (Trained, Validated))}
    assert carried == {"train": phases[0][1], "validation": phases[1][1]}


def test_advanced_carries_the_stop_of_its_epoch_and_none_before() -> None:
    training, model, reason = Training(), Classifier(commits=False), StopIteration("plateau")
    training.producer.register(stop_at(2, reason))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=5)

    assert [(e.epoch, e.stop) for e in seen if isinstance(e, Advanced)] == [(1, None), (2, reason)]


def test_of_two_stop_requests_at_one_boundary_the_first_is_the_reason() -> None:
    training, model = Training(), Classifier(commits=False)
    first, second = StopIteration("first request"), StopIteration("second request")
    stopper = Consumer()

    @stopper.handler
    def stop_twice(event: Iterated) -> None:
        event.model.events.enqueue(first)
        event.model.events.enqueue(second)

    training.producer.register(stopper)
    seen = recorder(training.producer)

    assert training.fit(model, loaders(), epochs=5) == 1
    stopped = [e for e in seen if isinstance(e, Stopped)]
    assert [e.reason for e in stopped] == [first]
    assert [e.stop for e in seen if isinstance(e, Advanced)] == [first]


class Slotted:
    """A trainable object without ``__dict__`` (``__slots__`` only): nothing to flush."""

    __slots__ = ("epoch", "layer", "phase")
    id = "slotted"

    def __init__(self) -> None:
        self.epoch, self.phase, self.layer = 0, "train", nn.Linear(8, 2)

    def parameters(self) -> list[Tensor]:
        return list(self.layer.parameters())

    def fit(self, inputs: Tensor, target: Tensor) -> Tensor:
        loss: Tensor = nn.functional.cross_entropy(self.layer(inputs), target)
        return loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> Tensor:
        return self.fit(inputs, target)


def test_an_aggregate_without_a_dict_trains() -> None:
    model = Slotted()

    assert Training().fit(model, loaders(), epochs=2) == 2
    assert model.epoch == 2
