"""Training: the ready service, with the metrics this system reports."""

from __future__ import annotations

from torchsystem.depends import Provider
from torchsystem.services import Producer
from torchsystem.training import Accuracy, Training, device

__all__ = ["device", "service"]


def service(producer: Producer, provider: Provider) -> Training:
    """The training service: events go to ``producer``, overrides come from ``provider``.

    ``Accuracy`` is given as a factory: every pass counts with a fresh one.
    """
    return Training(producer, metrics={"accuracy": Accuracy}, provider=provider)
