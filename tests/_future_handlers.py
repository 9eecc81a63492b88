"""Handlers written under ``from __future__ import annotations``: every annotation is a string."""

from __future__ import annotations

from typing import Annotated

from torchsystem.depends import Depends, Provider, inject
from torchsystem.services import Consumer, Service, event


def device() -> str:
    raise NotImplementedError("provided by the application")


def settings(device: Annotated[str, Depends(device)]) -> dict[str, str]:
    return {"device": device}


@event
class Trained:
    loss: float


@event
class Validated:
    loss: float


def make_injected(provider: Provider) -> tuple[object, object]:
    """Two injected functions: one with a default ``Depends``, one with ``Annotated``."""

    @inject(provider)
    def by_default(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    @inject(provider)
    def by_annotation(model: str, settings: Annotated[dict[str, str], Depends(settings)]) -> str:
        return f"{model} on {settings['device']}"

    return by_default, by_annotation


def make_service() -> Service:
    service = Service()

    @service.handler
    def train_model(model: str, device: Annotated[str, Depends(device)]) -> str:
        return f"{model} on {device}"

    return service


def make_consumer(received: list[object]) -> Consumer:
    consumer = Consumer()

    @consumer.handler
    def record(event: Trained | Validated, device: Annotated[str, Depends(device)]) -> None:
        received.append((event, device))

    return consumer


def make_consumer_of_local_class(received: list[object]) -> tuple[Consumer, type]:
    """A handler whose string annotation names a class local to this function."""

    class Evaluated:
        pass

    consumer = Consumer()

    @consumer.handler
    def record(event: Evaluated | None) -> None:
        received.append(event)

    return consumer, Evaluated
