"""Errors name the culprit: unimplemented dependencies."""

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterator

import pytest

from torchsystem.depends import Depends, MissingDependencyError, Provider, inject
from torchsystem.services import Service


def test_unimplemented_dependency_error_names_dependency_handler_and_overrides() -> None:
    def unconfigured_device() -> str:
        raise NotImplementedError("override me")

    @inject(Provider())
    def train_on_device(device: str = Depends(unconfigured_device)) -> str:
        return device

    with pytest.raises(
        NotImplementedError,
        match=r"(?s)(?=.*unconfigured_device)(?=.*train_on_device)(?=.*dependency_overrides)",
    ):
        train_on_device()


def test_unimplemented_sub_dependency_error_names_the_sub_dependency() -> None:
    def unconfigured_writer() -> str:
        raise NotImplementedError

    def logger(writer: str = Depends(unconfigured_writer)) -> str:
        return writer

    @inject(Provider())
    def log_metrics(logger: str = Depends(logger)) -> str:
        return logger

    with pytest.raises(
        NotImplementedError,
        match=r"(?s)(?=.*unconfigured_writer)(?=.*log_metrics)(?=.*dependency_overrides)",
    ):
        log_metrics()


def test_service_unimplemented_dependency_error_names_dependency_handler_and_overrides() -> None:
    service = Service()

    def unconfigured_device() -> str:
        raise NotImplementedError("Override this dependency with a concrete implementation")

    @service.handler
    def train_on_device(model: str, device: str = Depends(unconfigured_device)) -> str:
        return device

    with pytest.raises(
        NotImplementedError,
        match=r"(?s)(?=.*unconfigured_device)(?=.*train_on_device)(?=.*dependency_overrides)",
    ):
        service.handle("train-on-device", "mlp")


def test_handler_own_not_implemented_error_reaches_the_caller_unchanged() -> None:
    error = NotImplementedError("the handler itself is unfinished")

    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(device: str = Depends(device)) -> None:
        raise error

    with pytest.raises(NotImplementedError) as excinfo:
        handler()
    assert excinfo.value is error


def test_inject_preserves_the_function_name() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def train_model(device: str = Depends(device)) -> str:
        return device

    assert train_model.__name__ == "train_model"


# --- which NotImplementedError means "override me" ------------------------------------------


def _placeholder() -> str:
    raise NotImplementedError("set by the application")


def test_missing_dependency_error_keeps_the_placeholder_error_as_its_cause() -> None:
    @inject(Provider())
    def handler(device: str = Depends(_placeholder)) -> str:
        return device

    with pytest.raises(MissingDependencyError) as excinfo:
        handler()
    assert isinstance(excinfo.value.__cause__, NotImplementedError)
    assert str(excinfo.value.__cause__) == "set by the application"
    assert "set by the application" in str(excinfo.value)


def test_not_implemented_error_from_code_a_dependency_calls_propagates_unchanged() -> None:
    error = NotImplementedError("this backend lacks the op")

    def unsupported_op() -> str:
        raise error

    def device() -> str:
        return unsupported_op()

    @inject(Provider())
    def handler(device: str = Depends(device)) -> str:
        return device

    with pytest.raises(NotImplementedError) as excinfo:
        handler()
    assert excinfo.value is error
    assert not isinstance(excinfo.value, MissingDependencyError)


def test_not_implemented_error_from_native_code_propagates_unchanged() -> None:
    torch = pytest.importorskip("torch")

    def sparse_view() -> object:
        return torch.ones(2).to_sparse().view(2)  # no sparse kernel: NotImplementedError in C++

    @inject(Provider())
    def handler(view: object = Depends(sparse_view)) -> object:
        return view

    with pytest.raises(NotImplementedError, match="SparseCPU") as excinfo:
        handler()
    assert type(excinfo.value) is NotImplementedError


