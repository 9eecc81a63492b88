"""The composition root: every service, consumer and override of the system, wired once.

``bootstrap()`` returns the application; the command line (``main.py``) and tests start
from it, each with a fresh one, so nothing at module level is ever changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from src.classifier import Classifier
from src.services import compilation, earlystopping, training
from torchsystem.compiler import Compiler
from torchsystem.consumers import (
    Background,
    EarlyStopping,
    EpochSummary,
    ProgressBar,
    TensorBoard,
)
from torchsystem.depends import Provider
from torchsystem.distributed import DataParallel, RankZero, local_device
from torchsystem.runs import RunRecorder
from torchsystem.services import Consumer, Producer
from torchsystem.storage import Checkpoints, GracefulStop
from torchsystem.training import Advanced, Training

__all__ = ["Application", "bootstrap", "default_device"]


def default_device() -> str:
    """This process's GPU (``cuda:$LOCAL_RANK`` under torchrun), else the CPU (also when
    torchrun starts more processes than there are GPUs)."""
    return local_device()


@dataclass
class Application:
    """The wired system: run it with ``compiler.compile(...)`` then ``training.fit(...)``;
    ``close()`` (or ``with``) flushes and closes the consumers. ``checkpoints`` (when
    enabled) saves every epoch and restores as the compiler's last step; ``stop`` turns
    SIGTERM and Ctrl-C into a clean stop while its ``with`` block runs."""

    training: Training
    compiler: Compiler[Classifier]
    producer: Producer
    provider: Provider
    consumers: list[Consumer | RankZero] = field(default_factory=list)
    checkpoints: Checkpoints | None = None
    stop: GracefulStop = field(default_factory=GracefulStop)

    def close(self) -> None:
        for consumer in reversed(self.consumers):  # the last registered first
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
    checkpoints: str | Path | None = None,
) -> Application:
    """Build the application: one provider for every override, one producer for every
    consumer. ``runs`` is the TensorBoard log directory (a folder per run); ``database``
    the run database, a SQLAlchemy URL or a SQLite file (default: ``<runs>/runs.db``),
    unless a ``recorder`` already writing somewhere is given; ``progress=None`` shows
    the bars only on a terminal; ``checkpoints`` is the checkpoint folder (``None``: none
    are written, nothing is resumed), indexed in the run database."""
    provider, producer = Provider(), Producer()
    provider.override(training.device, device)
    provider.override(compilation.device, device)
    stopping = earlystopping.consumers(patience, min_delta)
    if recorder is None:
        recorder = RunRecorder(Path(runs) / "runs.db" if database is None else database)
    consumers: list[Consumer | RankZero] = [  # under torchrun, rank 0 writes
        RankZero(ProgressBar(enable=progress)),
        RankZero(EpochSummary("digits")),
        RankZero(Background(TensorBoard(runs))),  # written off the training thread
        RankZero(recorder),
        *stopping,  # every rank sees the global metrics and stops at the same epoch
    ]
    compiler = compilation.compiler(provider)
    saved = None
    if checkpoints is not None:
        plateau = next(c for c in stopping if isinstance(c, EarlyStopping))
        saved = Checkpoints(checkpoints, keep=2, best=1, metric="loss/validation",
                            stateful={"early-stopping": plateau}, provider=provider,
                            database=recorder.database)
        # after early stopping: it saves the epoch's final state; no rank runs ahead of it
        consumers.append(RankZero(saved, barrier=Advanced))
        compiler.register(saved.restore)  # resume the newest checkpoint (on every rank)
    compiler.register(DataParallel())  # under torchrun: join the group, replicate with DDP
    stop = GracefulStop(producer)
    producer.register(*consumers, stop)
    return Application(
        training=training.service(producer, provider),
        compiler=compiler,
        producer=producer,
        provider=provider,
        consumers=consumers,
        checkpoints=saved,
        stop=stop,
    )
