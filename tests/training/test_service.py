"""``Training``: train/validate/iterate/fit, the events they dispatch, devices, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, data, host_reads, loaders, recorder, stop_at
from torchsystem.services import Consumer, Producer
from torchsystem.training import (
    Accuracy,
    Iterated,
    Metric,
    Stepped,
    Stopped,
    TensorLoader,
    Trained,
    Training,
    Validated,
    device,
)


class Probe:
    """A duck-typed model that records what ``fit``/``evaluate`` see.

    The loss of a batch is its first input (a CPU tensor, so it can be read whatever the
    device); the prediction is the target in training and its opposite in evaluation.
    """

    id = "probe"

    def __init__(self, parameters_device: str = "cpu", loss_only: bool = False) -> None:
        self.phase, self.epoch = "evaluation", 0
        self.layer = nn.Linear(1, 1, device=parameters_device)
        self.loss_only = loss_only
        self.seen: list[dict[str, Any]] = []

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.layer.parameters()

    def fit(self, inputs: Tensor, target: Tensor) -> Any:
        return self._step("fit", inputs, target, target)

    def evaluate(self, inputs: Tensor, target: Tensor) -> Any:
        return self._step("evaluate", inputs, target, 1 - target)

    def _step(self, method: str, inputs: Tensor, target: Tensor, prediction: Tensor) -> Any:
        self.seen.append(
            {
                "method": method,
                "inputs": inputs.device,
                "target": target.device,
                "grad": torch.is_grad_enabled(),
                "inference": torch.is_inference_mode_enabled(),
                "phase": self.phase,
            }
        )
        loss = torch.tensor(0.5) if inputs.device.type == "meta" else inputs[0, 0]
        return loss if self.loss_only else (prediction, loss)


class FakeTorchmetric(nn.Module):
    """Mimics a torchmetrics ``Metric``: state in buffers, ``update``/``compute``/``reset``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("correct", torch.tensor(0))
        self.register_buffer("total", torch.tensor(0))
        self.resets = 0

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.correct += (preds == target).sum()
        self.total += target.numel()

    def compute(self) -> Tensor:
        return self.correct.float() / self.total

    def reset(self) -> None:
        self.correct.zero_()
        self.total.zero_()
        self.resets += 1


class Batch:
    """A stand-in for a tensor that records where ``.to`` sends it."""

    def __init__(self, moves: list[Any]) -> None:
        self.moves = moves

    def to(self, destination: Any, non_blocking: bool = False) -> Batch:
        self.moves.append(destination)
        return self

    def __len__(self) -> int:
        return 1


def _probe_loader(samples: int = 8, batch_size: int = 4) -> TensorLoader:
    inputs = torch.ones(samples, 1)
    return TensorLoader(inputs, torch.zeros(samples, dtype=torch.long), batch_size=batch_size)


def _values(metrics: tuple[Metric, ...]) -> dict[str, float]:
    return {metric.name: metric.value for metric in metrics}


# --- handlers ---------------------------------------------------------------------------


def test_handlers_are_registered_by_name() -> None:
    assert sorted(Training().handlers) == ["fit", "iterate", "predict", "train", "validate"]


def test_the_service_is_named_training_by_default() -> None:
    assert Training().name == "training"
    assert Training(name="digits").name == "digits"
    assert repr(Training()) == (
        "Service('training', handlers=['train', 'validate', 'iterate', 'fit', 'predict'])"
    )


def test_handle_train_by_name() -> None:
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.handle("train", Classifier(), loaders()[0][1])

    assert [metric.name for metric in results] == ["loss", "accuracy"]


def test_handle_fit_by_name() -> None:
    model = Classifier()

    assert Training().handle("fit", model, loaders(), 2) == 2
    assert model.epoch == 2


def test_train_returns_floats() -> None:
    results = Training(metrics={"accuracy": Accuracy()}).train(Classifier(), loaders()[0][1])

    assert all(type(metric.value) is float for metric in results)


def test_an_injected_producer_receives_the_events() -> None:
    producer = Producer()
    seen = recorder(producer)

    Training(producer).train(Classifier(), loaders()[0][1])

    assert any(isinstance(message, Trained) for message in seen)


# --- events -----------------------------------------------------------------------------