def test_not_implemented_error_re_raised_by_a_dependency_propagates_unchanged() -> None:
    error = NotImplementedError("deep")

    def deeper() -> str:
        raise error

    def device() -> str:
        try:
            return deeper()
        except NotImplementedError:
            raise

    @inject(Provider())
    def handler(device: str = Depends(device)) -> str:
        return device

    with pytest.raises(NotImplementedError) as excinfo:
        handler()
    assert excinfo.value is error


def test_an_override_that_raises_not_implemented_error_is_named_with_its_original() -> None:
    provider = Provider()

    def still_missing() -> str:
        raise NotImplementedError

    provider.override(_placeholder, still_missing)

    @inject(provider)
    def handler(device: str = Depends(_placeholder)) -> str:
        return device

    with pytest.raises(
        MissingDependencyError,
        match=r"dependency .*_placeholder \(overridden by .*still_missing\) of .*handler",
    ):
        handler()


def test_a_decorated_placeholder_is_reported_as_missing() -> None:
    def logged(function: Callable[[], str]) -> Callable[[], str]:
        @functools.wraps(function)
        def wrapper() -> str:
            return function()

        return wrapper

    @logged
    def device() -> str:
        raise NotImplementedError

    @inject(Provider())
    def handler(device: str = Depends(device)) -> str:
        return device

    with pytest.raises(MissingDependencyError, match=r"dependency .*device of .*handler"):
        handler()


def test_placeholder_class_generator_and_async_dependencies_are_reported_as_missing() -> None:
    class Settings:
        def __init__(self) -> None:
            raise NotImplementedError

    def session() -> Iterator[str]:
        raise NotImplementedError
        yield "never"

    async def remote() -> str:
        raise NotImplementedError

    @inject(Provider())
    def with_class(settings: Settings = Depends(Settings)) -> object:
        return settings

    @inject(Provider())
    def with_generator(session: str = Depends(session)) -> str:
        return session

    @inject(Provider())
    async def with_async(value: str = Depends(remote)) -> str:
        return value

    with pytest.raises(MissingDependencyError, match=r"dependency .*Settings of .*with_class"):
        with_class()
    with pytest.raises(MissingDependencyError, match=r"dependency .*session of .*with_gen"):
        with_generator()
    with pytest.raises(MissingDependencyError, match=r"dependency .*remote of .*with_async"):
        asyncio.run(with_async())


def test_missing_dependency_error_names_the_provider_of_a_bare_inject() -> None:
    @inject(Provider())
    def handler(device: str = Depends(_placeholder)) -> str:
        return device

    with pytest.raises(
        MissingDependencyError,
        match=r"Provide it on the provider passed to inject \(Provider\(overrides=\[\]\)\): "
        r"\.dependency_overrides\[_placeholder\] = your_implementation, "
        r"or \.override\(_placeholder, your_implementation\)",
    ):
        handler()


def test_missing_dependency_error_names_the_container_that_owns_the_handler() -> None:
    service = Service()

    @service.handler
    def train(device: str = Depends(_placeholder)) -> str:
        return device

    with pytest.raises(MissingDependencyError, match=r"Provide it on the Service that owns it"):
        service.handle("train")


def test_missing_dependency_error_raised_deeper_is_not_wrapped_twice() -> None:
    inner_provider = Provider()

    @inject(inner_provider)
    def inner(device: str = Depends(_placeholder)) -> str:
        return device

    def outer_dependency() -> str:
        return inner()

    @inject(Provider())
    def handler(value: str = Depends(outer_dependency)) -> str:
        return value

    with pytest.raises(MissingDependencyError, match=r"of .*inner is not implemented") as excinfo:
        handler()
    assert "outer_dependency" not in str(excinfo.value)


# --- errors at decoration ---------------------------------------------------------------


def test_a_dependency_cycle_is_refused_at_decoration() -> None:
    def first(value: str = Depends(lambda: "")) -> str:
        return value

    def second(value: str = Depends(first)) -> str:
        return value

    first.__defaults__ = (Depends(second),)

    def handler(value: str = Depends(first)) -> str:
        return value

    with pytest.raises(
        TypeError, match=r"dependency cycle in .*handler: .*first -> .*second -> .*first$"
    ):
        inject(Provider())(handler)


