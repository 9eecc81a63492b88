"""``Service``: handlers called by name, with injection."""

import asyncio
import inspect
import typing
from typing import Any

import pytest

from torchsystem import Depends
from torchsystem.services import HandlerNotFoundError, Service


def test_handler_is_registered_under_its_kebab_case_name() -> None:
    service = Service()

    @service.handler
    def train_model_on_batches(model: str) -> str:
        return f"trained {model}"

    assert "train-model-on-batches" in service.handlers
    assert service.handle("train-model-on-batches", "mlp") == "trained mlp"


def test_single_word_handler_keeps_its_name() -> None:
    service = Service()

    @service.handler
    def iterate(model: str) -> str:
        return model

    assert service.handle("iterate", "mlp") == "mlp"


def test_custom_naming_function_names_the_handlers() -> None:
    service = Service(generator=lambda name: name.upper())

    @service.handler
    def train_model(model: str) -> str:
        return model

    assert list(service.handlers) == ["TRAIN_MODEL"]
    assert service.handle("TRAIN_MODEL", "mlp") == "mlp"


def test_handler_can_be_registered_under_an_explicit_name() -> None:
    service = Service()

    @service.handler(name="fit")
    def train_model(model: str) -> str:
        return f"fit {model}"

    assert service.handle("fit", "mlp") == "fit mlp"


def test_handle_passes_positional_and_keyword_arguments() -> None:
    service = Service()

    @service.handler
    def train(model: str, epochs: int, *, lr: float) -> tuple[str, int, float]:
        return model, epochs, lr

    assert service.handle("train", "mlp", 3, lr=0.1) == ("mlp", 3, 0.1)


def test_handle_returns_the_handler_result() -> None:
    service = Service()
    result = object()

    @service.handler
    def build() -> object:
        return result

    assert service.handle("build") is result


def test_handle_injects_dependencies() -> None:
    service = Service()

    def device() -> str:
        return "cpu"

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert service.handle("train", "mlp") == "mlp on cpu"


def test_handle_explicit_argument_skips_its_dependency() -> None:
    service = Service()
    calls: list[str] = []

    def device() -> str:
        calls.append("device")
        return "cpu"

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert service.handle("train", "mlp", "cuda") == "mlp on cuda"
    assert service.handle("train", "mlp", device="mps") == "mlp on mps"
    assert calls == []


def test_handle_unknown_name_lists_the_known_names() -> None:
    service = Service()

    @service.handler
    def train_model(model: str) -> None:
        pass

    @service.handler
    def validate_model(model: str) -> None:
        pass

    with pytest.raises(
        KeyError, match=r"(?s)(?=.*trian-model)(?=.*train-model)(?=.*validate-model)"
    ):
        service.handle("trian-model", "mlp")


def test_handle_unknown_name_raises_handler_not_found_error() -> None:
    service = Service()

    with pytest.raises(HandlerNotFoundError, match="train"):
        service.handle("train")


def test_decorated_handler_stays_directly_callable_with_injection() -> None:
    service = Service()

    def device() -> str:
        return "cpu"

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert train("mlp") == "mlp on cpu"
    assert train("mlp", "cuda") == "mlp on cuda"


def test_decorated_handler_keeps_its_name() -> None:
    service = Service()

    @service.handler
    def train_model(model: str) -> str:
        return model

    assert train_model.__name__ == "train_model"


def test_handlers_calling_each_other_directly_share_overrides() -> None:
    service = Service()

    def device() -> str:
        raise NotImplementedError

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"train {model} on {device}"

    @service.handler
    def iterate(model: str) -> list[str]:
        return [train(model), train(model)]

    service.dependency_overrides[device] = lambda: "cuda"

    assert service.handle("iterate", "mlp") == ["train mlp on cuda", "train mlp on cuda"]


def test_async_handler_returns_an_awaitable() -> None:
    service = Service()

    async def device() -> str:
        return "cuda"

    @service.handler
    async def evaluate(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    result = service.handle("evaluate", "mlp")

    assert inspect.isawaitable(result)
    assert asyncio.run(result) == "mlp on cuda"


def test_async_handler_without_dependencies_returns_an_awaitable() -> None:
    service = Service()

    @service.handler
    async def evaluate(model: str) -> str:
        return model

    result = service.handle("evaluate", "mlp")

    assert inspect.isawaitable(result)
    assert asyncio.run(result) == "mlp"


def test_dependency_overrides_item_assignment_is_used() -> None:
    service = Service()

    def device() -> str:
        raise NotImplementedError

    @service.handler
    def train(device: str = Depends(device)) -> str:
        return device

    service.dependency_overrides[device] = lambda: "cuda"

    assert service.handle("train") == "cuda"


def test_override_method_is_used() -> None:
    service = Service()

    def device() -> str:
        raise NotImplementedError

    @service.handler
    def train(device: str = Depends(device)) -> str:
        return device

    service.override(device, lambda: "cuda")

    assert service.handle("train") == "cuda"


def test_handler_exception_reaches_the_caller_unchanged() -> None:
    service = Service()
    stop = StopIteration()

    @service.handler
    def train() -> None:
        raise stop

    with pytest.raises(StopIteration) as excinfo:
        service.handle("train")
    assert excinfo.value is stop


def test_handle_does_not_inspect_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()

    def device() -> str:
        return "cpu"

    @service.handler
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("signatures must not be inspected per call")

    monkeypatch.setattr(inspect, "signature", refuse)
    monkeypatch.setattr(typing, "get_type_hints", refuse)

    assert service.handle("train", "mlp") == "mlp on cpu"


def test_handler_not_found_error_pickles_and_copies() -> None:
    import copy
    import pickle

    from torchsystem.services import HandlerNotFoundError

    error = HandlerNotFoundError("no handler 'x'; known: y")

    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is HandlerNotFoundError
        assert str(copied) == "no handler 'x'; known: y"
    assert str(HandlerNotFoundError()) == ""


def test_another_function_under_a_taken_name_is_refused() -> None:
    service = Service("training")

    @service.handler
    def train(model: str) -> str:
        return "first"

    def other(model: str) -> str:
        return "second"

    with pytest.raises(ValueError, match=r"Service\('training', handlers=\['train'\]\) already "
                       r"has a handler named 'train' \(.*train\); register this one with "
                       r"another name"):
        service.register(other, "train")
    assert service.handle("train", "mlp") == "first"


def test_the_same_function_or_a_redefinition_replaces_quietly() -> None:
    service = Service()

    def make(result: str) -> Any:
        def train(model: str) -> str:
            return result

        return train

    first = make("first")
    service.handler(first)
    service.handler(first)
    service.handler(make("redefined"))  # same module and qualified name: a re-run cell

    assert service.handle("train", "mlp") == "redefined"
    assert list(service.handlers) == ["train"]


def test_an_injected_function_registered_again_is_the_same_function() -> None:
    service = Service()

    def device() -> str:
        return "cpu"

    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    injected = service.handler(train)

    assert service.register(injected, "train") is not None
    assert service.handle("train", "mlp") == "mlp on cpu"


def test_an_empty_service_says_so() -> None:
    service = Service()

    with pytest.raises(HandlerNotFoundError, match=r"known: none registered$"):
        service.handle("train")
    assert repr(service) == "Service(handlers=[])"
    assert repr(Service("training")) == "Service('training', handlers=[])"
