"""``getarguments``, ``getname``, ``gethash``, ``sethash``, ``setname``, ``getmetadata``."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

from tests.registry._models import MLP, Perceptron, settings
from torchsystem.registry import (
    getarguments,
    gethash,
    getmetadata,
    getname,
    register,
    sethash,
    setname,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_point() -> type:
    @register
    class Point:
        def __init__(self, x: Any, y: Any = 2) -> None:
            pass

    return Point


def test_getarguments_returns_a_copy() -> None:
    point = make_point()([1, 2])
    copied = getarguments(point)
    copied["x"].append(3)
    copied["z"] = 0
    assert getarguments(point) == {"x": [1, 2], "y": 2}


def test_getarguments_of_an_unregistered_object_says_how_to_fix_it() -> None:
    with pytest.raises(
        AttributeError, match=r"ReLU instance has no recorded arguments: .*@register"
    ):
        getarguments(nn.ReLU())


def test_hash_is_md5_of_name_and_canonical_json() -> None:
    expected = hashlib.md5(b'Point{"x":1,"y":2}').hexdigest()
    assert gethash(make_point()(1)) == expected
    assert len(expected) == 32


def test_hash_ignores_keyword_order_and_spelled_out_defaults() -> None:
    point = make_point()
    assert gethash(point(1)) == gethash(point(y=2, x=1)) == gethash(point(1, 2))
    assert gethash(point(1)) != gethash(point(1, 3))


def test_hash_depends_on_the_name() -> None:
    point = make_point()
    renamed = register("point")(make_point())
    assert gethash(point(1)) != gethash(renamed(1))


def test_hash_of_nested_modules_changes_with_the_inner_arguments() -> None:
    small = MLP(Perceptron(3, 4), Perceptron(4, 1))
    same = MLP(Perceptron(inputs=3, outputs=4, bias=True), Perceptron(4, 1), dropout=0.5)
    wide = MLP(Perceptron(3, 8), Perceptron(8, 1))
    assert gethash(small) == gethash(same)
    assert gethash(small) != gethash(wide)


def test_hash_is_the_same_in_other_processes_whatever_the_hash_seed() -> None:
    local = gethash(settings())
    code = (
        "from tests.registry._models import settings; "
        "from torchsystem.registry import gethash; print(gethash(settings()))"
    )
    for seed in ("0", "123"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == local


def test_canonical_encodings() -> None:
    class Color(enum.Enum):
        RED = (1, "red")

    point = make_point()
    expected = {
        "x": {"path": "runs/a", "color": [1, "red"], "set": ["a", "b"], "dtype": "torch.float16"},
        "y": [1, [2.5, "cpu"]],
    }
    value = point(
        {
            "path": pathlib.PurePosixPath("runs") / "a",
            "color": Color.RED,
            "set": {"b", "a"},
            "dtype": torch.float16,
        },
        (1, (2.5, torch.device("cpu"))),
    )
    digest = json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert gethash(value) == hashlib.md5(f"Point{digest}".encode()).hexdigest()
    assert getmetadata(value)["arguments"] == expected


def test_nan_and_infinity_hash_deterministically() -> None:
    point = make_point()
    assert gethash(point(float("nan"))) == gethash(point(float("nan")))
    assert gethash(point(float("inf"))) == hashlib.md5(b'Point{"x":Infinity,"y":2}').hexdigest()
    assert gethash(point(float("inf"))) != gethash(point("Infinity"))


def test_unserialisable_argument_error_names_it_and_the_fix() -> None:
    point = make_point()
    with pytest.raises(TypeError, match=r"argument 'y' of Point .*ReLU.*excluded_kwargs=\{'y'\}"):
        gethash(point(1, nn.ReLU()))
    with pytest.raises(TypeError, match=r"""argument "x\[1\]\['act'\]" of Point.*\{'x'\}"""):
        gethash(point([0, {"act": object()}]))
    with pytest.raises(TypeError, match=r"dict key 3 is not a string"):
        gethash(point({3: "three"}))
    with pytest.raises(TypeError, match=r"argument 'y' of Point cannot be hashed"):
        getmetadata(point(1, nn.ReLU()))


def test_excluding_the_unserialisable_argument_makes_it_hashable() -> None:
    @register(excluded_kwargs={"activation"})
    class Block:
        def __init__(self, width: int, activation: nn.Module) -> None:
            pass

    assert gethash(Block(4, nn.ReLU())) == hashlib.md5(b'Block{"width":4}').hexdigest()


def test_gethash_of_an_unregistered_object_says_how_to_fix_it() -> None:
    with pytest.raises(AttributeError, match=r"ReLU instance has no hash: .*@register.*sethash"):
        gethash(nn.ReLU())


def test_sethash_overrides_and_computes() -> None:
    point = make_point()
    fixed = point(nn.ReLU())
    sethash(fixed, "custom")
    assert gethash(fixed) == "custom"
    computed = point(1)
    sethash(computed)
    assert vars(computed)["__model__hash__"] == gethash(point(1))
    unregistered = nn.ReLU()
    sethash(unregistered, "relu")
    assert gethash(unregistered) == "relu"


def test_setname_overrides_the_name_and_the_hash() -> None:
    point = make_point()
    renamed = point(1)
    setname(renamed, "dot")
    assert getname(renamed) == "dot"
    assert gethash(renamed) == hashlib.md5(b'dot{"x":1,"y":2}').hexdigest()
    setname(renamed)
    assert getname(renamed) == "Point"
    assert getname(nn.ReLU()) == "ReLU"


def test_getmetadata_is_a_json_ready_deep_copy() -> None:
    point = make_point()
    value = point((1, [2]))
    metadata = getmetadata(value)
    assert metadata == {
        "name": "Point",
        "arguments": {"x": [1, [2]], "y": 2},
        "hash": gethash(value),
    }
    metadata["arguments"]["x"][1].append(3)
    assert getarguments(value)["x"] == (1, [2])
    assert json.loads(json.dumps(metadata)) == metadata


def test_getmetadata_of_unregistered_objects() -> None:
    relu = nn.ReLU()
    assert getmetadata(relu) == {"name": "ReLU"}
    sethash(relu, "abc")
    assert getmetadata(relu) == {"name": "ReLU", "hash": "abc"}


def test_the_torchsystem_1_3_readme_classifier_id_is_the_hash_of_its_network() -> None:
    from torchsystem.domain import Aggregate

    class Classifier(Aggregate):
        def __init__(self, nn: nn.Module) -> None:
            super().__init__()
            self.nn = nn

        @property
        def id(self) -> str:
            return gethash(self.nn)

    network = MLP(Perceptron(3, 4), Perceptron(4, 1))
    classifier = Classifier(network)
    assert classifier.id == gethash(MLP(Perceptron(3, 4), Perceptron(4, 1)))
    assert classifier.id != Classifier(MLP(Perceptron(3, 5), Perceptron(5, 1))).id


# --- numbers, classes and functions -----------------------------------------------------------


def test_numpy_scalars_hash_as_the_python_numbers_they_hold() -> None:
    import fractions

    numpy = pytest.importorskip("numpy")
    point = make_point()

    assert gethash(point(numpy.int64(3))) == gethash(point(3))
    assert gethash(point(numpy.float64(0.5))) == gethash(point(0.5))
    assert gethash(point(numpy.float32(0.5), numpy.uint8(7))) == gethash(point(0.5, 7))
    assert gethash(point(numpy.bool_(True))) == gethash(point(True))
    assert gethash(point(numpy.array(4))) == gethash(point(4))
    assert gethash(point(fractions.Fraction(1, 4))) == gethash(point(0.25))
    assert getmetadata(point([numpy.int32(1), numpy.float16(1.5)]))["arguments"]["x"] == [1, 1.5]
    with pytest.raises(TypeError, match=r"argument 'x' of Point .*a ndarray has no JSON"):
        gethash(point(numpy.array([1, 2])))


def test_a_class_or_function_argument_is_encoded_by_where_it_is_defined() -> None:
    point = make_point()
    value = point(nn.ReLU, torch.nn.functional.relu)

    assert getmetadata(value)["arguments"] == {
        "x": "torch.nn.modules.activation.ReLU",
        "y": "torch.nn.functional.relu",
    }
    assert gethash(point(nn.ReLU)) != gethash(point(nn.GELU))
    assert getmetadata(point(len))["arguments"]["x"] == "builtins.len"


def test_a_lambda_argument_is_refused_with_the_reason() -> None:
    point = make_point()

    with pytest.raises(TypeError, match=r"argument 'y' of Point cannot be hashed: a lambda has "
                       r"no stable name; pass a named function; leave it out with "
                       r"register\(Point, excluded_kwargs=\{'y'\}\)$"):
        gethash(point(1, lambda x: x))


def test_only_values_of_user_classes_get_the_advice_to_register_their_class() -> None:
    point = make_point()

    with pytest.raises(TypeError, match=r"a ReLU has no JSON encoding; .*\{'x'\}\) or decorate its "
                       r"class with @register$"):
        gethash(point(nn.ReLU()))
    with pytest.raises(TypeError, match=r"a bytearray has no JSON encoding; .*\{'x'\}\)$"):
        gethash(point(bytearray(b"a")))


# --- golden values ----------------------------------------------------------------------------


def test_non_ascii_text_hashes_as_escaped_ascii() -> None:
    value = make_point()("café", "日本")

    assert gethash(value) == hashlib.md5(
        b'Point{"x":"caf\\u00e9","y":"\\u65e5\\u672c"}'
    ).hexdigest() == "e2c1f4563ea4f0ab6c53fd91c550c177"


def test_windows_and_posix_paths_hash_as_forward_slashes() -> None:
    point = make_point()
    windows = point(pathlib.PureWindowsPath(r"C:\\runs\\mlp"), pathlib.PureWindowsPath("data/x"))

    assert getmetadata(windows)["arguments"] == {"x": "C:/runs/mlp", "y": "data/x"}
    assert gethash(windows) == hashlib.md5(b'Point{"x":"C:/runs/mlp","y":"data/x"}').hexdigest()
    assert gethash(point(pathlib.PurePosixPath("data/x"))) == gethash(point("data/x"))


def test_only_torch_devices_and_dtypes_hash_as_text() -> None:
    class device:
        def __str__(self) -> str:
            return "cpu"

    class dtype:
        pass

    point = make_point()

    assert getmetadata(point(torch.device("cuda", 1), torch.int8))["arguments"] == {
        "x": "cuda:1", "y": "torch.int8",
    }
    assert gethash(point(torch.device("cpu"))) == hashlib.md5(
        b'Point{"x":"cpu","y":2}'
    ).hexdigest()
    with pytest.raises(TypeError, match=r"argument 'x' of Point cannot be hashed: a .*device has"):
        gethash(point(device()))
    with pytest.raises(TypeError, match=r"a .*dtype has no JSON encoding"):
        gethash(point(dtype()))


def test_a_dict_that_contains_itself_is_refused() -> None:
    looped: dict[str, Any] = {}
    looped["self"] = looped

    with pytest.raises(TypeError, match=r"argument \"x\['self'\]\" of Point .*dict contains it"):
        gethash(make_point()(looped))


def test_a_value_shared_twice_is_not_a_cycle() -> None:
    shared = [1, 2]

    assert getmetadata(make_point()([shared, shared]))["arguments"]["x"] == [[1, 2], [1, 2]]


# --- errors survive pickle and copy -----------------------------------------------------------


def test_the_unencodable_error_pickles_and_copies() -> None:
    import copy
    import pickle

    from torchsystem.registry._canonical import UnencodableError

    error = UnencodableError("x[0]", "value", "a thing has no JSON encoding", True)

    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is UnencodableError
        assert (copied.path, copied.value, copied.reason, copied.registrable) == (
            "x[0]", "value", "a thing has no JSON encoding", True,
        )


def test_none_booleans_and_text_subclasses_have_their_json_encodings() -> None:
    class Tag(str):
        pass

    point = make_point()

    assert gethash(point(None, True)) == hashlib.md5(b'Point{"x":null,"y":true}').hexdigest()
    assert gethash(point(False, Tag("t"))) == hashlib.md5(b'Point{"x":false,"y":"t"}').hexdigest()
    assert type(getmetadata(point(Tag("t")))["arguments"]["x"]) is str


def test_the_canonical_module_exports_its_names() -> None:
    from torchsystem.registry import _canonical

    assert _canonical.__all__ == ["UnencodableError", "canonical", "dumps"]