def test_a_dependency_that_needs_itself_is_refused_at_decoration() -> None:
    def node(value: str = Depends(lambda: "")) -> str:
        return value

    node.__defaults__ = (Depends(node, use_cache=False),)

    with pytest.raises(TypeError, match=r"dependency cycle in .*handler: .*node -> .*node$"):

        @inject(Provider())
        def handler(value: str = Depends(node)) -> str:
            return value


def test_a_dependency_parameter_that_cannot_be_resolved_is_refused_at_decoration() -> None:
    def device(index: int) -> str:
        return f"cuda:{index}"

    with pytest.raises(
        TypeError,
        match=r"cannot resolve parameter 'index' of dependency .*device \(used by .*handler\): "
        r"give it a default or declare it with Depends\(\.\.\.\)",
    ):

        @inject(Provider())
        def handler(device: str = Depends(device)) -> str:
            return device


def test_an_override_with_an_unresolvable_parameter_fails_on_the_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def handler(device: str = Depends(device)) -> str:
        return device

    def needs_index(index: int) -> str:
        return f"cuda:{index}"

    provider.override(device, needs_index)
    with pytest.raises(TypeError, match=r"cannot resolve parameter 'index' of dependency"):
        handler()
    del provider.dependency_overrides[device]
    assert handler() == "cpu"


def test_inject_refuses_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match=r"inject expects a function, got 42"):
        inject(Provider())(42)  # type: ignore[type-var]


def test_not_implemented_error_from_a_native_callable_dependency_propagates_unchanged() -> None:
    import io

    # RawIOBase.readinto is C code that raises NotImplementedError itself: no Python frame
    native = functools.partial(io.RawIOBase().readinto, bytearray(1))
    native.__signature__ = inspect.Signature()  # type: ignore[attr-defined]

    @inject(Provider())
    def handler(count: int = Depends(native)) -> int:
        return count

    with pytest.raises(NotImplementedError) as excinfo:
        handler()
    assert type(excinfo.value) is NotImplementedError


def test_not_implemented_error_from_code_a_class_dependency_calls_propagates_unchanged() -> None:
    def unsupported() -> None:
        raise NotImplementedError("deep in the constructor")

    class Settings:
        def __init__(self) -> None:
            unsupported()

    @inject(Provider())
    def handler(settings: Settings = Depends(Settings)) -> Settings:
        return settings

    with pytest.raises(NotImplementedError, match="deep in the constructor") as excinfo:
        handler()
    assert type(excinfo.value) is NotImplementedError


def test_a_dependency_whose_wrapped_chain_is_a_cycle_is_not_misread() -> None:
    def unsupported() -> str:
        raise NotImplementedError("deeper")

    def device() -> str:
        return unsupported()

    device.__wrapped__ = device  # type: ignore[attr-defined]
    device.__signature__ = inspect.Signature()  # type: ignore[attr-defined]

    @inject(Provider())
    def handler(device: str = Depends(device)) -> str:
        return device

    with pytest.raises(NotImplementedError, match="deeper") as excinfo:
        handler()
    assert type(excinfo.value) is NotImplementedError


def test_missing_dependency_error_names_a_callable_object_by_its_repr() -> None:
    class Placeholder:
        def __call__(self) -> str:
            raise NotImplementedError

        def __repr__(self) -> str:
            return "<writer placeholder>"

    placeholder = Placeholder()

    @inject(Provider())
    def handler(writer: str = Depends(placeholder)) -> str:
        return writer

    with pytest.raises(
        MissingDependencyError,
        match=r"dependency <writer placeholder> of .*handler is not implemented \(it raised "
        r"NotImplementedError\)\. Provide it on .*\.dependency_overrides\[<writer placeholder>\]",
    ):
        handler()
