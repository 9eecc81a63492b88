"""``Depends`` as a default and inside ``Annotated``; sub-dependencies."""

import typing
from typing import Annotated

import pytest

from tests import _future_handlers
from tests.depends import _deferred
from torchsystem import Depends as RootDepends
from torchsystem.depends import Depends, Provider, inject

# --- Depends as a default and in Annotated -------------------------------------------------


def test_depends_default_injects_the_dependency_value() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert where("mlp") == "mlp on cpu"


def test_depends_inside_annotated_injects_the_dependency_value() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(model: str, device: Annotated[str, Depends(device)]) -> str:
        return f"{model} on {device}"

    assert where("mlp") == "mlp on cpu"


def test_root_package_depends_is_the_same_marker() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(device: str = RootDepends(device)) -> str:
        return device

    assert where() == "cpu"


def test_future_annotations_default_depends_is_resolved() -> None:
    provider = Provider()
    provider.override(_future_handlers.device, lambda: "cpu")
    by_default, _ = _future_handlers.make_injected(provider)

    assert by_default("mlp") == "mlp on cpu"  # type: ignore[operator]


def test_future_annotations_annotated_depends_is_resolved() -> None:
    provider = Provider()
    provider.override(_future_handlers.device, lambda: "cuda")
    _, by_annotation = _future_handlers.make_injected(provider)

    assert by_annotation("mlp") == "mlp on cuda"  # type: ignore[operator]


def test_future_annotations_service_handler_is_resolved() -> None:
    service = _future_handlers.make_service()
    service.override(_future_handlers.device, lambda: "cpu")

    assert service.handle("train-model", "mlp") == "mlp on cpu"


# --- sub-dependencies -------------------------------------------------------------------


def test_sub_dependencies_are_resolved_three_levels_deep() -> None:
    def root() -> str:
        return "root"

    def middle(value: str = Depends(root)) -> str:
        return f"{value}>middle"

    def upper(value: str = Depends(middle)) -> str:
        return f"{value}>upper"

    def top(value: Annotated[str, Depends(upper)]) -> str:
        return f"{value}>top"

    @inject(Provider())
    def handler(value: str = Depends(top)) -> str:
        return f"{value}>handler"

    assert handler() == "root>middle>upper>top>handler"


def test_sub_dependency_declared_with_annotated_is_resolved() -> None:
    def leaf() -> int:
        return 20

    def branch(leaf: Annotated[int, Depends(leaf)]) -> int:
        return leaf + 1

    @inject(Provider())
    def handler(value: Annotated[int, Depends(branch)]) -> int:
        return value * 2

    assert handler() == 42


# --- classes and parameter kinds -------------------------------------------------------


def test_class_can_be_a_dependency_with_its_own_dependencies() -> None:
    def learning_rate() -> float:
        return 0.1

    class Settings:
        def __init__(self, lr: float = Depends(learning_rate)) -> None:
            self.lr = lr

    @inject(Provider())
    def handler(settings: Settings = Depends(Settings)) -> float:
        return settings.lr

    assert handler() == 0.1


def test_keyword_only_and_variadic_parameters_keep_working() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(
        model: str, *args: int, device: str = Depends(device), **kwargs: int
    ) -> tuple[str, tuple[int, ...], str, dict[str, int]]:
        return model, args, device, kwargs

    assert handler("mlp", 1, 2, depth=3) == ("mlp", (1, 2), "cpu", {"depth": 3})
    assert handler("mlp", device="cuda") == ("mlp", (), "cuda", {})


# --- annotations that cannot be resolved at run time -----------------------------------------


def test_annotated_marker_with_an_unresolvable_type_is_kept() -> None:
    handler = _deferred.make_handler(Provider())

    assert handler("mlp") == "mlp with session"  # type: ignore[operator]


def test_annotated_marker_with_an_unresolvable_union_is_kept() -> None:
    handler = _deferred.make_handler_with_unresolvable_union(Provider())

    assert handler() == "session"  # type: ignore[operator]


def test_annotated_markers_with_unresolvable_attributes_and_generics_are_kept() -> None:
    handler = _deferred.make_handler_with_unresolvable_attributes_and_generics(Provider())

    assert handler() == "session" * 3  # type: ignore[operator]


def test_bare_depends_on_a_type_that_cannot_be_resolved_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"^parameter 'session' of \S+\.handler uses Depends\(\) without a dep"
    ):
        _deferred.make_handler_with_bare_depends_on_an_unresolvable_type(Provider())


def test_annotated_marker_with_an_unresolvable_dependency_fails_at_decoration() -> None:
    with pytest.raises(
        TypeError,
        match=r"(?s)parameter 'session' of .*make_handler_with_unresolvable_dependency"
        r".*handler.*'open_session'.*cannot be resolved",
    ):
        _deferred.make_handler_with_unresolvable_dependency(Provider())


# --- Depends() without a dependency ------------------------------------------------------


class Counter:
    made = 0

    def __init__(self) -> None:
        Counter.made += 1
        self.number = Counter.made


