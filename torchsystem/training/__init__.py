"""A ready training service, its events, device-side metrics and an in-memory loader.

Optional battery: the core (``torchsystem``) never imports it.
"""

from torchsystem.training.events import (
    Iterated,
    Measured,
    Metric,
    Stepped,
    Stopped,
    Trained,
    Validated,
    metric_items,
)
from torchsystem.training.loaders import TensorLoader
from torchsystem.training.metrics import Accuracy, Mean, MetricLike
from torchsystem.training.service import Training, device

__all__ = [
    "Accuracy",
    "Iterated",
    "Mean",
    "Measured",
    "Metric",
    "MetricLike",
    "Stepped",
    "Stopped",
    "TensorLoader",
    "Trained",
    "Training",
    "Validated",
    "device",
    "metric_items",
]
