"""Training: the ready service, and the producer its events travel through."""

from __future__ import annotations

from torchsystem.services import Producer
from torchsystem.training import Accuracy, Training, device

__all__ = ["device", "producer", "service"]

producer = Producer()
service = Training(producer, metrics={"accuracy": Accuracy()})
