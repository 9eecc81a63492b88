"""A ready training service, its events, device-side metrics, an in-memory loader, the
optimiser step of an aggregate (``Optimization``) and ``seed_everything``.

Optional battery: the core (``torchsystem``) never imports it.
"""

from torchsystem.training.events import (
    OUTCOMES,
    Advanced,
    Ended,
    Iterated,
    Measured,
    Metric,
    Started,
    Stepped,
    Stopped,
    Trained,
    Validated,
    metric_items,
)
from torchsystem.training.handlers import DeclaredService, handler
from torchsystem.training.loaders import TensorLoader
from torchsystem.training.metrics import Accuracy, Mean, MetricLike, metric_factories
from torchsystem.training.optimization import Optimization
from torchsystem.training.protocol import MissingIdWarning, Trainable, check_trainable, identify
from torchsystem.training.seeding import seed_everything
from torchsystem.training.service import Training, device

__all__ = [
    "OUTCOMES",
    "Accuracy",
    "Advanced",
    "DeclaredService",
    "Ended",
    "Iterated",
    "Mean",
    "Measured",
    "Metric",
    "MetricLike",
    "MissingIdWarning",
    "Optimization",
    "Started",
    "Stepped",
    "Stopped",
    "TensorLoader",
    "Trainable",
    "Trained",
    "Training",
    "Validated",
    "check_trainable",
    "device",
    "handler",
    "identify",
    "metric_factories",
    "metric_items",
    "seed_everything",
]