def test_train_dispatches_stepped_per_batch_with_1_based_steps() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    training.train(model, loaders(train_batches=4)[0][1])

    steps = [e for e in seen if isinstance(e, Stepped)]
    assert [(e.step, e.total) for e in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all((e.model, e.phase, e.epoch) == (model, "train", 1) for e in steps)


def test_stepped_carries_the_batch_loss_tensor() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.train(Classifier(), loaders()[0][1])

    assert all(isinstance(e.loss, Tensor) and e.loss.ndim == 0 for e in seen[:-1])


def test_stepped_carries_a_detached_loss() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.train(Classifier(), loaders()[0][1])

    assert not any(e.loss.requires_grad for e in seen if isinstance(e, Stepped))


def test_stepped_total_is_none_for_a_loader_without_length() -> None:
    training = Training()
    seen = recorder(training.producer)
    inputs, target = data(32)
    batches = iter([(inputs[:16], target[:16]), (inputs[16:], target[16:])])

    training.train(Classifier(), batches)

    assert [e.total for e in seen if isinstance(e, Stepped)] == [None, None]


def test_train_dispatches_trained_with_model_phase_epoch_and_metrics() -> None:
    training, model = Training(metrics={"accuracy": Accuracy()}), Classifier()
    model.epoch = 4  # finished epochs: the fifth is in progress
    seen = recorder(training.producer)
    loader = loaders()[0][1]

    results = training.train(model, loader)

    trained = seen[-1]
    assert isinstance(trained, Trained)
    assert (trained.model, trained.phase, trained.epoch, trained.loader) == (
        model,
        "train",
        5,
        loader,
    )
    assert trained.metrics == results


def test_validate_dispatches_validated_with_its_phase() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    training.validate(model, loaders()[1][1], phase="test")

    validated = seen[-1]
    assert isinstance(validated, Validated)
    assert (validated.model, validated.phase, validated.epoch) == (model, "test", 1)


def test_fit_dispatches_stepped_then_one_event_per_phase_then_iterated() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(train_batches=3, validation_batches=2), epochs=2)

    epoch = ["Stepped"] * 3 + ["Trained"] + ["Stepped"] * 2 + ["Validated", "Iterated"]
    epoch.append("Advanced")
    assert [type(e).__name__ for e in seen] == ["Started", *epoch * 2, "Ended"]


def test_iterate_dispatches_iterated_with_every_phases_results() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    results = training.iterate(model, loaders())

    iterated = seen[-2]
    assert isinstance(iterated, Iterated)
    assert (iterated.model, iterated.epoch) == (model, 1)
    assert list(iterated.results) == ["train", "validation"]
    assert iterated.results == results


def test_events_carry_the_epoch_in_progress_counting_from_1() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.fit(Classifier(), loaders(), epochs=2)

    phases = [(e.phase, e.epoch) for e in seen if isinstance(e, (Trained, Validated))]
    assert phases == [("train", 1), ("validation", 1), ("train", 2), ("validation", 2)]


# --- epochs -----------------------------------------------------------------------------


def test_iterate_advances_the_epoch() -> None:
    model = Classifier()

    Training().iterate(model, loaders())

    assert model.epoch == 1


def test_iterate_accepts_a_mapping_of_loaders() -> None:
    results = Training().iterate(Classifier(), dict(loaders()))

    assert list(results) == ["train", "validation"]


def test_iterate_rejects_loaders_that_are_not_phase_pairs() -> None:
    loader = loaders()[0][1]

    with pytest.raises(TypeError, match=r"\(phase, loader\) pairs"):
        Training().iterate(Classifier(), [loader])


def test_fit_trains_until_the_model_reaches_epochs() -> None:
    model = Classifier()

    assert Training().fit(model, loaders(), epochs=3) == 3
    assert model.epoch == 3


def test_fit_resumes_from_the_models_epoch() -> None:
    training, model = Training(), Classifier()
    model.epoch = 2
    seen = recorder(training.producer)

    ran = training.fit(model, loaders(), epochs=5)

    assert ran == 3
    assert [e.epoch for e in seen if isinstance(e, Iterated)] == [3, 4, 5]
    assert model.epoch == 5


def test_fit_of_zero_epochs_runs_nothing() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    assert training.fit(model, loaders(), epochs=0) == 0
    assert (model.epoch, seen) == (0, [])


def test_validate_reports_the_validation_phase_by_default() -> None:
    training = Training()
    seen = recorder(training.producer)

    training.validate(Classifier(), loaders()[1][1])

    assert (type(seen[-1]), seen[-1].phase) == (Validated, "validation")


