"""The composition root: every service, consumer and override of the system, wired once.

``bootstrap()`` returns the application; the command line (``main.py``) and tests start
from it, each with a fresh one, so nothing at module level is ever changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import torch

from src.classifier import Classifier
from src.services import compilation, earlystopping, training
from torchsystem.compiler import Compiler
from torchsystem.consumers import Background, EpochSummary, ProgressBar, TensorBoard
from torchsystem.depends import Provider
from torchsystem.runs import RunRecorder
from torchsystem.services import Consumer, Producer
from torchsystem.training import Training

__all__ = ["Application", "bootstrap", "default_device"]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Application:
    """The wired system: run it with ``compiler.compile(...)`` then ``training.fit(...)``;
    ``close()`` (or ``with``) flushes and closes the consumers."""

    training: Training
    compiler: Compiler[Classifier]
    producer: Producer
    provider: Provider
    consumers: list[Consumer] = field(default_factory=list)

    def close(self) -> None:
        for consumer in self.consumers:
            close = getattr(consumer, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Application:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def bootstrap(
    *,
    runs: str | Path = "runs",
    database: str | Path | None = None,
    recorder: RunRecorder | None = None,
    device: Callable[[], str] = default_device,
    patience: int = 5,
    min_delta: float = 1e-3,
    progress: bool | None = None,
) -> Application:
    """Build the application: one provider for every override, one producer for every
    consumer. ``runs`` is the TensorBoard log directory (a folder per run); ``database``
    the run database, a SQLAlchemy URL or a SQLite file (default: ``<runs>/runs.db``),
    unless a ``recorder`` already writing somewhere is given; ``progress=None`` shows
    the bars only on a terminal."""
    provider, producer = Provider(), Producer()
    provider.override(training.device, device)
    provider.override(compilation.device, device)
    consumers: list[Consumer] = [
        ProgressBar(enable=progress),
        EpochSummary("digits"),
        Background(TensorBoard(runs)),  # event files are written off the training thread
        recorder if recorder is not None else RunRecorder(
            Path(runs) / "runs.db" if database is None else database
        ),
        *earlystopping.consumers(patience, min_delta),
    ]
    producer.register(*consumers)
    return Application(
        training=training.service(producer, provider),
        compiler=compilation.compiler(provider),
        producer=producer,
        provider=provider,
        consumers=consumers,
    )
