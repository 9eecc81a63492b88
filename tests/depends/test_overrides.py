"""Overrides through a ``Provider`` and on every container."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from torchsystem.depends import Depends, MissingDependencyError, Provider, inject
from torchsystem.services import Consumer, Service, Subscriber

# --- overrides through a Provider ---------------------------------------------------------


def test_provider_override_replaces_the_dependency() -> None:
    provider = Provider()

    def device() -> str:
        raise NotImplementedError

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, lambda: "cuda")

    assert where() == "cuda"


def test_provider_dependency_overrides_item_assignment_replaces_the_dependency() -> None:
    provider = Provider()

    def device() -> str:
        raise NotImplementedError

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.dependency_overrides[device] = lambda: "cuda"

    assert where() == "cuda"


def test_override_set_before_decoration_is_used() -> None:
    provider = Provider()

    def device() -> str:
        raise NotImplementedError

    provider.override(device, lambda: "mps")

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    assert where() == "mps"


def test_replacement_parameters_are_resolved_not_the_originals() -> None:
    provider = Provider()
    calls: list[str] = []

    def original_config() -> str:
        calls.append("original_config")
        return "original"

    def replacement_config() -> str:
        calls.append("replacement_config")
        return "replacement"

    def device(config: str = Depends(original_config)) -> str:
        return f"device({config})"

    def fake_device(config: str = Depends(replacement_config)) -> str:
        return f"fake({config})"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, fake_device)

    assert where() == "fake(replacement)"
    assert calls == ["replacement_config"]


def test_override_of_a_sub_dependency_applies_at_depth() -> None:
    provider = Provider()

    def leaf() -> str:
        return "leaf"

    def middle(value: str = Depends(leaf)) -> str:
        return f"middle({value})"

    def upper(value: str = Depends(middle)) -> str:
        return f"upper({value})"

    @inject(provider)
    def handler(value: str = Depends(upper)) -> str:
        return value

    provider.override(leaf, lambda: "fake")

    assert handler() == "upper(middle(fake))"


def test_changing_an_override_takes_effect_on_the_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    assert where() == "cpu"
    provider.override(device, lambda: "cuda")
    assert where() == "cuda"
    provider.dependency_overrides[device] = lambda: "mps"
    assert where() == "mps"


def test_deleting_an_override_restores_the_original_on_the_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, lambda: "cuda")
    assert where() == "cuda"
    del provider.dependency_overrides[device]
    assert where() == "cpu"


def test_clearing_overrides_restores_the_originals_on_the_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, lambda: "cuda")
    assert where() == "cuda"
    provider.dependency_overrides.clear()
    assert where() == "cpu"


def test_generator_replacement_is_set_up_and_cleaned_up() -> None:
    provider = Provider()
    log: list[str] = []

    def writer() -> str:
        raise NotImplementedError

    def summary_writer() -> Iterator[str]:
        log.append("open writer")
        yield "writer"
        log.append("close writer")

    @inject(provider)
    def deliver(metric: float, writer: str = Depends(writer)) -> None:
        log.append(f"{writer} <- {metric}")

    provider.dependency_overrides[writer] = summary_writer
    deliver(0.5)

    assert log == ["open writer", "writer <- 0.5", "close writer"]


def test_override_of_a_cached_dependency_is_shared_within_a_call() -> None:
    provider = Provider()
    calls: list[str] = []

    def device() -> str:
        return "cpu"

    def fake_device() -> str:
        calls.append("fake")
        return "cuda"

    def loader(device: str = Depends(device)) -> str:
        return f"loader({device})"

    @inject(provider)
    def handler(loader: str = Depends(loader), device: str = Depends(device)) -> str:
        return f"{loader}+{device}"

    provider.override(device, fake_device)

    assert handler() == "loader(cuda)+cuda"
    assert calls == ["fake"]


# --- overrides on every container -----------------------------------------------------------


def _unconfigured_device() -> str:
    raise NotImplementedError("provided by the application")


class _Ping:
    pass


Trigger = Callable[[], str]


def _container_with_handler(kind: str, provider: Provider | None = None) -> tuple[Any, Trigger]:
    """A container of ``kind`` whose handler records the injected device; and how to call it."""
    seen: list[str] = []
    if kind == "service":
        service = Service(provider=provider)

        @service.handler
        def ping(device: str = Depends(_unconfigured_device)) -> str:
            return device

        return service, lambda: service.handle("ping")
    if kind == "consumer":
        consumer = Consumer(provider=provider)

        @consumer.handler
        def on_ping(event: _Ping, device: str = Depends(_unconfigured_device)) -> None:
            seen.append(device)

        return consumer, lambda: (consumer.consume(_Ping()), seen[-1])[1]
    if kind == "subscriber":
        subscriber = Subscriber(provider=provider)

        @subscriber.subscribe("ping")
        def on_ping(message: object, device: str = Depends(_unconfigured_device)) -> None:
            seen.append(device)

        return subscriber, lambda: (subscriber.receive(object(), "ping"), seen[-1])[1]
    pytest.importorskip("torch")  # only where PyTorch is installed (see `make compat`)
    from torchsystem.compiler import Compiler

    compiler = Compiler[str](provider=provider)

    @compiler.step
    def build(device: str = Depends(_unconfigured_device)) -> str:
        return device

    return compiler, compiler.compile


CONTAINERS = ["service", "consumer", "subscriber", "compiler"]


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_dependency_overrides_is_one_dict_shared_with_its_provider(kind: str) -> None:
    container, _ = _container_with_handler(kind)
    overrides = container.dependency_overrides

    def replacement() -> str:
        return "cuda"

    assert isinstance(overrides, dict)
    assert overrides == {}
    assert container.dependency_overrides is overrides
    assert container.provider.dependency_overrides is overrides
    container.override(_unconfigured_device, replacement)
    assert overrides == {_unconfigured_device: replacement}
    assert overrides.get(_unconfigured_device) is replacement


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_dependency_overrides_reassigned_keeps_the_same_dict(kind: str) -> None:
    container, trigger = _container_with_handler(kind)
    overrides = container.dependency_overrides

    container.dependency_overrides = {_unconfigured_device: lambda: "mps"}

    assert container.dependency_overrides is overrides
    assert list(overrides) == [_unconfigured_device]
    assert trigger() == "mps"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_dependency_overrides_item_assignment_is_used(kind: str) -> None:
    container, trigger = _container_with_handler(kind)

    container.dependency_overrides[_unconfigured_device] = lambda: "cuda"

    assert trigger() == "cuda"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_override_method_is_used(kind: str) -> None:
    container, trigger = _container_with_handler(kind)

    container.override(_unconfigured_device, lambda: "cuda")

    assert trigger() == "cuda"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_override_changes_take_effect_on_the_next_call(kind: str) -> None:
    container, trigger = _container_with_handler(kind)

    container.override(_unconfigured_device, lambda: "cpu")
    assert trigger() == "cpu"
    container.dependency_overrides[_unconfigured_device] = lambda: "cuda"
    assert trigger() == "cuda"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_deleted_override_restores_the_original(kind: str) -> None:
    container, trigger = _container_with_handler(kind)
    container.override(_unconfigured_device, lambda: "cuda")
    assert trigger() == "cuda"

    del container.dependency_overrides[_unconfigured_device]

    with pytest.raises(MissingDependencyError, match=r"dependency \S+\._unconfigured_device of"):
        trigger()


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_dependency_overrides_can_be_reassigned(kind: str) -> None:
    container, trigger = _container_with_handler(kind)
    container.override(_unconfigured_device, lambda: "cpu")
    assert trigger() == "cpu"

    container.dependency_overrides = {_unconfigured_device: lambda: "cuda"}

    assert trigger() == "cuda"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_replacement_parameters_are_resolved(kind: str) -> None:
    container, trigger = _container_with_handler(kind)

    def index() -> int:
        return 1

    def device_from_index(index: int = Depends(index)) -> str:
        return f"cuda:{index}"

    container.override(_unconfigured_device, device_from_index)

    assert trigger() == "cuda:1"


@pytest.mark.parametrize("kind", CONTAINERS)
def test_container_unimplemented_dependency_error_names_it_and_the_fix(kind: str) -> None:
    _, trigger = _container_with_handler(kind)

    with pytest.raises(
        NotImplementedError, match=r"(?s)(?=.*_unconfigured_device)(?=.*dependency_overrides)"
    ):
        trigger()


def test_containers_sharing_a_provider_share_overrides() -> None:
    provider = Provider()
    triggers = [_container_with_handler(kind, provider)[1] for kind in CONTAINERS]

    provider.override(_unconfigured_device, lambda: "cuda")

    assert [trigger() for trigger in triggers] == ["cuda"] * len(CONTAINERS)


def test_override_through_one_container_reaches_containers_sharing_its_provider() -> None:
    provider = Provider()
    service, _ = _container_with_handler("service", provider)
    _, consume = _container_with_handler("consumer", provider)
    _, compile_ = _container_with_handler("compiler", provider)

    service.dependency_overrides[_unconfigured_device] = lambda: "mps"

    assert consume() == "mps"
    assert compile_() == "mps"


# --- the overrides dict itself ------------------------------------------------------------


def _device() -> str:
    return "cpu"


@pytest.mark.parametrize(
    "assign",
    [
        lambda overrides: overrides.__setitem__(_device, "cuda"),
        lambda overrides: overrides.update({_device: "cuda"}),
        lambda overrides: overrides.update([(_device, "cuda")]),
        lambda overrides: overrides.__ior__({_device: "cuda"}),
        lambda overrides: overrides.setdefault(_device, "cuda"),
    ],
    ids=["item", "update", "update-pairs", "ior", "setdefault"],
)
def test_a_replacement_that_is_not_callable_is_refused(assign: Callable[[Any], None]) -> None:
    provider = Provider()

    with pytest.raises(TypeError, match=r"override for '_device' must be callable, got 'cuda'"):
        assign(provider.dependency_overrides)
    assert provider.dependency_overrides == {}


def test_assigning_a_dict_with_a_non_callable_replacement_changes_nothing() -> None:
    provider = Provider()
    provider.override(_device, _unconfigured_device)

    with pytest.raises(TypeError, match=r"override for '_device' must be callable, got 3"):
        provider.dependency_overrides = {_device: 3}  # type: ignore[dict-item]
    assert provider.dependency_overrides == {_device: _unconfigured_device}


def test_every_way_of_changing_the_overrides_takes_effect_on_the_next_call() -> None:
    provider = Provider()

    @inject(provider)
    def where(device: str = Depends(_device)) -> str:
        return device

    overrides = provider.dependency_overrides
    changes: list[tuple[Callable[[], object], str]] = [
        (lambda: overrides.update({_device: lambda: "a"}), "a"),
        (lambda: overrides.pop(_device), "cpu"),
        (lambda: overrides.setdefault(_device, lambda: "b"), "b"),
        (lambda: overrides.popitem(), "cpu"),
        (lambda: overrides.__ior__({_device: lambda: "c"}), "c"),
        (lambda: overrides.clear(), "cpu"),
    ]
    for change, expected in changes:
        change()
        assert where() == expected


def test_setdefault_keeps_an_existing_override_and_needs_a_value() -> None:
    provider = Provider()
    first = _unconfigured_device
    provider.override(_device, first)

    assert provider.dependency_overrides.setdefault(_device, lambda: "b") is first
    with pytest.raises(TypeError, match=r"Overrides.setdefault needs a value for"):
        provider.dependency_overrides.setdefault(_unconfigured_device)


def test_a_copy_of_the_overrides_is_a_plain_dict() -> None:
    import copy
    import pickle

    provider = Provider()
    provider.override(_device, _unconfigured_device)

    for copied in (copy.copy(provider.dependency_overrides),
                   pickle.loads(pickle.dumps(provider.dependency_overrides))):
        assert type(copied) is dict
        assert copied == {_device: _unconfigured_device}


def test_provider_repr_names_the_overridden_dependencies() -> None:
    provider = Provider()
    assert repr(provider) == "Provider(overrides=[])"

    provider.override(_device, _unconfigured_device)
    provider.override(_unconfigured_device, _device)

    assert repr(provider) == "Provider(overrides=['_device', '_unconfigured_device'])"


def test_a_replacement_and_its_own_dependencies_are_read_when_it_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import inspect as inspect_module

    provider = Provider()

    def index() -> int:
        return 2

    def scale(index: int = Depends(index)) -> int:
        return index * 10

    def accelerator(scale: int = Depends(scale)) -> str:
        return f"cuda:{scale}"

    @inject(provider)
    def where(device: str = Depends(_device)) -> str:
        return device

    provider.override(_device, accelerator)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signatures must be read when the override is set")

    monkeypatch.setattr(inspect_module, "signature", refuse)
    assert where() == "cuda:20"


def test_a_container_whose_override_refers_to_it_is_garbage_collected() -> None:
    import gc
    import weakref

    def build() -> weakref.ref[Service]:
        service = Service()

        @service.handler
        def ping(device: str = Depends(_unconfigured_device)) -> str:
            return device

        service.override(_unconfigured_device, lambda: f"cpu for {type(service).__name__}")
        assert service.handle("ping") == "cpu for Service"
        return weakref.ref(service)

    ref = build()
    gc.collect()

    assert ref() is None


def test_errors_and_repr_name_a_callable_object_key_by_its_repr() -> None:
    class Placeholder:
        def __call__(self) -> str:
            raise NotImplementedError

        def __repr__(self) -> str:
            return "<placeholder>"

    provider = Provider()
    placeholder = Placeholder()

    with pytest.raises(TypeError, match=r"^override for <placeholder> must be callable, got 1$"):
        provider.override(placeholder, 1)  # type: ignore[arg-type]
    provider.override(placeholder, _device)

    assert repr(provider) == "Provider(overrides=['<placeholder>'])"


def test_the_overrides_update_like_a_dict_from_pairs_and_keywords() -> None:
    def device() -> str:
        return "cpu"

    def accelerator() -> str:
        return "cuda"

    overrides = Provider().dependency_overrides
    overrides.update([(device, accelerator)], named=accelerator)

    assert dict(overrides) == {device: accelerator, "named": accelerator}
