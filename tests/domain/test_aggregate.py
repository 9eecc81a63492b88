"""``Aggregate``: an ``nn.Module`` that is the root of a training aggregate."""

import copy
import io
import pickle

import pytest
import torch
from torch import nn

from torchsystem import Aggregate as RootAggregate
from torchsystem.domain import Aggregate, Event, Events
from torchsystem.domain.aggregate import EVALUATION_PHASES, TRAINING_PHASES, trains


class Classifier(Aggregate):
    def __init__(self) -> None:
        super().__init__()
        self.nn = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        self.criterion = nn.CrossEntropyLoss()
        self.phases: list[str] = []
        self.epochs: list[int] = []

    @property
    def id(self) -> str:
        return "classifier-1"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.nn(inputs)

    def onphase(self) -> None:
        self.phases.append(self.phase)

    def onepoch(self) -> None:
        self.epochs.append(self.epoch)


class EarlyStopping(Aggregate):
    """torchsystem 1.3's pattern: ``onepoch`` commits, raising an enqueued ``StopIteration``."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = nn.Linear(2, 2)

    @property
    def id(self) -> str:
        return "early-stopping"

    def onepoch(self) -> None:
        self.events.commit()


def test_root_package_exports_the_same_aggregate() -> None:
    assert RootAggregate is Aggregate


def test_aggregate_is_an_nn_module() -> None:
    classifier = Classifier()

    moved = classifier.to(torch.float64)

    assert moved is classifier
    assert classifier.nn[0].weight.dtype == torch.float64
    assert [name for name, _ in classifier.named_children()] == ["nn", "criterion"]


def test_aggregate_registers_its_submodules_and_parameters() -> None:
    classifier = Classifier()

    parameters = {id(p) for p in classifier.parameters()}

    assert {id(p) for p in classifier.nn.parameters()} <= parameters
    assert "nn.0.weight" in classifier.state_dict()


def test_aggregate_forward_runs_through_call() -> None:
    classifier = Classifier()
    classifier.phase = "evaluation"

    output = classifier(torch.zeros(3, 4))

    assert output.shape == (3, 2)


def test_aggregate_has_events_from_init() -> None:
    class Bare(Aggregate):
        pass

    aggregate, seen = Bare(), []
    aggregate.events.handlers[KeyError] = lambda: seen.append("handled")
    aggregate.events.enqueue(KeyError)
    aggregate.events.commit()

    assert type(aggregate.events) is Events
    assert seen == ["handled"]


def test_aggregates_have_their_own_events() -> None:
    first, second = Classifier(), Classifier()

    assert first.events is not second.events


def test_deep_copy_has_its_own_event_queue() -> None:
    model = EarlyStopping()
    snapshot = copy.deepcopy(model)

    snapshot.events.enqueue(StopIteration)

    assert list(model.events.queue) == []
    with pytest.raises(StopIteration):
        snapshot.epoch = 1


def test_saved_and_loaded_aggregate_has_its_own_event_queue() -> None:
    model = EarlyStopping()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)

    loaded.events.enqueue(StopIteration)

    assert list(model.events.queue) == []
    with pytest.raises(StopIteration):
        loaded.epoch = 1


def test_id_is_provided_by_the_subclass_property() -> None:
    assert Classifier().id == "classifier-1"


def test_id_missing_in_subclass_raises_when_read() -> None:
    class Anonymous(Aggregate):
        pass

    with pytest.raises(NotImplementedError, match=r"Anonymous has no id: define `id`"):
        _ = Anonymous().id


def test_id_may_be_assigned_on_the_instance() -> None:
    class Assigned(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.id = "assigned-1"

    assert Assigned().id == "assigned-1"


def test_phase_is_train_for_a_new_aggregate() -> None:
    assert Classifier().phase == "train"


def test_setting_phase_to_evaluation_switches_every_submodule_to_eval_mode() -> None:
    classifier = Classifier()

    classifier.phase = "evaluation"

    assert classifier.phase == "evaluation"
    assert all(not module.training for module in classifier.modules())


def test_setting_phase_to_train_switches_every_submodule_to_train_mode() -> None:
    classifier = Classifier()
    classifier.phase = "evaluation"

    classifier.phase = "train"

    assert classifier.phase == "train"
    assert all(module.training for module in classifier.modules())


def test_phase_reflects_eval_and_train_calls() -> None:
    classifier = Classifier()

    classifier.eval()
    assert classifier.phase == "evaluation"
    classifier.train()
    assert classifier.phase == "train"


def test_evaluation_phase_makes_dropout_deterministic() -> None:
    torch.manual_seed(0)
    classifier = Classifier()
    classifier.phase = "evaluation"
    inputs = torch.ones(16, 4)

    assert torch.equal(classifier(inputs), classifier(inputs))


def test_setting_phase_calls_onphase_after_the_switch() -> None:
    classifier = Classifier()

    classifier.phase = "evaluation"
    classifier.phase = "train"
    classifier.phase = "train"

    assert classifier.phases == ["evaluation", "train", "train"]


def test_first_epoch_assignment_does_not_call_onepoch() -> None:
    classifier = Classifier()

    classifier.epoch = 0

    assert classifier.epochs == []
    assert classifier.epoch == 0


def test_later_epoch_assignments_call_onepoch_with_the_new_value() -> None:
    classifier = Classifier()
    classifier.epoch = 0

    classifier.epoch = 1
    classifier.epoch += 1
    classifier.epoch = 2

    assert classifier.epochs == [1, 2, 2]


def test_epoch_set_in_init_does_not_call_onepoch() -> None:
    calls: list[int] = []

    class Counting(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 10

        def onepoch(self) -> None:
            calls.append(self.epoch)

    aggregate = Counting()
    aggregate.epoch = 11

    assert calls == [11]


def test_enqueued_stop_iteration_is_raised_by_the_next_epoch() -> None:
    model = EarlyStopping()
    model.epoch = 1
    model.events.enqueue(StopIteration)

    with pytest.raises(StopIteration):
        model.epoch = 2


def test_epoch_is_updated_before_onepoch_raises() -> None:
    model = EarlyStopping()
    model.events.enqueue(StopIteration)

    with pytest.raises(StopIteration):
        model.epoch += 1
    assert model.epoch == 1


def test_training_loop_stops_at_the_epoch_stop_iteration_was_enqueued() -> None:
    model = EarlyStopping()
    finished: list[int] = []

    def train_until_stopped() -> None:
        for epoch in range(1, 100):
            if epoch == 3:
                model.events.enqueue(StopIteration)
            finished.append(epoch)
            model.epoch = epoch

    with pytest.raises(StopIteration):
        train_until_stopped()
    assert finished == [1, 2, 3]


def test_aggregate_event_handlers_registered_in_init_run_on_commit() -> None:
    calls: list[str] = []

    class Saved(Exception):
        pass

    class Handling(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.events.handlers[Saved] = lambda: calls.append("saved handled")

    aggregate = Handling()
    aggregate.events.enqueue(Saved)
    aggregate.events.commit()

    assert calls == ["saved handled"]


@pytest.mark.parametrize("name", sorted(TRAINING_PHASES))
def test_every_training_name_sets_train_mode(name: str) -> None:
    classifier = Classifier()
    classifier.phase = "evaluation"

    classifier.phase = name

    assert classifier.phase == "train"
    assert all(module.training for module in classifier.modules())


@pytest.mark.parametrize("name", sorted(EVALUATION_PHASES))
def test_every_evaluation_name_sets_eval_mode(name: str) -> None:
    classifier = Classifier()

    classifier.phase = name

    assert classifier.phase == "evaluation"
    assert not any(module.training for module in classifier.modules())


@pytest.mark.parametrize("name", ["trian", "Train", "training-set", "valid", ""])
def test_an_unknown_phase_is_refused_and_changes_nothing(name: str) -> None:
    classifier = Classifier()

    with pytest.raises(ValueError, match=rf"unknown phase {name!r}; use one of: eval, evaluation"):
        classifier.phase = name

    assert classifier.phase == "train"
    assert classifier.phases == []


def test_trains_names_exactly_the_training_phase() -> None:
    assert [trains(name) for name in ("train", "training", "train-eval", "trainval", "test")] == [
        True, True, False, False, False,
    ]


class Noted(Event):
    def __init__(self, note: str) -> None:
        self.note = note


def _with_queue() -> EarlyStopping:
    model = EarlyStopping()
    model.events.enqueue(Noted("first"))
    model.events.enqueue(StopIteration("plateau"))
    return model


def _check_queue(copied: EarlyStopping, original: EarlyStopping) -> None:
    """The copy holds equal queued items in its own queue, delivered to its own handlers."""
    assert copied.events is not original.events
    queued = list(copied.events.queue)
    assert [type(item) for item in queued] == [Noted, StopIteration]
    assert (queued[0].note, queued[1].args) == ("first", ("plateau",))
    notes: list[str] = []
    copied.events.handlers[Noted] = lambda event: notes.append(event.note)
    with pytest.raises(StopIteration, match="plateau"):
        copied.epoch = 1
    assert notes == ["first"]
    assert len(original.events.queue) == 2


def test_a_deep_copy_keeps_the_queued_events() -> None:
    model = _with_queue()

    _check_queue(copy.deepcopy(model), model)


def test_a_pickled_aggregate_keeps_the_queued_events() -> None:
    model = _with_queue()

    _check_queue(pickle.loads(pickle.dumps(model)), model)


def test_a_saved_aggregate_keeps_the_queued_events() -> None:
    model = _with_queue()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)

    _check_queue(torch.load(buffer, weights_only=False), model)
