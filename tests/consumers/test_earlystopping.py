"""``EarlyStopping``: enqueue ``EarlyStopped`` on the model's events when a metric stalls."""

from __future__ import annotations

import copy
import io
import math
import pickle

import pytest
import torch

from tests.training._models import Classifier, LegacyMetric, LegacyValidated, loaders
from torchsystem import Aggregate
from torchsystem.consumers import EarlyStopped, EarlyStopping
from torchsystem.services import Consumer
from torchsystem.training import Metric, Trained, Training, Validated


class Model(Aggregate):
    id = "model"

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0


def _validated(model: Model, epoch: int, **metrics: float) -> Validated:
    items = tuple(Metric(name, value) for name, value in metrics.items())
    return Validated(model, "validation", epoch, items)


def _feed(stopper: EarlyStopping, model: Model, metric: str, values: list[float]) -> None:
    for epoch, value in enumerate(values, start=1):
        stopper.consume(_validated(model, epoch, **{metric: value}))


def _stop(model: Model) -> EarlyStopped | None:
    """The ``EarlyStopped`` the model's events raise on commit, if any."""
    try:
        model.events.commit()
    except EarlyStopped as stop:
        return stop
    return None


def _stops(stopper: EarlyStopping, model: Model, metric: str, values: list[float]) -> list[bool]:
    """After each value (one epoch each), whether the epoch boundary would stop."""
    stops = []
    for epoch, value in enumerate(values, start=1):
        stopper.consume(_validated(model, epoch, **{metric: value}))
        stops.append(_stop(model) is not None)
    return stops


def test_early_stopped_is_a_stop_iteration() -> None:
    assert issubclass(EarlyStopped, StopIteration)


def _early_stopped() -> EarlyStopped:
    return EarlyStopped("loss", "validation", 0.25, epoch=7, patience=3)


def _same_stop(copied: EarlyStopped) -> None:
    assert type(copied) is EarlyStopped
    assert (copied.metric, copied.phase, copied.best, copied.epoch, copied.patience) == (
        "loss", "validation", 0.25, 7, 3,
    )
    assert str(copied) == "validation loss did not improve on 0.25 for 3 epoch(s)"


def test_early_stopped_survives_pickle() -> None:
    _same_stop(pickle.loads(pickle.dumps(_early_stopped())))


def test_early_stopped_survives_deepcopy_and_copy() -> None:
    _same_stop(copy.deepcopy(_early_stopped()))
    _same_stop(copy.copy(_early_stopped()))


def test_a_model_holding_a_queued_stop_can_be_saved_and_stops_when_loaded() -> None:
    model = Classifier()
    model.events.enqueue(_early_stopped())
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)

    loaded = torch.load(buffer, weights_only=False)

    with pytest.raises(EarlyStopped) as raised:
        loaded.events.commit()
    _same_stop(raised.value)
    assert len(model.events.queue) == 1


def test_a_model_holding_a_queued_stop_can_be_deep_copied() -> None:
    model = Classifier()
    model.events.enqueue(_early_stopped())

    copied = copy.deepcopy(model)

    with pytest.raises(EarlyStopped) as raised:
        copied.events.commit()
    _same_stop(raised.value)


def test_no_stop_while_the_metric_improves() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1)

    assert _stops(stopper, model, "loss", [1.0, 0.9, 0.8, 0.7]) == [False] * 4


def test_a_stop_after_patience_epochs_without_improvement() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    assert _stops(stopper, model, "loss", [1.0, 0.5, 0.6, 0.7]) == [False, False, False, True]


def test_an_improvement_resets_the_wait() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    stops = _stops(stopper, model, "loss", [1.0, 1.1, 0.9, 1.0, 1.0])

    assert stops == [False, False, False, False, True]


def test_the_count_starts_again_after_a_stop() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    stops = _stops(stopper, model, "loss", [1.0, 1.0, 1.0, 1.0, 1.0])

    assert stops == [False, False, True, False, True]


