"""Ready consumers: TensorBoard, a progress bar, early stopping, an epoch summary, and
background delivery. Each is one import and one ``producer.register(...)`` away.

Optional battery: the core never imports it. TensorBoard and tqdm are imported only by
the consumers that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchsystem.consumers.background import Background
    from torchsystem.consumers.earlystopping import EarlyStopped, EarlyStopping
    from torchsystem.consumers.progress import ProgressBar
    from torchsystem.consumers.summary import EpochSummary
    from torchsystem.consumers.tensorboard import TensorBoard

__all__ = [
    "Background",
    "EarlyStopped",
    "EarlyStopping",
    "EpochSummary",
    "ProgressBar",
    "TensorBoard",
]

_MODULES = {
    "Background": "background",
    "EarlyStopped": "earlystopping",
    "EarlyStopping": "earlystopping",
    "EpochSummary": "summary",
    "ProgressBar": "progress",
    "TensorBoard": "tensorboard",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'torchsystem.consumers' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"torchsystem.consumers.{module}"), name)
