"""Commands: names, fields, JSON types and help, read once at registration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest

from torchsystem.interfaces import Application, UnknownCommand
from torchsystem.interfaces.commands import command_name


@dataclass
class TrainModel:
    """Train a model.

    Longer text about training.

    Attributes:
        epochs: most epochs
            to train
        lr (float): the learning rate
    """

    epochs: int = 3
    lr: float = 0.1
    tags: list[str] = field(default_factory=list)
    mode: Literal["fast", "slow"] = "fast"
    note: Annotated[str | None, "kept"] = None


@pytest.mark.parametrize(("name", "expected"), [
    ("Train", "train"), ("TrainModel", "train-model"), ("HTTPServe", "http-serve"),
    ("Fit2Models", "fit2-models"),
])
def test_a_command_is_named_after_its_class(name: str, expected: str) -> None:
    assert command_name(type(name, (), {})) == expected


def test_fields_defaults_and_help_are_read_from_the_class() -> None:
    app = Application()

    @app.command
    def train_model(command: TrainModel) -> int:
        return command.epochs

    spec = app.spec("train-model")
    assert (spec.summary, spec.description) == (
        "Train a model.", "Train a model.\n\nLonger text about training.")
    assert [(f.name, f.default, f.help) for f in spec.fields] == [
        ("epochs", 3, "most epochs to train"), ("lr", 0.1, "the learning rate"),
        ("tags", [], ""), ("mode", "fast", ""), ("note", None, "")]
    assert spec.fields[4].metadata == ("kept",)
    assert spec.build({"epochs": 5}) == TrainModel(epochs=5)


def test_building_with_an_unknown_field_names_it_and_the_known() -> None:
    app = Application()

    @app.command
    def train(command: TrainModel) -> None: ...

    with pytest.raises(TypeError, match=r"command 'train-model' has no field epoch; its "
                                        r"fields: epochs, lr, mode, note, tags"):
        app.spec("train-model").build({"epoch": 5})


@pytest.mark.parametrize(("annotation", "problem"), [
    (set, "set is not a JSON type"),
    (dict[int, str], "JSON object keys are strings"),
    (list[bytes], "bytes is not a JSON type"),
    (Literal[1.5j], r"Literal values \[1.5j\] are not JSON scalars"),
    (int | bytes, "bytes is not a JSON type"),
])
def test_a_field_that_is_not_a_json_type_is_refused_at_registration(
        annotation: Any, problem: str) -> None:
    Bad = dataclass(type("Bad", (), {"__annotations__": {"value": annotation}}))
    app = Application()

    def bad(command: Bad) -> None: ...  # type: ignore[valid-type]

    bad.__annotations__["command"] = Bad
    with pytest.raises(TypeError, match=f"field 'value' of command Bad has type .*: {problem}; "
                                        "a command's fields are JSON types"):
        app.register(bad)


def test_a_handler_without_a_dataclass_first_parameter_is_refused() -> None:
    app = Application()

    def train(epochs: int) -> None: ...

    with pytest.raises(TypeError, match=r"train cannot handle a command: its first parameter "
                                        r"must be annotated with the command's dataclass"):
        app.register(train)


def test_two_handlers_for_one_command_are_refused() -> None:
    app = Application()

    @app.command
    def train(command: TrainModel) -> None: ...

    def again(command: TrainModel) -> None: ...

    with pytest.raises(ValueError, match=r"command 'train-model' \(TrainModel\) is already "
                                         r"handled by .*train"):
        app.register(again)


def test_a_command_can_be_named() -> None:
    app = Application()

    @app.command(name="fit")
    def train(command: TrainModel) -> int:
        return command.epochs

    assert list(app.commands) == ["fit"]
    assert app.execute(TrainModel(epochs=7)) == 7


def test_unknown_names_and_classes_list_what_is_known() -> None:
    app = Application()

    @app.command
    def train(command: TrainModel) -> None: ...

    with pytest.raises(UnknownCommand, match=r"no command 'trian'; known: train-model"):
        app.spec("trian")
    with pytest.raises(UnknownCommand, match=r"no handler for int; commands: TrainModel"):
        app.execute(3)
