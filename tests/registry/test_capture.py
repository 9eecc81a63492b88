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


# --- subclasses of a registered class ---------------------------------------------------------


@register
class Backbone:
    def __init__(self, width: int, depth: int = 2) -> None:
        self.width = width


def test_an_unregistered_subclass_records_its_own_arguments() -> None:
    from torchsystem.registry import gethash

    class DropoutBackbone(Backbone):
        def __init__(self, width: int, p: float = 0.5) -> None:
            super().__init__(width, depth=3)
            self.p = p

    low, high = DropoutBackbone(64, p=0.1), DropoutBackbone(64, p=0.9)

    assert getarguments(low) == {"width": 64, "p": 0.1}
    assert getname(low) == "DropoutBackbone"
    assert gethash(low) != gethash(high)
    assert gethash(low) == gethash(DropoutBackbone(p=0.1, width=64))
    assert getarguments(Backbone(64)) == {"width": 64, "depth": 2}


def test_subclasses_at_any_depth_record_their_own_arguments() -> None:
    class Wide(Backbone):
        def __init__(self, width: int) -> None:
            super().__init__(width * 2)

    class Wider(Wide):
        def __init__(self, width: int, factor: int) -> None:
            super().__init__(width * factor)

    class Same(Wider):
        pass

    assert getarguments(Wide(3)) == {"width": 3}
    assert getarguments(Wider(3, 4)) == {"width": 3, "factor": 4}
    assert getarguments(Same(3, 4)) == {"width": 3, "factor": 4}
    assert getname(Same(3, 4)) == "Same"


def test_subclasses_defined_before_the_registration_are_followed_too() -> None:
    class Base:
        def __init__(self, width: int) -> None:
            pass

    class Child(Base):
        def __init__(self, width: int, extra: str) -> None:
            super().__init__(width)

    class Grandchild(Child):
        def __init__(self, extra: str) -> None:
            super().__init__(1, extra)

    register(Base)

    assert getarguments(Child(2, "x")) == {"width": 2, "extra": "x"}
    assert getarguments(Grandchild("y")) == {"extra": "y"}


def test_a_subclass_leaves_out_what_its_registered_base_leaves_out() -> None:
    class Block:
        def __init__(self, width: int, activation: Any, device: str = "cpu") -> None:
            pass

    register(Block, excluded_args=[1], excluded_kwargs={"device"})

    class Sized(Block):
        def __init__(self, width: int, activation: Any, device: str, name: str) -> None:
            super().__init__(width, activation, device)

    class Passing(Block):
        def __init__(self, width: int, seed: int = 0, **options: Any) -> None:
            super().__init__(width, **options)

    assert getarguments(Sized(1, object(), "cuda", "a")) == {"width": 1, "name": "a"}
    assert getarguments(Passing(1, activation=None, device="cuda", seed=3)) == {
        "width": 1, "seed": 3,
    }


def test_an_explicitly_registered_subclass_keeps_its_own_options() -> None:
    @register("deep", excluded_kwargs={"note"})
    class Deep(Backbone):
        def __init__(self, width: int, note: str = "") -> None:
            super().__init__(width, depth=8)

    assert (getname(Deep(4, "x")), getarguments(Deep(4, "x"))) == ("deep", {"width": 4})


