"""``Registry``: classes by name, their signatures, and argument recording.

No ``from __future__ import annotations`` here: the signature tests need real annotation
objects (``_future_annotated`` holds the string ones).
"""

import typing
from collections.abc import Callable
from typing import Any, Optional, Union

import pytest
from torch import nn

from tests.registry import _future_annotated
from torchsystem.registry import Registry, getarguments, gethash, getname
from torchsystem.registry.catalog import annotation_name


def test_register_as_decorator_returns_the_class_and_records() -> None:
    models = Registry[nn.Module]()

    @models.register
    class Linear(nn.Module):
        def __init__(self, inputs: int, outputs: int = 1) -> None:
            super().__init__()

    assert models.get("Linear") is Linear
    assert models.keys() == ["Linear"]
    assert getarguments(Linear(3)) == {"inputs": 3, "outputs": 1}
    assert getname(Linear(3)) == "Linear"


def test_register_with_a_name_in_every_form() -> None:
    models = Registry[Any]()

    class A:
        pass

    class B:
        pass

    class C:
        pass

    assert models.register("a")(A) is A
    assert models.register(name="b")(B) is B
    assert models.register(C, name="c") is C
    assert models.keys() == ["a", "b", "c"]
    assert [getname(cls()) for cls in (A, B, C)] == ["a", "b", "c"]
    assert models.types == {"a": A, "b": B, "c": C}


def test_get_and_signature_of_unknown_names_are_none() -> None:
    models = Registry[Any]()
    assert models.get("missing") is None
    assert models.signature("missing") is None


def test_signature_names_annotations() -> None:
    models = Registry[Any]()

    @models.register
    class Model:
        def __init__(
            self,
            width: int,
            dropout: float | None,
            bias: Optional[bool],  # noqa: UP045 - the typing spelling is the point
            mode: Union[int, str],  # noqa: UP007
            layers: list[int],
            act: nn.Module,
            quoted: "nn.Module | None",
            hook: Callable[[int], str],
            pair: tuple[int, ...],
            anything,
        ) -> None:
            pass

    assert models.signature("Model") == {
        "width": "int",
        "dropout": "float | None",
        "bias": "bool | None",
        "mode": "int | str",
        "layers": "list[int]",
        "act": "Module",
        "quoted": "nn.Module | None",
        "hook": "Callable[[int], str]",
        "pair": "tuple[int, ...]",
        "anything": "Any",
    }


def test_signature_of_string_annotations_from_future_import() -> None:
    models = Registry[Any]()
    models.register(_future_annotated.Optimizer)
    assert models.signature("Optimizer") == {
        "lr": "float",
        "momentum": "float | None",
        "nesterov": "Optional[bool]",
        "betas": "tuple[float, float]",
    }


def test_annotation_name_of_typing_forms() -> None:
    assert annotation_name(typing.Literal["a", "b"]) == "Literal['a', 'b']"
    assert annotation_name(typing.Annotated[int, "meta"]) == "int"
    assert annotation_name(None) == "None"
    assert annotation_name(typing.Any) == "Any"


def test_excluded_parameters_are_dropped_from_signature_and_arguments() -> None:
    models = Registry[Any]()

    class Loss:
        def __init__(self, weight: Any, reduction: str = "mean", smoothing: float = 0.0):
            pass

    models.register(Loss, excluded_args=[0], excluded_kwargs={"smoothing"})
    assert models.signature("Loss") == {"reduction": "str"}
    assert getarguments(Loss(nn.ReLU(), smoothing=0.1)) == {"reduction": "mean"}
    assert gethash(Loss(nn.ReLU()))


def test_signature_returns_a_copy() -> None:
    models = Registry[Any]()

    @models.register
    class Model:
        def __init__(self, width: int) -> None:
            pass

    models.signature("Model")["width"] = "str"  # type: ignore[index]
    assert models.signature("Model") == {"width": "int"}


def test_a_taken_name_is_refused_for_another_class() -> None:
    models = Registry[Any]()
    first = type("Model", (), {"__module__": "first"})
    second = type("Model", (), {"__module__": "second"})
    models.register(first)
    with pytest.raises(
        ValueError, match=r"first.Model is already registered as 'Model'.*second.Model"
    ):
        models.register(second)
    assert models.get("Model") is first


def test_same_class_or_redefinition_replaces_quietly() -> None:
    models = Registry[Any]()

    def define() -> type:
        class Model:
            def __init__(self, width: int) -> None:
                pass

        return Model

    old, new = define(), define()
    models.register(old)
    models.register(old)
    models.register(new)
    assert models.get("Model") is new
    assert models.keys() == ["Model"]


def test_registries_are_independent() -> None:
    first, second = Registry[Any](), Registry[Any]()

    @first.register
    class Model:
        pass

    assert second.keys() == []
    assert repr(first) == "Registry(['Model'])"


def test_build_from_configuration() -> None:
    models = Registry[nn.Module]()

    @models.register("linear")
    class Linear(nn.Module):
        def __init__(self, inputs: int, outputs: int) -> None:
            super().__init__()
            self.layer = nn.Linear(inputs, outputs)

    config = {"name": "linear", "arguments": {"inputs": 3, "outputs": 2}}
    cls = models.get(config["name"])
    assert cls is not None
    model = cls(**config["arguments"])
    assert (getname(model), getarguments(model)) == (config["name"], config["arguments"])


def test_indexing_a_known_name_returns_the_class() -> None:
    models = Registry[object]()

    @models.register("mlp")
    class MLP:
        pass

    assert models["mlp"] is MLP
    assert "mlp" in models
    assert "cnn" not in models


def test_indexing_a_misspelt_name_names_the_known_ones() -> None:
    from torchsystem.registry import NotRegisteredError

    models = Registry[object]()
    models.register(type("MLP", (), {}))
    models.register(type("CNN", (), {}))

    with pytest.raises(NotRegisteredError, match=r"no class registered as 'MPL' in "
                       r"Registry\(\['MLP', 'CNN'\]\); known: 'MLP', 'CNN'; did you mean 'MLP'\?"):
        models["MPL"]
    with pytest.raises(KeyError, match=r"known: 'MLP', 'CNN'$"):
        models["transformer"]
    with pytest.raises(KeyError, match=r"known: none registered$"):
        Registry[object]()["mlp"]


def test_the_lookup_error_pickles_and_copies() -> None:
    import copy
    import pickle

    from torchsystem.registry import NotRegisteredError

    error = NotRegisteredError("no class registered as 'x'")

    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is NotRegisteredError
        assert str(copied) == "no class registered as 'x'"
    assert str(NotRegisteredError()) == ""


def test_registry_register_refuses_two_names_and_non_classes() -> None:
    models = Registry[Any]()

    with pytest.raises(TypeError, match=r"register got two names, 'a' and name='b'; pass one"):
        models.register("a", name="b")
    with pytest.raises(TypeError, match=r"register expects a class, got 42"):
        models.register(42)  # type: ignore[call-overload]
    assert models.keys() == []


def test_annotation_name_of_a_type_variable_is_written_as_python_does() -> None:
    assert annotation_name(typing.TypeVar("T")) == "~T"