def test_fit_runs_nothing_when_the_model_already_reached_epochs() -> None:
    training, model = Training(), Classifier()
    model.epoch = 5
    seen = recorder(training.producer)

    assert training.fit(model, loaders(), epochs=3) == 0
    assert seen == []


@pytest.mark.parametrize("commits", [True, False], ids=["onepoch-commits", "service-commits"])
def test_fit_stops_cleanly_at_a_stop_iteration_from_the_models_events(commits: bool) -> None:
    training, model = Training(), Classifier(commits=commits)
    training.producer.register(stop_at(2))

    assert training.fit(model, loaders(), epochs=10) == 2
    assert model.epoch == 2


def test_an_early_stop_dispatches_stopped_with_the_reason() -> None:
    training, model, reason = Training(), Classifier(), StopIteration("plateau")
    training.producer.register(stop_at(2, reason))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=10)

    stopped = seen[-2]
    assert isinstance(stopped, Stopped)
    assert (stopped.model, stopped.epoch, stopped.reason) == (model, 2, reason)


def _stoppers(*epochs: int) -> Consumer:
    """A consumer that enqueues one StopIteration per entry of ``epochs`` at that epoch."""
    consumer = Consumer()

    @consumer.handler
    def stop(event: Validated) -> None:
        for epoch in epochs:
            if event.epoch == epoch:
                event.model.events.enqueue(StopIteration(f"stop {epoch}"))

    return consumer


@pytest.mark.parametrize("commits", [True, False], ids=["onepoch-commits", "service-commits"])
def test_two_stop_requests_in_one_epoch_leave_none_for_a_later_fit(commits: bool) -> None:
    training, model = Training(), Classifier(commits=commits)
    training.producer.register(_stoppers(2, 2))
    assert training.fit(model, loaders(), epochs=10) == 2

    later = Training()
    ran = later.fit(model, loaders(), epochs=7)

    assert (ran, model.epoch) == (5, 7)
    assert list(model.events.queue) == []


def test_the_first_stop_request_is_the_reason() -> None:
    training, model = Training(), Classifier(commits=False)
    training.producer.register(_stoppers(1, 1))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=10)

    assert str(seen[-1].reason) == "stop 1"


def test_events_queued_after_a_stop_are_still_delivered_at_that_boundary() -> None:
    training, model, delivered = Training(), Classifier(commits=False), []
    model.events.handlers[KeyError] = lambda: delivered.append(model.epoch)
    consumer = Consumer()

    @consumer.handler
    def stop_then_more(event: Iterated) -> None:
        event.model.events.enqueue(StopIteration)
        event.model.events.enqueue(KeyError)

    training.producer.register(consumer)

    assert training.fit(model, loaders(), epochs=10) == 1
    assert delivered == [1]


def test_iterated_is_dispatched_on_the_stopping_epoch_before_stopped() -> None:
    training, model = Training(), Classifier()
    training.producer.register(_stoppers(2))
    seen = recorder(training.producer)

    training.fit(model, loaders(), epochs=10)

    tail = [(type(e).__name__, e.epoch) for e in seen if isinstance(e, (Iterated, Stopped))]
    assert tail == [("Iterated", 1), ("Iterated", 2), ("Stopped", 2)]


@pytest.mark.parametrize("commits", [True, False], ids=["onepoch-commits", "service-commits"])
def test_the_aggregates_events_are_committed_once_per_epoch_after_its_epoch_is_set(
    commits: bool,
) -> None:
    training, model = Training(), Classifier(commits=commits)
    delivered: list[int] = []
    seen_before: list[int] = []
    model.events.handlers[KeyError] = lambda: delivered.append(model.epoch)
    consumer = Consumer()

    @consumer.handler
    def event_per_phase(event: Trained | Validated) -> None:
        seen_before.append(len(delivered))
        event.model.events.enqueue(KeyError)

    training.producer.register(consumer)
    training.fit(model, loaders(), epochs=3)

    assert delivered == [1, 1, 2, 2, 3, 3]
    assert seen_before == [0, 0, 2, 2, 4, 4]  # nothing is delivered within an epoch