def test_the_base_init_subclass_still_runs_with_its_keywords() -> None:
    seen: list[tuple[str, Any]] = []

    class Plugin:
        def __init_subclass__(cls, /, kind: str = "plain", **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            seen.append((cls.__name__, kind))

        def __init__(self, width: int) -> None:
            pass

    register(Plugin)

    class Special(Plugin, kind="special"):
        def __init__(self, height: int) -> None:
            super().__init__(height)

    class Bare(Plugin):
        def __init__(self, height: int) -> None:
            super().__init__(height)

    assert seen == [("Special", "special"), ("Bare", "plain")]
    assert getarguments(Special(2)) == {"height": 2}


def test_a_subclass_whose_init_has_no_signature_is_still_defined() -> None:
    class Builtin(Backbone):
        __init__ = max  # type: ignore[assignment]  # no readable signature

    assert Builtin.__init__ is max


# --- snapshots of mutable arguments ------------------------------------------------------------


def test_mutable_arguments_of_any_container_type_are_snapshots() -> None:
    import collections

    class Layers(list[int]):
        pass

    Pair = collections.namedtuple("Pair", "left right")
    point = register(make_point())
    ordered = collections.OrderedDict([("b", [1]), ("a", 2)])
    tags, layers = {"x"}, Layers([1, 2])
    counts = collections.defaultdict(list, {"k": [1]})
    pair = Pair([1], 2)
    first = point((ordered, tags, layers), (counts, pair))

    ordered["c"] = 3
    ordered["b"].append(9)
    tags.add("y")
    layers.append(3)
    counts["k"].append(2)
    pair.left.append(5)

    (kept_ordered, kept_tags, kept_layers), (kept_counts, kept_pair) = getarguments(first).values()
    assert kept_ordered == collections.OrderedDict([("b", [1]), ("a", 2)])
    assert type(kept_ordered) is collections.OrderedDict
    assert kept_tags == {"x"}
    assert (type(kept_layers), kept_layers) == (Layers, [1, 2])
    assert (type(kept_counts), kept_counts) == (collections.defaultdict, {"k": [1]})
    assert (type(kept_pair), kept_pair) == (Pair, ([1], 2))


def test_a_container_that_refuses_a_copy_is_kept_as_its_plain_base() -> None:
    class Fixed(dict[str, int]):
        def __reduce_ex__(self, protocol: Any) -> Any:
            raise TypeError("no copies")

    point = register(make_point())
    table = Fixed(a=1)
    recorded = point(table)
    table["b"] = 2

    assert (type(getarguments(recorded)["x"]), getarguments(recorded)["x"]) == (dict, {"a": 1})


def test_a_self_referencing_argument_is_recorded_and_refused_by_the_hash_only() -> None:
    from torchsystem.registry import gethash

    point = register(make_point())
    looped: list[Any] = [1]
    looped.append(looped)

    recorded = point(looped)
    copied = getarguments(recorded)["x"]

    assert copied[1] is copied
    assert copied is not looped
    with pytest.raises(TypeError, match=r"argument 'x\[1\]' of Point cannot be hashed: "
                       r"the list contains itself"):
        gethash(recorded)


def test_a_tuple_subclass_without_make_is_kept_as_a_tuple_and_sets_as_sets() -> None:
    class Pair(tuple[int, ...]):
        pass

    class Tags(frozenset[str]):
        pass

    point = register(make_point())
    recorded = getarguments(point(Pair((1, 2)), [frozenset({"a"}), Tags({"b"}), {"c"}]))

    assert (type(recorded["x"]), recorded["x"]) == (tuple, (1, 2))
    plain, tags, mutable = recorded["y"]
    assert (type(plain), type(tags), type(mutable)) == (frozenset, Tags, set)
    assert (plain, tags, mutable) == ({"a"}, {"b"}, {"c"})


def test_a_set_that_refuses_a_copy_is_kept_as_a_set() -> None:
    class Fixed(set[str]):
        def __reduce_ex__(self, protocol: Any) -> Any:
            raise TypeError("no copies")

    point = register(make_point())
    tags = Fixed({"a"})
    recorded = point(tags)
    tags.add("b")

    assert (type(getarguments(recorded)["x"]), getarguments(recorded)["x"]) == (set, {"a"})


def test_a_registered_subclass_keeps_the_init_subclass_of_its_own_bases() -> None:
    seen: list[str] = []

    class Plugin:
        def __init_subclass__(cls, /, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            seen.append(cls.__name__)

    @register
    class Model(Plugin):
        def __init__(self, width: int) -> None:
            pass

    class Wide(Model):
        def __init__(self, width: int, factor: int) -> None:
            super().__init__(width * factor)

    assert seen == ["Model", "Wide"]
    assert getarguments(Wide(2, 3)) == {"width": 2, "factor": 3}


def test_registering_again_does_not_stack_subclass_hooks() -> None:
    point = register(make_point())
    hook = point.__dict__["__init_subclass__"]

    register(point)
    register("renamed")(point)

    assert point.__dict__["__init_subclass__"] is hook


def test_a_subclass_without_a_base_excluded_parameter_is_still_captured() -> None:
    class Block:
        def __init__(self, width: int, activation: Any = None) -> None:
            pass

    register(Block, excluded_kwargs={"activation"})

    class Narrow(Block):
        def __init__(self, size: int) -> None:
            super().__init__(size * 2)

    assert getarguments(Narrow(3)) == {"size": 3}


def test_a_subclass_without_its_own_init_is_left_as_it_is() -> None:
    class Same(Backbone):
        pass

    assert "__init__" not in Same.__dict__
    assert getarguments(Same(4)) == {"width": 4, "depth": 2}


def test_a_call_the_signature_cannot_bind_is_reported() -> None:
    import inspect

    def loose(self: Any, *args: Any) -> None:
        pass

    loose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    point = register(type("Loose", (), {"__init__": loose}))

    with pytest.raises(TypeError, match=r"cannot record the arguments of .*Loose: too many "
                       r"positional arguments"):
        point(1, 2)
    assert getarguments(point(1)) == {"x": 1}


def test_only_modules_are_added_to_the_torch_safe_globals() -> None:
    plain = register(make_point())

    assert plain not in torch.serialization.get_safe_globals()