def test_an_equal_value_is_no_improvement() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1)

    assert _stops(stopper, model, "loss", [0.5, 0.5]) == [False, True]


def test_the_stop_names_the_metric_best_value_and_epoch() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    _feed(stopper, model, "loss", [1.0, 0.5, 0.6, 0.7])

    stop = _stop(model)
    assert stop is not None
    assert (stop.metric, stop.phase, stop.best, stop.epoch, stop.patience) == (
        "loss",
        "validation",
        0.5,
        4,
        2,
    )
    assert "loss did not improve on 0.5 for 2 epoch(s)" in str(stop)


def test_mode_max_waits_for_a_higher_value() -> None:
    model, stopper = Model(), EarlyStopping("accuracy", mode="max", patience=1)

    assert _stops(stopper, model, "accuracy", [0.5, 0.6, 0.55]) == [False, False, True]


def test_mode_min_does_not_count_a_higher_value_as_better() -> None:
    model, stopper = Model(), EarlyStopping("loss", mode="min", patience=1)

    assert _stops(stopper, model, "loss", [0.5, 0.6]) == [False, True]


def test_an_improvement_within_min_delta_does_not_count() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2, min_delta=0.1)

    assert _stops(stopper, model, "loss", [1.0, 0.95, 0.92]) == [False, False, True]


def test_an_improvement_beyond_min_delta_counts_in_mode_max() -> None:
    model, stopper = Model(), EarlyStopping("accuracy", mode="max", patience=1, min_delta=0.1)

    stops = _stops(stopper, model, "accuracy", [0.5, 0.65, 0.7])

    assert stops == [False, False, True]


def test_only_the_watched_phase_counts() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1)
    stopper.consume(_validated(model, 1, loss=1.0))

    for epoch in range(2, 5):
        stopper.consume(Trained(model, "train", epoch, (Metric("loss", 2.0),)))

    assert _stop(model) is None


def test_phase_none_watches_every_phase() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1, phase=None)
    stopper.consume(Trained(model, "train", 1, (Metric("loss", 1.0),)))

    stopper.consume(_validated(model, 1, loss=2.0))

    assert _stop(model) is not None


def test_models_are_tracked_separately() -> None:
    first, second, stopper = Model(), Model(), EarlyStopping("loss", patience=1)
    stopper.consume(_validated(first, 1, loss=0.1))

    stopper.consume(_validated(second, 1, loss=1.0))

    assert _stop(second) is None


def test_reset_forgets_a_models_record() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1)
    stopper.consume(_validated(model, 1, loss=0.1))

    stopper.reset(model)
    stopper.consume(_validated(model, 2, loss=1.0))

    assert _stop(model) is None


def test_a_metric_that_is_nan_from_the_start_stops() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    assert _stops(stopper, model, "loss", [math.nan, math.nan]) == [False, True]
    assert stopper.best(model) is None


def test_a_metric_that_turns_nan_stops() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=2)

    assert _stops(stopper, model, "loss", [1.0, math.nan, math.nan]) == [False, False, True]
    assert stopper.best(model) == 1.0


def test_a_missing_metric_is_named_with_the_available_ones() -> None:
    stopper = EarlyStopping("accuracy")

    with pytest.raises(ValueError, match=r"watches 'accuracy'.*\['loss'\]"):
        stopper.consume(_validated(Model(), 1, loss=1.0))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mode": "lowest"}, "mode must be 'min' or 'max', got 'lowest'"),
        ({"patience": 0}, "patience must be at least 1 epoch, got 0"),
        ({"min_delta": -0.1}, "min_delta must be a non-negative number, got -0.1"),
        ({"min_delta": math.nan}, "min_delta must be a non-negative number, got nan"),
    ],
)
def test_invalid_arguments_are_rejected(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**arguments)  # type: ignore[arg-type]


def test_the_seeds_event_is_watched_with_the_models_phase() -> None:
    model, stopper = Model(), EarlyStopping("loss", patience=1, phase="evaluation")
    model.phase = "evaluation"

    for value in (1.0, 2.0):
        stopper.consume(LegacyValidated(model, None, [LegacyMetric("loss", value)]))

    assert _stop(model) is not None