def test_a_domain_error_at_the_boundary_propagates_and_the_rest_stays_queued() -> None:
    class Diverged(Exception):
        pass

    training, model = Training(), Classifier(commits=False)
    consumer = Consumer()

    @consumer.handler
    def fail(event: Iterated) -> None:
        event.model.events.enqueue(Diverged("loss is nan"))
        event.model.events.enqueue(StopIteration)

    training.producer.register(consumer)

    with pytest.raises(Diverged, match="loss is nan"):
        training.fit(model, loaders(), epochs=3)
    assert model.epoch == 1
    assert list(model.events.queue) == [StopIteration]


def test_fit_returns_the_epochs_run_when_stopped() -> None:
    training, model = Training(), Classifier()
    model.epoch = 3
    training.producer.register(_stoppers(5))

    assert training.fit(model, loaders(), epochs=10) == 2
    assert model.epoch == 5


def test_iterate_raises_the_stop_after_the_boundary() -> None:
    training, model = Training(), Classifier(commits=False)
    training.producer.register(_stoppers(1, 1))

    with pytest.raises(StopIteration, match="stop 1"):
        training.iterate(model, loaders())

    assert model.epoch == 1
    assert list(model.events.queue) == []


def test_a_stop_raised_mid_epoch_is_an_error_not_an_early_stop() -> None:
    training, model = Training(), Classifier()
    stopper = Consumer()
    reason = StopIteration("raised by a handler, not enqueued on the aggregate")

    @stopper.handler
    def stop_during_second(event: Trained) -> None:
        if event.epoch == 2:
            raise reason

    training.producer.register(stopper)
    seen = recorder(training.producer)

    with pytest.raises(StopIteration) as raised:
        training.fit(model, loaders(), epochs=10)

    assert raised.value is reason
    assert model.epoch == 1
    assert not any(isinstance(event, Stopped) for event in seen)


# --- phases -----------------------------------------------------------------------------


def test_train_runs_with_gradients_in_the_train_phase() -> None:
    model = Probe()

    Training().train(model, _probe_loader())

    assert {(s["grad"], s["inference"], s["phase"]) for s in model.seen} == {
        (True, False, "train"),
    }


def test_validate_runs_under_inference_mode_in_the_evaluation_phase() -> None:
    model = Probe()

    Training().validate(model, _probe_loader())

    assert {(s["method"], s["inference"], s["phase"]) for s in model.seen} == {
        ("evaluate", True, "evaluation"),
    }


def test_validate_switches_an_aggregate_to_eval_mode() -> None:
    model = Classifier()
    modes: list[bool] = []
    evaluate = model.evaluate

    def spy(inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        modes.append(model.nn.training)
        return evaluate(inputs, target)

    model.evaluate = spy  # type: ignore[method-assign]
    Training().validate(model, loaders()[1][1])

    assert modes == [False, False]


# --- metrics ----------------------------------------------------------------------------


def test_loss_is_the_sample_weighted_mean_of_the_batches() -> None:
    inputs = torch.tensor([[1.0]] * 4 + [[2.0]] * 4 + [[4.0]] * 2)
    loader = TensorLoader(inputs, torch.zeros(10, dtype=torch.long), batch_size=4, shuffle=False)

    results = Training().train(Probe(), loader)

    assert _values(results)["loss"] == pytest.approx((4 * 1 + 4 * 2 + 2 * 4) / 10)


def test_metrics_are_reset_between_phases() -> None:
    training = Training(metrics={"accuracy": Accuracy()})
    model = Probe()

    results = training.iterate(model, [("train", _probe_loader()), ("test", _probe_loader())])

    assert _values(results["train"])["accuracy"] == pytest.approx(1.0)
    assert _values(results["test"])["accuracy"] == pytest.approx(0.0)


def test_metrics_given_per_call_replace_the_services() -> None:
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(Probe(), _probe_loader(), {"hits": Accuracy()})

    assert [metric.name for metric in results] == ["loss", "hits"]


def test_a_torchmetrics_metric_is_a_drop_in() -> None:
    fake = FakeTorchmetric()
    training = Training(metrics={"torchmetric": fake, "builtin": Accuracy()})

    values = _values(training.train(Classifier(), loaders()[0][1]))

    assert values["torchmetric"] == pytest.approx(values["builtin"])
    assert (int(fake.total), fake.resets) == (0, 0)  # a prototype: each pass counts in a copy


def test_a_loss_only_model_trains_without_metrics() -> None:
    results = Training().train(Probe(loss_only=True), _probe_loader())

    assert _values(results) == {"loss": pytest.approx(1.0)}


def test_a_loss_only_model_with_metrics_raises_a_clear_type_error() -> None:
    training = Training(metrics={"accuracy": Accuracy()})

    with pytest.raises(TypeError, match=r"Probe.fit returned only a loss.*\(prediction, loss\)"):
        training.train(Probe(loss_only=True), _probe_loader())


def test_an_empty_loader_raises_a_clear_value_error() -> None:
    empty = TensorLoader(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))

    with pytest.raises(ValueError, match="the 'train' loader yielded no batch"):
        Training().train(Classifier(), empty)