def test_bare_depends_calls_the_annotation() -> None:
    @inject(Provider())
    def handler(counter: Counter = Depends()) -> int:
        return counter.number

    assert handler() == Counter.made


def test_bare_depends_inside_annotated_calls_the_annotated_type() -> None:
    @inject(Provider())
    def handler(a: Annotated[Counter, Depends()], b: Annotated[Counter, Depends()]) -> bool:
        return a is b

    assert handler() is True


def test_bare_depends_keeps_use_cache_false() -> None:
    @inject(Provider())
    def handler(
        a: Counter = Depends(use_cache=False),
        b: Annotated[Counter, Depends(use_cache=False)] = None,  # type: ignore[assignment]
    ) -> bool:
        return a is b

    assert handler() is False


def test_bare_depends_without_an_annotation_is_refused() -> None:
    with pytest.raises(
        TypeError,
        match=r"parameter 'thing' of .*handler uses Depends\(\) without a dependency and has "
        r"no callable annotation to call instead; write Depends\(some_function\)",
    ):

        @inject(Provider())
        def handler(thing=Depends()):  # type: ignore[no-untyped-def]
            return thing


def test_bare_depends_with_a_non_callable_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match=r"'thing' of .*handler uses Depends\(\) without a dep"):

        @inject(Provider())
        def handler(thing: Counter | None = Depends()) -> object:
            return thing


def test_depends_repr_names_the_dependency_and_the_cache() -> None:
    assert repr(Depends(Counter)) == "Depends(Counter)"
    assert repr(Depends(Counter, use_cache=False)) == "Depends(Counter, use_cache=False)"
    assert Depends(Counter).callable is Counter


# --- which marker wins -------------------------------------------------------------------


def _from_alias() -> str:
    return "alias"


def _from_default() -> str:
    return "default"


def _outer() -> str:
    return "outer"


Device = Annotated[str, Depends(_from_alias)]


def test_a_default_marker_wins_over_an_annotated_one() -> None:
    @inject(Provider())
    def handler(device: Device = Depends(_from_default)) -> str:
        return device

    assert handler() == "default"


def test_the_last_of_two_annotated_markers_wins() -> None:
    @inject(Provider())
    def handler(device: Annotated[str, Depends(_from_alias), Depends(_outer)]) -> str:
        return device

    assert handler() == "outer"


def test_an_annotated_alias_wrapped_again_uses_the_outer_marker() -> None:
    @inject(Provider())
    def handler(device: Annotated[Device, "docs", Depends(_outer), "more docs"]) -> str:
        return device

    assert handler() == "outer"


def test_annotated_metadata_other_than_depends_is_ignored() -> None:
    @inject(Provider())
    def handler(device: Annotated[str, "a device name"] = "cpu") -> str:
        return device

    assert handler() == "cpu"


# --- dependencies with every kind of parameter -------------------------------------------


def test_a_dependency_with_variadic_parameters_is_called_without_arguments() -> None:
    def collect(*args: int, **kwargs: int) -> tuple[tuple[int, ...], dict[str, int]]:
        return args, kwargs

    @inject(Provider())
    def handler(value: object = Depends(collect)) -> object:
        return value

    assert handler() == ((), {})


def test_a_dependency_with_keyword_only_depends_parameters() -> None:
    def device() -> str:
        return "cpu"

    def index() -> int:
        return 3

    def placement(*args: int, device: str = Depends(device), index: int = Depends(index),
                  **kwargs: int) -> str:
        return f"{device}:{index} {args} {kwargs}"

    @inject(Provider())
    def handler(value: str = Depends(placement)) -> str:
        return value

    assert handler() == "cpu:3 () {}"


def test_a_dependency_with_positional_only_depends_parameters() -> None:
    def device() -> str:
        return "cpu"

    def index() -> int:
        return 3

    def placement(device: str = Depends(device), scale: int = 2,
                  index: int = Depends(index), /, suffix: str = "!") -> str:
        return f"{device}:{index * scale}{suffix}"

    @inject(Provider())
    def handler(value: str = Depends(placement)) -> str:
        return value

    assert handler() == "cpu:6!"


def test_a_dependency_with_mixed_parameters_gets_each_the_right_way() -> None:
    def one() -> int:
        return 1

    def two() -> int:
        return 2

    def mixed(a: int = Depends(one), b: int = 10, c: int = Depends(two), *,
              d: int = Depends(one), e: int = 20) -> tuple[int, ...]:
        return a, b, c, d, e

    @inject(Provider())
    def handler(value: tuple[int, ...] = Depends(mixed)) -> tuple[int, ...]:
        return value

    assert handler() == (1, 10, 2, 1, 20)


def test_handler_positional_only_and_required_parameters_after_injected_ones() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(model: str, device: str = Depends(device), /, epochs: int = 1, *,
                lr: float, **extra: int) -> tuple[object, ...]:
        return model, device, epochs, lr, extra

    assert handler("mlp", lr=0.1) == ("mlp", "cpu", 1, 0.1, {})
    assert handler("mlp", "cuda", 3, lr=0.2, depth=4) == ("mlp", "cuda", 3, 0.2, {"depth": 4})
    with pytest.raises(TypeError, match="lr"):
        handler("mlp")  # type: ignore[call-arg]


