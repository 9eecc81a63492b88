"""``register``: what instances record, for plain classes and ``nn.Module`` subclasses."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from tests.registry._models import MLP, Perceptron
from torchsystem import registry
from torchsystem.registry import getarguments, getname, register


def make_point() -> type:
    class Point:
        def __init__(self, x: int, y: int = 2) -> None:
            self.x = x
            self.y = y

    return Point


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2), {}), ((1,), {"y": 2}), ((), {"y": 2, "x": 1}), ((1,), {})],
)
def test_arguments_are_bound_to_the_signature_with_defaults(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    point = register(make_point())(*args, **kwargs)
    assert getarguments(point) == {"x": 1, "y": 2}
    assert list(getarguments(point)) == ["x", "y"]


def test_register_returns_the_class_itself_in_every_form() -> None:
    forms = [
        lambda cls: register(cls),
        lambda cls: register("point")(cls),
        lambda cls: register(name="point")(cls),
        lambda cls: register()(cls),
        lambda cls: registry.register(cls, excluded_kwargs={"y"}),
    ]
    for form in forms:
        cls = make_point()
        assert form(cls) is cls
        assert isinstance(cls(1), cls)


def test_custom_name_is_stored_on_the_instance() -> None:
    named = register("point")(make_point())(1)
    keyword = register(name="dot")(make_point())(1)
    plain = register(make_point())(1)
    assert (getname(named), named.__model__name__) == ("point", "point")
    assert getname(keyword) == "dot"
    assert getname(plain) == "Point"
    assert "__model__name__" not in vars(plain)
    assert vars(plain)["__model__arguments__"] == {"x": 1, "y": 2}


def test_two_names_are_refused() -> None:
    with pytest.raises(TypeError, match=r"two names, 'a' and name='b'"):
        register("a", name="b")


def test_only_classes_can_be_registered() -> None:
    with pytest.raises(TypeError, match="register expects a class, got 42"):
        register(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="register expects a class"):
        register("name")(len)  # type: ignore[type-var]


def test_excluded_args_and_kwargs_are_not_recorded() -> None:
    class Loss:
        def __init__(self, weight: Any, reduction: str = "mean", *, smoothing: float = 0.0):
            pass

    register(Loss, excluded_args=[0], excluded_kwargs={"smoothing"})
    assert getarguments(Loss([1.0], smoothing=0.1)) == {"reduction": "mean"}
    assert getarguments(Loss(weight=[1.0], reduction="sum")) == {"reduction": "sum"}


def test_excluded_options_are_checked_at_registration() -> None:
    with pytest.raises(ValueError, match=r"excluded_args \[2\] .*Point are out of range.*x, y"):
        register(make_point(), excluded_args=[2])
    with pytest.raises(ValueError, match=r"excluded_kwargs \['z'\] are not parameters.*x, y"):
        register(make_point(), excluded_kwargs={"z"})
    with pytest.raises(TypeError, match=r"collection of str, got 'y'"):
        register(make_point(), excluded_kwargs="y")


def test_var_positional_is_a_list_and_var_keyword_is_merged() -> None:
    @register(excluded_kwargs={"secret"})
    class Stack:
        def __init__(self, first: int, *layers: int, **options: Any) -> None:
            pass

    assert getarguments(Stack(1, 2, 3, depth=4, secret="x")) == {
        "first": 1,
        "layers": [2, 3],
        "depth": 4,
    }
    assert getarguments(Stack(1)) == {"first": 1, "layers": []}


def test_a_keyword_colliding_with_the_var_positional_name_is_refused() -> None:
    @register
    class Stack:
        def __init__(self, *layers: int, **options: Any) -> None:
            pass

    with pytest.raises(TypeError, match=r"keyword arguments \['layers'\] that collide"):
        Stack(1, layers=2)


def test_class_without_init_records_nothing() -> None:
    @register
    class Empty:
        pass

    assert getarguments(Empty()) == {}


def test_registered_objects_are_nested_inside_containers() -> None:
    point = register("point")(make_point())
    bare = register(type("Bare", (), {}))

    @register
    class Holder:
        def __init__(self, item: Any, many: list[Any], table: dict[str, Any], pair: Any):
            pass

    nested = {"name": "point", "arguments": {"x": 1, "y": 2}}
    holder = Holder(point(1), [point(1), 3], {"p": point(x=1, y=2)}, (bare(), 4))
    assert getarguments(holder) == {
        "item": nested,
        "many": [nested, 3],
        "table": {"p": nested},
        "pair": ("Bare", 4),
    }


def test_recorded_arguments_are_a_snapshot_of_nested_objects() -> None:
    point = register(make_point())
    inner = point(1)

    @register
    class Holder:
        def __init__(self, item: Any) -> None:
            pass

    holder = Holder(inner)
    vars(inner)["__model__arguments__"]["x"] = 5
    assert getarguments(holder)["item"]["arguments"] == {"x": 1, "y": 2}


def test_most_derived_registered_class_wins() -> None:
    @register("base")
    class Base:
        def __init__(self, width: int, depth: int = 1) -> None:
            pass

    @register
    class Derived(Base):
        def __init__(self, width: int) -> None:
            super().__init__(width, depth=3)

    class Unregistered(Base):
        pass

    assert (getname(Derived(8)), getarguments(Derived(8))) == ("Derived", {"width": 8})
    assert getname(Base(8)) == "base"
    assert getname(Unregistered(8)) == "Unregistered"
    assert getarguments(Unregistered(8)) == {"width": 8, "depth": 1}


def test_subclass_without_own_init_can_be_registered_with_its_own_name() -> None:
    base = register("base")(make_point())
    child = register("child")(type("Child", (base,), {}))
    assert (getname(child(1)), getarguments(child(1))) == ("child", {"x": 1, "y": 2})
    assert getname(base(1)) == "base"


def test_registering_twice_wraps_once_and_keeps_earlier_options() -> None:
    point = make_point()
    original = point.__init__
    register(point, excluded_kwargs={"y"})
    wrapper = point.__init__
    register("renamed")(point)
    assert point.__init__.__wrapped__ is original
    assert point.__init__ is not wrapper
    assert getarguments(point(1)) == {"x": 1}
    assert getname(point(1)) == "renamed"


def test_frozen_dataclass_can_be_registered() -> None:
    @register
    @dataclasses.dataclass(frozen=True)
    class Config:
        lr: float
        epochs: int = 10

    assert getarguments(Config(0.1)) == {"lr": 0.1, "epochs": 10}


def test_module_records_after_init_and_state_dict_is_unchanged() -> None:
    perceptron = Perceptron(3, 2)
    assert getarguments(perceptron) == {"inputs": 3, "outputs": 2, "bias": True}
    assert list(perceptron.state_dict()) == ["weight", "bias", "scale"]
    model = MLP(Perceptron(3, 4), Perceptron(4, 1, bias=False))
    assert list(model.state_dict()) == [
        "hidden.weight",
        "hidden.bias",
        "hidden.scale",
        "output.weight",
        "output.scale",
    ]
    assert getarguments(model)["output"] == {
        "name": "Perceptron",
        "arguments": {"inputs": 4, "outputs": 1, "bias": False},
    }


def test_registered_module_loads_with_weights_only(tmp_path: Any) -> None:
    model = MLP(Perceptron(3, 4), Perceptron(4, 1), dropout=0.1)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=True)
    assert type(loaded) is MLP
    assert getname(loaded) == "mlp"
    assert getarguments(loaded) == getarguments(model)
    assert torch.equal(loaded.hidden.weight, model.hidden.weight)


def test_registering_a_module_adds_it_to_torch_safe_globals() -> None:
    class Head(nn.Module):
        pass

    assert Head not in torch.serialization.get_safe_globals()
    register(Head)
    assert Head in torch.serialization.get_safe_globals()
