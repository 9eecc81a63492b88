"""What ``Training`` accepts: phases, loaders, batches, losses, metrics and epochs."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, data, loaders, recorder
from torchsystem import Aggregate
from torchsystem.consumers import EarlyStopping
from torchsystem.training import (
    Accuracy,
    Iterated,
    Metric,
    Stepped,
    Trained,
    Training,
    Validated,
)


class Recording(Aggregate):
    """Records the arguments of each ``fit``/``evaluate`` call and answers ``answer``."""

    id = "recording"

    def __init__(self, answer: Any = None) -> None:
        super().__init__()
        self.epoch, self.nn = 0, nn.Linear(1, 1)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answer = answer

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("fit", args, kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("evaluate", args, kwargs)

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append((method, args, kwargs))
        if self.answer is not None:
            return self.answer(*args, **kwargs)
        return torch.tensor(float(len(self.calls)))


def _weights(model: nn.Module) -> list[Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


def _changed(before: list[Tensor], model: nn.Module) -> bool:
    return not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def _values(metrics: tuple[Metric, ...]) -> dict[str, float]:
    return {metric.name: metric.value for metric in metrics}


# --- phases ------------------------------------------------------------------------------


def test_a_loader_named_training_trains() -> None:
    training, model = Training(), Classifier()
    seen, before = recorder(training.producer), _weights(model)

    results = training.fit(model, {"training": loaders()[0][1]}, 3)

    assert results == 3
    assert _changed(before, model)
    assert [(e.phase, e.epoch) for e in seen if isinstance(e, Trained)] == [
        ("train", 1), ("train", 2), ("train", 3),
    ]
    assert not any(isinstance(e, Validated) for e in seen)


def test_the_training_phase_is_reported_as_train() -> None:
    results = Training().iterate(Classifier(), [("training", loaders()[0][1])])

    assert list(results) == ["train"]


@pytest.mark.parametrize("phase", ["train-eval", "trainval", "training-set", "Train"])
def test_a_phase_that_merely_starts_with_train_evaluates(phase: str) -> None:
    training, model = Training(), Recording()
    seen = recorder(training.producer)
    train, other = loaders()[0][1], loaders()[1][1]

    training.iterate(model, [("train", train), (phase, other)])

    assert [method for method, _, _ in model.calls] == ["fit"] * 4 + ["evaluate"] * 2
    measured = [(type(e).__name__, e.phase) for e in seen if isinstance(e, (Trained, Validated))]
    assert measured == [("Trained", "train"), ("Validated", phase)]


def test_an_epoch_without_a_training_phase_is_refused() -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    with pytest.raises(ValueError, match="an epoch needs a training phase") as raised:
        training.fit(model, [("trian", loaders()[0][1]), ("validation", loaders()[1][1])], 3)

    assert str(raised.value) == (
        "an epoch needs a training phase, but the loaders' phases are ['trian', 'validation']; "
        "name the training loader 'train'"
    )

    assert (seen, model.epoch) == ([], 0)


@pytest.mark.parametrize("phase", ["train", "training"])
def test_validate_refuses_the_name_of_the_training_phase(phase: str) -> None:
    with pytest.raises(ValueError, match=f"phase '{phase}' names the training phase"):
        Training().validate(Classifier(), loaders()[1][1], phase=phase)


def test_two_loaders_for_the_training_phase_are_refused() -> None:
    train = loaders()[0][1]

    with pytest.raises(ValueError, match="two loaders for the phase 'train'") as raised:
        Training().iterate(Classifier(), [("train", train), ("training", train)])

    assert str(raised.value) == (
        "two loaders for the phase 'train' (train and training both name it); "
        "give each loader its own phase name"
    )


def test_two_loaders_for_one_evaluation_phase_are_refused() -> None:
    train, validation = loaders()[0][1], loaders()[1][1]

    with pytest.raises(ValueError, match="two loaders for the phase 'validation'") as raised:
        Training().iterate(
            Classifier(), [("train", train), ("validation", validation), ("validation", train)]
        )

    assert str(raised.value) == (
        "two loaders for the phase 'validation'; give each loader its own phase name"
    )


def test_early_stopping_reads_training_as_train() -> None:
    assert EarlyStopping("loss", phase="training").phase == "train"


# --- loaders -----------------------------------------------------------------------------


def test_a_bare_loader_is_refused_without_printing_its_data() -> None:
    loader = loaders()[0][1]

    with pytest.raises(TypeError) as raised:
        Training().fit(Classifier(), loader, 3)  # type: ignore[arg-type]

    message = str(raised.value)
    assert message == (
        "loaders must be a list of (phase, loader) pairs or a mapping phase -> loader, "
        "got a TensorLoader; for one loader pass [('train', loader)]"
    )
    assert loader.epoch == 0  # not iterated to find out


def test_a_list_of_batches_is_refused_by_describing_the_first() -> None:
    inputs, target = data(32)
    batches = [(inputs[:16], target[:16]), (inputs[16:], target[16:])]

    with pytest.raises(TypeError) as raised:
        Training().iterate(Classifier(), batches)

    assert str(raised.value) == (
        "loaders must be (phase, loader) pairs, but item 0 is a tuple of 2 (Tensor, Tensor); "
        "for one loader pass [('train', loader)]"
    )


def test_a_generator_of_pairs_is_refused() -> None:
    pairs = (pair for pair in loaders())

    with pytest.raises(TypeError, match="got a generator"):
        Training().fit(Classifier(), pairs, 2)  # type: ignore[arg-type]


def test_pairs_may_be_lists() -> None:
    results = Training().iterate(Classifier(), [["train", loaders()[0][1]]])  # type: ignore[list-item]

    assert list(results) == ["train"]


def test_a_loader_that_yields_nothing_is_described_not_printed() -> None:
    with pytest.raises(ValueError, match="the 'train' loader yielded no batch") as raised:
        Training().train(Classifier(), [])

    assert str(raised.value) == "the 'train' loader yielded no batch (an empty list)"


# --- batches -----------------------------------------------------------------------------


def test_a_pair_is_passed_as_inputs_and_target() -> None:
    model = Recording()
    inputs, target = torch.ones(4, 1), torch.zeros(4)

    Training().train(model, [(inputs, target)])

    ((method, args, kwargs),) = model.calls
    assert (method, len(args), kwargs) == ("fit", 2, {})
    assert args[0] is inputs
    assert args[1] is target


def test_a_longer_tuple_is_spread_and_its_second_item_is_the_target() -> None:
    model = Recording(answer=lambda inputs, target, weights: (target, (weights * 2).sum()))
    batch = (torch.ones(3, 1), torch.tensor([1, 0, 1]), torch.ones(3))
    training = Training(metrics={"accuracy": Accuracy()})

    values = _values(training.train(model, [batch, batch]))

    assert values == {"loss": 6.0, "accuracy": 1.0}
    assert [len(args) for _, args, _ in model.calls] == [3, 3]


def test_a_single_item_batch_is_one_argument() -> None:
    model = Recording(answer=lambda inputs: inputs.sum())

    values = _values(Training().train(model, [(torch.ones(2, 1),), (torch.ones(4, 1),)]))

    assert values == {"loss": pytest.approx((2 * 2 + 4 * 4) / 6)}  # weighted by batch size


def test_a_mapping_is_passed_as_keywords_with_its_tensors_moved() -> None:
    model = Recording(answer=lambda image, label, name: torch.tensor(1.0))
    training = Training()
    batch = {"image": torch.ones(2, 1), "label": torch.zeros(2), "name": "a"}

    training.train(model, [batch], device="meta")

    ((_, args, kwargs),) = model.calls
    assert args == ()
    assert sorted(kwargs) == ["image", "label", "name"]
    assert (kwargs["image"].device.type, kwargs["label"].device.type) == ("meta", "meta")
    assert kwargs["name"] == "a"


def test_a_tensor_batch_is_one_argument_moved_to_the_device() -> None:
    model = Recording(answer=lambda inputs: torch.tensor(0.5))

    Training().train(model, [torch.ones(3, 1)], device="meta")

    ((_, args, _),) = model.calls
    assert len(args) == 1
    assert args[0].device.type == "meta"


def test_items_that_cannot_move_are_passed_as_they_are() -> None:
    model = Recording(answer=lambda inputs, target, names: (target, torch.tensor(1.0)))

    Training().train(model, [(torch.ones(2, 1), torch.zeros(2), ["a", "b"])], device="meta")

    ((_, args, _),) = model.calls
    assert args[2] == ["a", "b"]


def test_metrics_of_mapping_batches_need_the_target_from_the_model() -> None:
    model = Recording(answer=lambda inputs, label: (label, torch.tensor(1.0)))
    training = Training(metrics={"accuracy": Accuracy()})

    with pytest.raises(TypeError, match="metrics need the target of each batch") as raised:
        training.train(model, [{"inputs": torch.ones(2, 1), "label": torch.zeros(2)}])

    assert str(raised.value) == (
        "metrics need the target of each batch, but the batches of this loader are not "
        "(inputs, target, ...): Recording.fit must return (prediction, target, loss)"
    )


def test_a_returned_target_is_what_metrics_compare_with() -> None:
    model = Recording(answer=lambda inputs, label: (label, label, torch.tensor(1.0)))
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(model, [{"inputs": torch.ones(2, 1), "label": torch.zeros(2)}])

    assert _values(results) == {"loss": 1.0, "accuracy": 1.0}


def test_a_returned_target_replaces_the_batchs() -> None:
    model = Recording(answer=lambda inputs, target: (target, 1 - target, torch.tensor(1.0)))
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(model, [(torch.ones(2, 1), torch.zeros(2, dtype=torch.long))])

    assert _values(results)["accuracy"] == 0.0


def test_a_mapping_of_two_is_passed_as_keywords() -> None:
    model = Recording(answer=lambda inputs, label: torch.tensor(1.0))

    Training().train(model, [{"inputs": torch.ones(2, 1), "label": torch.zeros(2)}])

    ((_, args, kwargs),) = model.calls
    assert (args, sorted(kwargs)) == ((), ["inputs", "label"])


def test_a_named_tuple_batch_is_spread_and_its_second_item_is_the_target() -> None:
    from typing import NamedTuple

    class Batch(NamedTuple):
        inputs: Tensor
        target: Tensor

    model = Recording(answer=lambda inputs, target: (target, torch.tensor(1.0)))
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(model, [Batch(torch.ones(3, 1), torch.tensor([1, 0, 1]))])

    assert _values(results) == {"loss": 1.0, "accuracy": 1.0}


class Placed:
    """A batch item already on a device, recording where ``.to`` would send it."""

    def __init__(self, moves: list[Any], where: str = "cpu") -> None:
        self.device, self.moves = torch.device(where), moves

    def to(self, destination: Any, non_blocking: bool = False) -> Placed:
        self.moves.append((destination, non_blocking))
        return self

    def __len__(self) -> int:
        return 2


@pytest.mark.parametrize("size", [2, 3], ids=["pair", "triple"])
def test_items_already_on_the_device_are_not_moved(size: int) -> None:
    moves: list[Any] = []
    model = Recording(answer=lambda *batch: torch.tensor(1.0))

    Training().train(model, [tuple(Placed(moves) for _ in range(size))], device="cpu")

    assert moves == []


def test_items_elsewhere_are_moved_without_blocking() -> None:
    moves: list[Any] = []
    model = Recording(answer=lambda *batch: torch.tensor(1.0))

    Training().train(model, [(Placed(moves, "meta"), Placed(moves, "meta"), 1)], device="cpu")

    assert moves == [(torch.device("cpu"), True)] * 2


def test_the_loss_of_a_batch_weighs_its_number_of_samples() -> None:
    model = Recording(answer=lambda inputs, target: float(len(target)))
    batches = [(torch.ones(1, 1), ["a"] * size) for size in (1, 3)]

    results = Training().train(model, batches)

    assert _values(results) == {"loss": pytest.approx((1 * 1 + 3 * 3) / 4)}


def test_a_batch_of_unknown_size_weighs_one() -> None:
    model = Recording(answer=lambda inputs, target: float(target if target == 1 else len(target)))

    results = Training().train(model, [(object(), ["a", "b", "c"]), (object(), 1)])

    assert _values(results) == {"loss": pytest.approx((3 * 3 + 1 * 1) / 4)}


def test_a_zero_dimensional_target_weighs_one() -> None:
    model = Recording(answer=lambda inputs, target: float(target.mean()))
    batches = [(torch.ones(1), torch.tensor(2.0)), (torch.ones(3), torch.full((3,), 4.0))]

    results = Training().train(model, batches)

    assert _values(results) == {"loss": pytest.approx((2 * 1 + 4 * 3) / 4)}


def test_a_number_loss_with_a_prediction_feeds_the_metrics() -> None:
    model = Recording(answer=lambda inputs, target: (target, 0.5))
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(model, [(torch.ones(2, 1), torch.tensor([1, 0]))])

    assert _values(results) == {"loss": 0.5, "accuracy": 1.0}


def test_a_tuple_of_four_is_refused() -> None:
    model = Recording(answer=lambda inputs, target: (1, 2, 3, torch.tensor(1.0)))

    with pytest.raises(TypeError, match=r"Recording.fit returned a tuple of 4; return loss, "):
        Training().train(model, [(torch.ones(2, 1), torch.zeros(2))])


# --- losses ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [0.25, 1, torch.tensor(0.25, dtype=torch.float64)])
def test_a_loss_may_be_a_number(loss: Any) -> None:
    training = Training()
    seen = recorder(training.producer)
    model = Recording(answer=lambda inputs, target: loss)

    results = training.train(model, [(torch.ones(2, 1), torch.zeros(2))] * 3)

    assert _values(results) == {"loss": pytest.approx(float(loss))}
    assert all(isinstance(e.loss, Tensor) for e in seen if isinstance(e, Stepped))


@pytest.mark.parametrize(
    ("loss", "kind"), [("0.5", "the string '0.5'"), (None, "a NoneType"), (True, "a bool")]
)
def test_a_loss_that_is_not_a_number_is_refused(loss: Any, kind: str) -> None:
    model = Recording(answer=lambda inputs, target: (target, loss))

    with pytest.raises(TypeError, match=f"Recording.fit returned {kind} as the loss; return a "):
        Training().train(model, [(torch.ones(2, 1), torch.zeros(2))])


def test_a_validation_loss_that_is_not_a_number_names_evaluate() -> None:
    model = Recording(answer=lambda inputs, target: "high")

    with pytest.raises(TypeError, match=r"Recording\.evaluate returned the string 'high'"):
        Training().validate(model, [(torch.ones(2, 1), torch.zeros(2))])


# --- metrics -----------------------------------------------------------------------------


def test_a_metric_named_loss_is_refused_when_the_service_is_made() -> None:
    with pytest.raises(ValueError, match="a metric is named 'loss', the name of the mean loss"):
        Training(metrics={"loss": Accuracy()})


def test_a_metric_named_loss_is_refused_when_given_per_call() -> None:
    with pytest.raises(ValueError, match="a metric is named 'loss'"):
        Training().train(Classifier(), loaders()[0][1], {"loss": Accuracy()})


def test_a_collection_reporting_loss_is_refused() -> None:
    class Collection:
        def update(self, prediction: Tensor, target: Tensor) -> None: ...

        def compute(self) -> dict[str, float]:
            return {"loss": 0.0, "recall": 1.0}

        def reset(self) -> None: ...

    with pytest.raises(ValueError, match=r"metrics report \['loss'\] more than once"):
        Training(metrics={"collection": Collection()}).train(Classifier(), loaders()[0][1])


def test_metrics_given_as_an_empty_mapping_replace_the_services() -> None:
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(Classifier(), loaders()[0][1], metrics={})

    assert [metric.name for metric in results] == ["loss"]


def test_metrics_none_uses_the_services() -> None:
    training = Training(metrics={"accuracy": Accuracy()})

    results = training.train(Classifier(), loaders()[0][1], metrics=None)

    assert [metric.name for metric in results] == ["loss", "accuracy"]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([Accuracy()], "metrics must be a mapping name -> metric"),
        ({1: Accuracy()}, "metric names must be strings, got 1"),
        ({"accuracy": 0.5}, "metric 'accuracy' must be a metric .* or a factory .*, got float"),
    ],
)
def test_metrics_that_are_not_metrics_are_refused_when_the_service_is_made(
    metrics: Any, message: str,
) -> None:
    with pytest.raises(TypeError, match=message):
        Training(metrics=metrics)


def test_a_factory_that_makes_no_metric_is_refused() -> None:
    training = Training(metrics={"accuracy": lambda: "accuracy"})

    with pytest.raises(TypeError, match="metric 'accuracy' made the string 'accuracy'") as raised:
        training.train(Classifier(), loaders()[0][1])

    assert str(raised.value) == (
        "the factory of metric 'accuracy' made the string 'accuracy', not a metric "
        "(update/compute/reset)"
    )


# --- epochs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epochs", "got"),
    [("3", "the string '3'"), (3.0, "a float"), (True, "a bool"), (None, "a NoneType")],
)
def test_epochs_that_are_not_an_int_are_refused(epochs: Any, got: str) -> None:
    training, model = Training(), Classifier()
    seen = recorder(training.producer)

    with pytest.raises(TypeError, match=f"epochs must be an int .*, got {got}$"):
        training.fit(model, loaders(), epochs)

    assert (seen, model.epoch) == ([], 0)


def test_negative_epochs_are_refused() -> None:
    with pytest.raises(ValueError, match="epochs must be 0 or more, got -1"):
        Training().fit(Classifier(), loaders(), -1)


def test_an_integer_tensor_is_a_number_of_epochs() -> None:
    model = Classifier()

    assert Training().fit(model, loaders(), torch.tensor(2)) == 2  # type: ignore[arg-type]
    assert model.epoch == 2


def test_a_mapping_of_loaders_serves_every_epoch() -> None:
    training = Training()
    seen = recorder(training.producer)
    phases = {"train": loaders()[0][1]}

    training.fit(Classifier(), phases, 3)

    assert [e.epoch for e in seen if isinstance(e, Iterated)] == [1, 2, 3]


def test_cuda_is_made_concrete_so_batches_there_are_not_moved_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no CUDA device here: stand in for the two calls target_device makes
    from torchsystem.training._phase import target_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)

    assert target_device(None, "cuda") == torch.device("cuda", 2)
    assert target_device(None, "cuda:1") == torch.device("cuda", 1)
    assert target_device(None, "meta") == torch.device("meta")


def test_a_bare_cuda_stays_bare_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchsystem.training._phase import target_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    assert target_device(None, "cuda") == torch.device("cuda")