def test_an_empty_validation_loader_names_its_phase() -> None:
    empty = TensorLoader(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))

    with pytest.raises(ValueError, match="the 'test' loader yielded no batch"):
        Training().validate(Classifier(), empty, phase="test")


def test_train_reads_the_device_a_constant_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    few, many = host_reads(monkeypatch, 2), host_reads(monkeypatch, 24)

    assert few == many
    assert 0 < many <= 2  # the mean loss and the accuracy, once each


# --- devices ----------------------------------------------------------------------------


def test_batches_go_to_the_models_device_by_default() -> None:
    model = Probe(parameters_device="meta")

    Training().train(model, _probe_loader())

    assert {(s["inputs"].type, s["target"].type) for s in model.seen} == {("meta", "meta")}


def test_batches_go_to_the_cpu_for_a_model_without_parameters() -> None:
    model = Probe()
    model.parameters = lambda: iter(())  # type: ignore[method-assign]

    Training().train(model, _probe_loader())

    assert {s["inputs"].type for s in model.seen} == {"cpu"}


def test_overriding_device_on_the_service_is_honoured() -> None:
    training, model = Training(), Probe()
    training.override(device, lambda: "meta")

    training.train(model, _probe_loader())

    assert {(s["inputs"].type, s["target"].type) for s in model.seen} == {("meta", "meta")}


def test_overriding_device_applies_to_fit() -> None:
    training, model = Training(), Probe()
    training.dependency_overrides[device] = lambda: "meta"

    training.fit(model, [("train", _probe_loader()), ("validation", _probe_loader())], 1)

    assert {s["inputs"].type for s in model.seen} == {"meta"}


def test_batches_are_moved_with_to_the_injected_device() -> None:
    training, moves = Training(), []
    training.override(device, lambda: "cuda:1")
    model = Probe(loss_only=True)
    model.fit = lambda inputs, target: torch.tensor(0.0)  # type: ignore[method-assign]

    training.train(model, [(Batch(moves), Batch(moves)), (Batch(moves), Batch(moves))])

    assert moves == [torch.device("cuda:1")] * 4


def test_a_device_passed_explicitly_wins_over_the_override() -> None:
    training, model = Training(), Probe()
    training.override(device, lambda: "cpu")

    training.train(model, _probe_loader(), device="meta")

    assert {s["inputs"].type for s in model.seen} == {"meta"}


@pytest.mark.parametrize("handler", ["iterate", "fit"])
def test_a_device_passed_to_an_epoch_reaches_every_phase(handler: str) -> None:
    training, model = Training(), Probe()
    training.override(device, lambda: "cpu")
    phases = [("train", _probe_loader()), ("validation", _probe_loader())]
    arguments = (phases, 1) if handler == "fit" else (phases,)

    training.handle(handler, model, *arguments, device="meta")

    assert {(s["method"], s["inputs"].type) for s in model.seen} == {
        ("fit", "meta"), ("evaluate", "meta"),
    }


def test_a_shared_provider_gives_the_service_its_overrides() -> None:
    from torchsystem.depends import Provider

    provider = Provider()
    provider.override(device, lambda: "meta")
    training, model = Training(provider=provider), Probe()

    training.train(model, _probe_loader())

    assert training.provider is provider
    assert {s["inputs"].type for s in model.seen} == {"meta"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_batches_are_moved_to_a_cuda_model() -> None:
    training, model = Training(metrics={"accuracy": Accuracy()}), Classifier().to("cuda")
    seen = recorder(training.producer)

    results = training.train(model, loaders()[0][1])

    assert {e.loss.device.type for e in seen if isinstance(e, Stepped)} == {"cuda"}
    assert all(type(metric.value) is float for metric in results)
