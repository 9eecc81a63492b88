"""``TensorBoard``: per-epoch scalars and the model's registry metadata."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from torchsystem.consumers._reports import MetricsConsumer, PerModel, identity, report_of
from torchsystem.registry import getarguments, getmetadata
from torchsystem.training.events import Iterated

__all__ = ["TensorBoard"]


class _Seen:
    def __init__(self) -> None:
        self.first_epoch: int | None = None
        self.tags: dict[str, float] = {}
        self.described = False


class TensorBoard(MetricsConsumer):
    """Write every metrics event as TensorBoard scalars, tagged ``{model.id}/{metric}/{phase}``.

    The step is the event's epoch. Once a model's first epoch is complete (the service's
    ``Iterated``, or the next epoch's first event, or ``flush``/``close``), its registry
    metadata (name, constructor arguments and hash of the model when registered, else of
    its registered attributes such as ``nn``) is written as hyperparameters, linked to
    every metric tag of that epoch. The writer is created on the first event, so making
    the consumer touches no file; a ``writer`` passed in is flushed but never closed here.

    Example:
        >>> from torchsystem.services import Producer
        >>> producer = Producer()
        >>> board = TensorBoard("runs/example")
        >>> producer.register(board)
    """

    def __init__(
        self,
        log_dir: str | Path | None = None,
        *,
        writer: Any = None,
        name: str = "tensorboard",
        isolate: bool = False,
    ) -> None:
        super().__init__(name, isolate=isolate)
        self._owned = writer is None
        if writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional dependency
            except ImportError as missing:
                raise ImportError(
                    "TensorBoard needs the tensorboard package: "
                    "pip install 'torchsystem[tensorboard]'"
                ) from missing
            self._factory: Any = lambda: SummaryWriter(None if log_dir is None else str(log_dir))
        else:
            self._factory = lambda: writer
        self._writer: Any = None
        self._seen: PerModel[_Seen] = PerModel(_Seen)
        self._models: list[Any] = []
        self._lock = threading.Lock()
        self.register(Iterated, self.epoch_done)
        self.register(object, self.write)

    @property
    def writer(self) -> Any:
        """The ``SummaryWriter`` (created on first use)."""
        with self._lock:
            if self._writer is None:
                self._writer = self._factory()
            return self._writer

    def write(self, event: object) -> None:
        """Write the scalars of ``event`` if it carries metrics; ignore it otherwise."""
        report = report_of(event)
        if report is None:
            return
        writer, model_id, seen = self.writer, identity(report), self._seen.get(report.model)
        if seen.first_epoch is None:
            seen.first_epoch = report.epoch
            self._models.append(report.model)
        elif report.epoch != seen.first_epoch:
            self._describe(report.model, seen)
        for metric, value in report.metrics:
            tag = f"{model_id}/{metric}/{report.phase}"
            writer.add_scalar(tag, value, report.epoch)
            if not seen.described:
                seen.tags[tag] = value

    def epoch_done(self, event: Iterated) -> None:
        """The model's epoch is complete: its hyperparameters can be written."""
        self._describe(event.model, self._seen.get(event.model))

    def _describe(self, model: Any, seen: _Seen) -> None:
        if seen.described or seen.first_epoch is None:
            return
        seen.described = True
        self._models = [known for known in self._models if known is not model]
        params = _flatten(_metadata(model))
        file_writer = getattr(self.writer, "_get_file_writer", None)
        if not params or not seen.tags or file_writer is None:
            return  # nothing registered, or a writer without the hparams plumbing
        from torch.utils.tensorboard.summary import hparams

        for summary in hparams(params, seen.tags):  # type: ignore[no-untyped-call]
            file_writer().add_summary(summary)

    def flush(self) -> None:
        """Write pending hyperparameters and push what was written to disk."""
        for model in list(self._models):
            self._describe(model, self._seen.get(model))
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush, and close the writer this consumer opened (a later event opens another)."""
        self.flush()
        self._models.clear()
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None and self._owned:
            writer.close()


def _registered(value: Any) -> bool:
    try:
        getarguments(value)
    except AttributeError:
        return False
    return True


def _metadata(model: Any) -> dict[str, Any]:
    """The registry metadata of ``model`` or of its registered attributes: constructor
    arguments recorded when they were made, read from copies of the attribute tables
    (each copied in one step), so another thread may train the model meanwhile."""
    candidates = {"model": model} if _registered(model) else {
        name: value
        for name, value in {**dict(vars(model)), **dict(getattr(model, "_modules", {}))}.items()
        if not name.startswith("_") and _registered(value)
    }
    found = {}
    for name, value in candidates.items():
        try:
            found[name] = getmetadata(value)
        except TypeError:  # arguments that cannot be serialised: name them, skip the rest
            found[name] = {"name": type(value).__name__}
    return found


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, sort_keys=True, default=str)
    return flat
