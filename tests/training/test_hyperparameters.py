"""``torchsystem.training.hyperparameters``: what a run is trained with, as plain JSON."""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from tests.training._models import MLP, Classifier
from torchsystem import Aggregate
from torchsystem.registry import register
from torchsystem.training import Metric, TensorLoader
from torchsystem.training.hyperparameters import (
    arguments,
    hyperparameters,
    jsonable,
    learning_rates,
    optimizers,
)


@register
class Whole(Aggregate):
    """A registered aggregate: its own arguments describe it."""

    def __init__(self, width: int = 4, note: str = "x") -> None:
        super().__init__()
        self.nn = MLP(width, 2)


class Unserialisable:
    pass


@register
class Odd(nn.Module):
    def __init__(self, thing: object) -> None:
        super().__init__()


class TwoOptimizers(Aggregate):
    def __init__(self) -> None:
        super().__init__()
        self.generator, self.critic = nn.Linear(2, 2), nn.Linear(2, 1)
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=0.1)
        self.optimizer_d = torch.optim.SGD([
            {"params": self.critic.weight}, {"params": self.critic.bias, "lr": 0.3}], lr=0.2)


def test_the_arguments_of_each_registered_part() -> None:
    assert arguments(Classifier()) == {
        "nn": {"name": "MLP", "arguments": {"in_features": 8, "out_features": 2}}}


def test_a_registered_aggregate_is_described_by_its_own_arguments() -> None:
    assert arguments(Whole(6)) == {"width": 6, "note": "x"}


def test_a_part_whose_arguments_cannot_be_serialised_keeps_its_name() -> None:
    class Holder(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self.odd = Odd(Unserialisable())

    assert arguments(Holder()) == {"odd": {"name": "Odd"}}


def test_every_optimizer_and_param_group_is_found() -> None:
    model = TwoOptimizers()

    assert list(optimizers(model)) == ["optimizer_g", "optimizer_d"]
    settings = hyperparameters(model)
    assert settings["optimizer_g"]["class"] == "Adam"
    assert settings["optimizer_g"]["param_groups"][0]["betas"] == [0.9, 0.999]
    assert [group["lr"] for group in settings["optimizer_d"]["param_groups"]] == [0.2, 0.3]
    assert learning_rates(model) == (
        Metric("optimizer_g.lr", 0.1), Metric("optimizer_d.lr.0", 0.2),
        Metric("optimizer_d.lr.1", 0.3))


def test_schedulers_seed_epochs_and_batch_sizes() -> None:
    model = Classifier()
    model.scheduler = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.1)
    loader = TensorLoader(torch.zeros(8, 2), torch.zeros(8), batch_size=4)
    torch.manual_seed(11)

    settings = hyperparameters(model, [("train", loader), ("test", [1, 2])], epochs=7)

    assert settings["scheduler"] == {"class": "StepLR", "step_size": 2, "gamma": 0.1}
    assert (settings["seed"], settings["epochs"], settings["batch_size"]) == (
        11, 7, {"train": 4})


def test_without_loaders_or_epochs_there_is_no_such_entry() -> None:
    assert set(hyperparameters(Classifier())) == {"model", "optimizer", "seed"}


def test_everything_is_plain_json() -> None:
    value = {"t": torch.tensor(0.5), "n": math.inf, "x": (1, [2, None]), 3: object}

    copied = jsonable(value)

    assert copied == {"t": 0.5, "n": "inf", "x": [1, [2, None]], "3": repr(object)}
    settings = hyperparameters(TwoOptimizers())
    assert json.loads(json.dumps(settings, allow_nan=False)) == settings


def test_a_model_without_a_dict_has_nothing_but_the_seed() -> None:
    assert hyperparameters(object(), epochs=1) == {
        "model": {}, "seed": torch.initial_seed(), "epochs": 1}
    assert learning_rates(object()) == ()


def test_a_private_optimizer_attribute_counts_but_a_private_part_does_not() -> None:
    class Private(Aggregate):
        def __init__(self) -> None:
            super().__init__()
            self._net = MLP(3, 1)
            self._optimizer = torch.optim.SGD(self._net.parameters(), lr=0.7)

    model = Private()

    assert learning_rates(model) == (Metric("lr", 0.7),)
    assert hyperparameters(model)["model"] == {}
