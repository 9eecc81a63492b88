"""Errors name the culprit: unimplemented dependencies."""

import pytest

from torchsystem.depends import Depends, Provider, inject
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