@pytest.mark.parametrize("commits", [True, False], ids=["onepoch-commits", "service-commits"])
def test_two_early_stoppings_stopping_together_leave_no_stop_for_the_next_fit(
    commits: bool,
) -> None:
    training = Training()
    training.producer.register(EarlyStopping("loss", patience=1), EarlyStopping("loss", patience=1))
    model = Classifier(lr=0.0, commits=commits)
    assert training.fit(model, loaders(), epochs=10) == 2

    assert Training().fit(model, loaders(), epochs=6) == 4
    assert model.epoch == 6


@pytest.mark.parametrize("commits", [True, False], ids=["onepoch-commits", "service-commits"])
def test_fit_stops_at_the_epoch_boundary_when_the_loss_plateaus(commits: bool) -> None:
    training = Training()
    training.producer.register(EarlyStopping("loss", patience=2))
    model = Classifier(lr=0.0, commits=commits)  # learns nothing: the loss plateaus

    ran = training.fit(model, loaders(), epochs=10)

    assert ran == 3  # best at epoch 1, no improvement at 2 and 3
    assert model.epoch == 3


def test_fit_stops_after_the_phases_of_the_stopping_epoch_ran() -> None:
    training, phases = Training(), []
    training.producer.register(EarlyStopping("loss", patience=1))

    def record(event: Trained | Validated) -> None:
        phases.append((event.phase, event.epoch))

    recorder = Consumer()
    recorder.register(Trained | Validated, record)
    training.producer.register(recorder)

    training.fit(Classifier(lr=0.0), loaders(), epochs=10)

    assert phases == [("train", 1), ("validation", 1), ("train", 2), ("validation", 2)]


# --- state_dict / load_state_dict: saved and restored with a checkpoint -------------------


def test_the_state_holds_the_best_value_and_count_per_model_id() -> None:
    stopper = EarlyStopping("loss", patience=5)
    _feed(stopper, Model(), "loss", [0.5, 0.4, 0.45, 0.46])

    assert stopper.state_dict() == {"records": {"model": {"best": 0.4, "waited": 2}}}
    assert stopper.state_dict(model_id="model") == stopper.state_dict()
    assert stopper.state_dict(model_id="other") == {"records": {}}


def test_a_restored_record_is_taken_by_the_model_when_its_metrics_arrive() -> None:
    saved = EarlyStopping("loss", patience=3)
    _feed(saved, Model(), "loss", [0.5, 0.4, 0.45])
    restored = EarlyStopping("loss", patience=3)
    restored.load_state_dict(saved.state_dict())
    model = Model()

    restored.consume(_validated(model, 4, loss=0.47))
    fourth = _stop(model)
    restored.consume(_validated(model, 5, loss=0.47))
    fifth = _stop(model)

    assert fourth is None
    assert fifth is not None  # three epochs without improvement, one before the restore
    assert restored.best(model) == 0.4


def test_a_loaded_record_replaces_the_record_of_a_model_already_seen() -> None:
    stopper = EarlyStopping("loss", patience=3)
    model = Model()
    _feed(stopper, model, "loss", [0.9])

    stopper.load_state_dict({"records": {"model": {"best": 0.2, "waited": 1}}})

    assert stopper.best(model) == 0.2
    assert stopper.state_dict() == {"records": {"model": {"best": 0.2, "waited": 1}}}


def test_a_state_of_another_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"EarlyStopping.load_state_dict takes what "
                       r"state_dict\(\) returns"):
        EarlyStopping().load_state_dict({"best": 0.1})


def test_a_resumed_run_is_not_warned_about_an_unseen_phase(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopper = EarlyStopping("loss", patience=3)
    model = Model()

    stopper.consume(Trained(model, "train", 8, (Metric("loss", 0.3),)))
    stopper.consume(_validated(model, 8, loss=0.3))

    assert "watches phase" not in caplog.text
