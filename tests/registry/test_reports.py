"""What the registry says when it refuses, and how it names annotations: exact texts that
a careless change to the reporting code would alter (mutation testing found each clause
untested)."""

from __future__ import annotations

import functools
import pickle
import typing
from collections.abc import Callable

import pytest

from torchsystem.registry import NotRegisteredError, Registry, getarguments
from torchsystem.registry._canonical import UnencodableError, dumps
from torchsystem.registry.catalog import annotation_name


def test_keyword_arguments_colliding_with_the_star_args_name_name_the_class() -> None:
    registry = Registry()

    @registry.register
    class Stack:
        def __init__(self, *layers: int, **options: int) -> None: ...

    with pytest.raises(TypeError, match=(
        r"test_reports\.test_keyword_arguments_colliding_with_the_star_args_name_name_"
        r"the_class\.<locals>\.Stack got keyword arguments \['layers'\] that collide with "
        r"its \*args name"
    )):
        Stack(1, 2, layers=3)


def test_an_unencodable_value_survives_pickling_with_what_it_says() -> None:
    error = UnencodableError("layers[0]", {1, 2}, "a set has no JSON encoding", True)

    copied = pickle.loads(pickle.dumps(error))

    assert (copied.path, copied.value, copied.reason, copied.registrable) == (
        "layers[0]", {1, 2}, "a set has no JSON encoding", True
    )
    assert copied.args == ("layers[0]", {1, 2}, "a set has no JSON encoding", True)


def test_a_lambda_argument_is_refused_and_carried_by_the_error() -> None:
    def activation(x: float) -> float:
        return x

    anonymous = lambda x: x  # noqa: E731 - the case under test

    assert dumps({"f": activation}) == (
        '{"f":"tests.registry.test_reports.'
        'test_a_lambda_argument_is_refused_and_carried_by_the_error.<locals>.activation"}'
    )
    with pytest.raises(UnencodableError) as caught:
        dumps({"f": anonymous})
    assert caught.value.value is anonymous
    assert caught.value.path == "f"


def test_the_decorator_form_keeps_the_exclusions() -> None:
    registry = Registry()

    @registry.register("block", excluded_args=[1], excluded_kwargs=["trace"])
    class Block:
        def __init__(self, width: int, device: str = "cpu", trace: bool = False) -> None: ...

    assert getarguments(Block(8, "cuda", trace=True)) == {"width": 8}
    assert registry.signature("block") == {"width": "int"}


def test_an_unknown_name_suggests_the_one_closest_match() -> None:
    registry = Registry()
    for name in ("MLP", "MLP2", "MLP3"):
        registry.register(name)(type(name, (), {}))

    with pytest.raises(NotRegisteredError, match=r"known: 'MLP', 'MLP2', 'MLP3'; "
                       r"did you mean 'MLP'\?$"):
        registry["MLP4"]


@pytest.mark.parametrize(("annotation", "name"), [
    (list[int], "list[int]"),
    (typing.List[int], "list[int]"),  # noqa: UP006 - typing's alias reads as the builtin
    (dict[str, int], "dict[str, int]"),
    (typing.List, "List"),  # noqa: UP006 - a bare generic alias: no arguments to show
    (Callable[[int, str], None], "Callable[[int, str], None]"),
    (functools.partial, "partial"),
])
def test_annotation_names(annotation: object, name: str) -> None:
    assert annotation_name(annotation) == name


def test_a_value_without_an_encoding_is_carried_by_the_error_with_its_path() -> None:
    numpy = pytest.importorskip("numpy")
    odd = object()

    with pytest.raises(UnencodableError) as caught:
        dumps({"x": odd})
    assert (caught.value.path, caught.value.value, caught.value.registrable) == ("x", odd, False)

    with pytest.raises(UnencodableError) as inside:  # a 0-d array holding an object
        dumps({"y": numpy.array(odd, dtype=object)})
    assert (inside.value.path, inside.value.value) == ("y", odd)

    with pytest.raises(UnencodableError, match="a ufunc has no JSON encoding") as ufunc:
        dumps({"f": numpy.add})  # numpy's, but not a number: no ndim
    assert (ufunc.value.path, ufunc.value.value, ufunc.value.registrable) == (
        "f", numpy.add, True
    )
