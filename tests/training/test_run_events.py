"""``fit``'s ``Started`` and ``Ended``, and the learning rates ``Trained`` carries."""

from __future__ import annotations

import copy
import pickle
import time
from typing import Any

import pytest
import torch

from tests.training._models import Classifier, loaders, recorder, stop_at
from torchsystem.services import Consumer
from torchsystem.training import (
    OUTCOMES,
    Ended,
    Iterated,
    Metric,
    Started,
    Stopped,
    Trained,
    Training,
    Validated,
)


def _of(seen: list[Any], kind: type) -> list[Any]:
    return [event for event in seen if isinstance(event, kind)]


def test_fit_dispatches_started_first_and_ended_last() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)
    phases = loaders()
    before = time.time()

    training.fit(model, phases, epochs=2)

    started, ended = seen[0], seen[-1]
    assert isinstance(started, Started)
    assert (started.model, started.epoch, started.epochs, started.model_id) == (
        model, 1, 2, model.id)
    assert started.loaders == tuple(phases)
    assert before <= started.time <= ended.time <= time.time()
    assert isinstance(ended, Ended)
    assert (ended.model, ended.epoch, ended.outcome, ended.reason, ended.model_id) == (
        model, 2, "finished", None, model.id)
    assert _of(seen, Started) == [started]
    assert _of(seen, Ended) == [ended]


def test_started_carries_the_hyperparameters_read_when_fit_began() -> None:
    training, model = Training(), Classifier(lr=0.5)
    seen = recorder(training.producer)
    torch.manual_seed(3)

    training.fit(model, loaders(batch_size=8), epochs=1)
    model.optimizer.param_groups[0]["lr"] = 9.0  # later changes do not reach the event

    assert seen[0].hyperparameters == {
        "model": {"nn": {"name": "MLP", "arguments": {"in_features": 8, "out_features": 2}}},
        "optimizer": {"class": "SGD", "param_groups": [{
            "lr": 0.5, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False,
            "maximize": False, "foreach": None, "differentiable": False, "fused": None}]},
        "seed": 3,
        "epochs": 1,
        "batch_size": {"train": 8, "validation": 8},
    }


def test_a_resumed_fit_starts_at_the_next_epoch() -> None:
    training, model = Training(), Classifier()
    model.epoch = 2
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=4)

    assert (seen[0].epoch, seen[0].epochs, seen[-1].epoch) == (3, 4, 4)


def test_an_early_stop_ends_stopped_early_after_stopped() -> None:
    training, model, reason = Training(), Classifier(), StopIteration("plateau")
    training.producer.register(stop_at(2, reason))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=10)

    assert [type(event) for event in seen[-2:]] == [Stopped, Ended]
    assert (seen[-1].epoch, seen[-1].outcome, seen[-1].reason) == (2, "stopped early", reason)


def test_a_stop_at_the_last_epoch_is_an_early_stop_too() -> None:
    training, model = Training(), Classifier()
    stopper = Consumer()

    @stopper.handler
    def stop(event: Iterated) -> None:
        event.model.events.enqueue(StopIteration("now"))

    training.producer.register(stopper)
    seen = recorder(training.producer)

    assert training.fit(model, loaders(), epochs=1) == 1
    assert seen[-1].outcome == "stopped early"


class Failure(Exception):
    pass


class Broken(Classifier):
    def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
        if self.epoch == 1:
            raise Failure("bad batch")
        return super().fit(inputs, target)


def test_a_fit_that_fails_ends_failed_and_raises_the_error_unchanged() -> None:
    training, model = Training(), Broken()
    seen = recorder(training.producer)

    with pytest.raises(Failure, match=r"^bad batch$") as raised:
        training.fit(model, loaders(), epochs=3)

    ended = seen[-1]
    assert isinstance(ended, Ended)
    assert (ended.epoch, ended.outcome, ended.reason) == (1, "failed", raised.value)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2)])
def test_a_fit_cut_short_ends_interrupted(error: BaseException) -> None:
    class Cut(Classifier):
        def fit(self, inputs: torch.Tensor, target: torch.Tensor) -> Any:
            raise error

    training = Training()
    seen = recorder(training.producer)

    with pytest.raises(type(error)):
        training.fit(Cut(), loaders(), epochs=3)

    assert (seen[-1].epoch, seen[-1].outcome, seen[-1].reason) == (0, "interrupted", error)


def test_a_fit_with_nothing_to_run_dispatches_neither() -> None:
    training, model = Training(), Classifier()
    model.epoch = 3
    seen = recorder(training.producer)

    assert training.fit(model, loaders(), epochs=3) == 0
    assert seen == []


def test_arguments_are_checked_before_started() -> None:
    training = Training()
    seen = recorder(training.producer)

    with pytest.raises(ValueError, match="an epoch needs a training phase"):
        training.fit(Classifier(), [("validation", loaders()[1][1])], epochs=1)

    assert seen == []


def test_a_consumer_that_refuses_started_stops_fit_before_any_epoch() -> None:
    training, model = Training(), Classifier()
    refusing = Consumer()

    @refusing.handler
    def refuse(event: Started) -> None:
        raise RuntimeError("the run database is closed")

    training.producer.register(refusing)
    seen = recorder(training.producer)

    with pytest.raises(RuntimeError, match="the run database is closed"):
        training.fit(model, loaders(), epochs=2)

    assert (model.epoch, seen) == (0, [])


class TwoGroups(Classifier):
    """Two param groups, halved by a scheduler at every epoch boundary."""

    def __init__(self) -> None:
        super().__init__(commits=False)
        self.optimizer = torch.optim.SGD([
            {"params": self.nn.layer.weight, "lr": 0.1},
            {"params": self.nn.layer.bias, "lr": 0.01},
        ])
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)

    def onepoch(self) -> None:
        self.scheduler.step()


def test_trained_carries_the_learning_rates_of_its_pass() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.fit(TwoGroups(), loaders(), epochs=3)

    assert [event.learning_rates for event in _of(seen, Trained)] == [
        (Metric("lr.0", 0.1), Metric("lr.1", 0.01)),
        (Metric("lr.0", 0.05), Metric("lr.1", 0.005)),
        (Metric("lr.0", 0.025), Metric("lr.1", 0.0025)),
    ]
    assert all(not hasattr(event, "learning_rates") for event in _of(seen, Validated))


def test_a_hand_made_trained_event_carries_no_learning_rates() -> None:
    assert Trained(Classifier(), "train", 1, ()).learning_rates is None


def test_the_outcomes_are_the_words_of_the_run_records() -> None:
    assert OUTCOMES == ("finished", "stopped early", "failed", "interrupted")


def test_the_new_events_survive_pickle_and_deepcopy_and_log_in_one_line() -> None:
    started = Started(None, 1, 5, (("train", [1, 2]),), {"seed": 1}, 10.0, model_id="m")
    ended = Ended(None, 5, "failed", ValueError("x"), 11.0, model_id="m")

    assert pickle.loads(pickle.dumps(started)) == copy.deepcopy(started) == started
    for copied in (pickle.loads(pickle.dumps(ended)), copy.deepcopy(ended)):
        assert repr(copied) == repr(ended)  # exceptions compare by identity
    assert repr(started) == "Started(epoch=1, epochs=5, time=10.0, model_id='m')"
    assert repr(ended) == (
        "Ended(epoch=5, outcome='failed', reason=ValueError('x'), time=11.0, model_id='m')")
