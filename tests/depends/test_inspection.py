"""The resolution plan is built at decoration; calls inspect no signatures."""

import asyncio
import inspect
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from torchsystem.depends import Depends, Provider, inject
from torchsystem.services import Service


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("signatures must not be inspected per call")


def _forbid_inspection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspect, "signature", _refuse)
    monkeypatch.setattr(inspect, "getfullargspec", _refuse)
    monkeypatch.setattr(typing, "get_type_hints", _refuse)


def test_injected_calls_do_not_inspect_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    def leaf() -> int:
        return 1

    def session(value: Annotated[int, Depends(leaf)]) -> Iterator[int]:
        yield value + 1

    @inject(Provider())
    def handler(x: int, a: int = Depends(leaf), b: Annotated[int, Depends(session)] = 0) -> int:
        return x + a + b

    _forbid_inspection(monkeypatch)

    assert handler(10) == 13
    assert handler(10, 5) == 17
    assert handler(x=10, b=0) == 11


def test_async_injected_calls_do_not_inspect_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    async def device() -> str:
        return "cuda"

    @inject(Provider())
    async def where(device: str = Depends(device)) -> str:
        return device

    _forbid_inspection(monkeypatch)

    assert asyncio.run(where()) == "cuda"


def test_calls_after_an_override_was_applied_do_not_inspect_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    def fake_device() -> str:
        return "cuda"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, fake_device)
    assert where() == "cuda"
    _forbid_inspection(monkeypatch)

    assert [where() for _ in range(3)] == ["cuda"] * 3


def test_first_call_after_an_override_does_not_inspect_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()

    def device() -> str:
        raise NotImplementedError

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    service.override(device, lambda: "cuda")
    _forbid_inspection(monkeypatch)

    assert service.handle("train", "mlp") == "mlp on cuda"


def test_every_dependency_of_a_replacement_is_read_when_it_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    def shared() -> int:
        return 1

    def left(value: int = Depends(shared)) -> int:
        return value

    def right(value: int = Depends(shared)) -> int:
        return value + 1

    def last() -> int:
        return 10

    def replacement(
        z: int = Depends(last), a: int = Depends(left), b: int = Depends(right)
    ) -> str:
        return f"cuda:{z + a + b}"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, replacement)
    _forbid_inspection(monkeypatch)

    assert where() == "cuda:13"


def test_a_replacement_whose_dependencies_form_a_cycle_fails_on_the_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    def first(value: str = Depends(lambda: "")) -> str:
        return value

    def second(value: str = Depends(first)) -> str:
        return value

    first.__defaults__ = (Depends(second),)

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, first)  # read when set: must not loop

    with pytest.raises(TypeError, match=r"dependency cycle in \S+\.where: \S+\.first -> "):
        where()


def test_unhashable_dependencies_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider()

    class Setting:
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Setting)

        def __call__(self, scale: int = Depends(lambda: 2)) -> int:
            return 21 * scale

    def device() -> str:
        return "cpu"

    @inject(provider)
    def where(setting: int = Depends(Setting()), device: str = Depends(device)) -> str:
        return f"{device}:{setting}"

    assert where() == "cpu:42"
    provider.dependency_overrides[device] = lambda: "cuda"
    _forbid_inspection(monkeypatch)  # the recompile finds the unhashable Setting already read

    assert where() == "cuda:42"