def test_a_required_parameter_after_an_injected_one_must_be_given() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(device: Annotated[str, Depends(device)], model: str) -> str:
        return f"{model} on {device}"

    assert handler(model="mlp") == "mlp on cpu"
    assert handler("cuda", "mlp") == "mlp on cuda"
    with pytest.raises(TypeError, match=r"handler\(\) missing required argument: 'model'"):
        handler()  # type: ignore[call-arg]


def test_depends_on_variadic_parameters_is_refused() -> None:
    def device() -> str:
        return "cpu"

    def spread(*devices: Annotated[str, Depends(device)]) -> tuple[str, ...]:
        return devices

    def named(**devices: Annotated[str, Depends(device)]) -> dict[str, str]:
        return devices

    for function, name in ((spread, "devices"), (named, "devices")):
        with pytest.raises(
            TypeError, match=rf"parameter '{name}' of .*: Depends cannot fill \*args or \*\*kwargs"
        ):
            inject(Provider())(function)

    def uses_spread(value: tuple[str, ...] = Depends(spread)) -> tuple[str, ...]:
        return value

    with pytest.raises(TypeError, match=r"Depends cannot fill \*args or \*\*kwargs"):
        inject(Provider())(uses_spread)


def test_partials_callable_objects_and_unhashable_callables_are_dependencies() -> None:
    import functools

    def scaled(value: int, factor: int = 1) -> int:
        return value * factor

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __init__(self, value: int) -> None:
            self.value = value

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Unhashable)

        def __call__(self) -> int:
            return self.value

    first, second = Unhashable(1), Unhashable(2)

    @inject(Provider())
    def handler(
        a: int = Depends(functools.partial(scaled, 3, factor=2)),
        b: int = Depends(first),
        c: int = Depends(second),
        d: int = Depends(first),
    ) -> tuple[int, ...]:
        return a, b, c, d

    assert handler() == (6, 1, 2, 1)


def test_inject_without_a_provider_makes_its_own() -> None:
    def device() -> str:
        return "cpu"

    @inject()
    def where(device: str = Depends(device)) -> str:
        return device

    assert where() == "cpu"


def test_a_function_without_markers_is_returned_unchanged() -> None:
    def plain(model: str, epochs: int = 3) -> str:
        return model

    assert inject(Provider())(plain) is plain


def test_a_lambda_is_injected_under_a_valid_name() -> None:
    def device() -> str:
        return "cpu"

    handler = inject(Provider())(lambda device=Depends(device): device)

    assert handler() == "cpu"
    assert handler.__name__ == "<lambda>"


def test_an_annotated_marker_that_cannot_be_evaluated_fails_at_decoration() -> None:
    with pytest.raises(
        TypeError,
        match=r"^parameter 'session' of \S+\.handler: its annotation "
        r"'Described\[str, Depends\(get_session\)\]' cannot be evaluated, so its Depends "
        r"marker would be lost; make every name it uses importable at run time$",
    ):
        _deferred.make_handler_with_unresolvable_annotated(Provider())


def test_an_unresolvable_dependency_error_says_how_to_fix_it() -> None:
    with pytest.raises(
        TypeError,
        match=r"^parameter 'session' of \S+\.handler: its dependency 'open_session' cannot be "
        r"resolved at run time \(imported only for type checkers\?\); import it at run time$",
    ):
        _deferred.make_handler_with_unresolvable_dependency(Provider())


def test_a_string_annotation_inside_annotated_is_resolved_for_bare_depends() -> None:
    @inject(Provider())
    def handler(counter: Annotated["Counter", Depends()]) -> int:
        return counter.number

    assert handler() == Counter.made


def test_bare_depends_in_annotated_and_as_a_default_share_one_value() -> None:
    provider = Provider()

    @inject(provider)
    def handler(
        a: Annotated[Counter, Depends()], b: Counter = Depends()
    ) -> tuple[Counter, Counter]:
        return a, b

    a, b = handler()
    assert a is b

    class Fake(Counter):
        pass

    provider.override(Counter, Fake)
    a, b = handler()
    assert type(a) is Fake
    assert a is b


def test_repr_of_depends_on_a_callable_object_uses_its_repr() -> None:
    class Placeholder:
        def __call__(self) -> str:
            return ""

        def __repr__(self) -> str:
            return "<placeholder>"

    assert repr(Depends(Placeholder())) == "Depends(<placeholder>)"


def test_unresolvable_annotations_stay_strings_unless_markers_are_asked_for() -> None:
    from torchsystem._inspect import Unresolved, type_hints

    handler = _deferred.make_handler(Provider()).__wrapped__  # type: ignore[attr-defined]

    assert type_hints(handler)["session"] == "Annotated[Session, Depends(get_session)]"
    kept = type_hints(handler, keep_markers=True)["session"]
    assert isinstance(typing.get_args(kept)[0], Unresolved)
    assert typing.get_args(kept)[1] == Depends(_deferred.get_session)
