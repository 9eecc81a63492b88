"""``TensorBoard``: per-epoch scalars and the model's registry metadata."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from torchsystem.consumers._reports import Report, identity, report_of
from torchsystem.registry import getarguments, getmetadata
from torchsystem.services import Consumer

__all__ = ["TensorBoard"]


class TensorBoard(Consumer):
    """Write every metrics event as TensorBoard scalars, tagged ``{model.id}/{metric}/{phase}``.

    The step is the event's epoch. The first time a model is seen, its registry metadata
    (name, constructor arguments, hash; of the model itself when registered, else of its
    registered attributes such as ``nn``) is written as hyperparameters. The writer is
    created on the first event, so constructing the consumer touches no file.

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
        self._described: set[str] = set()
        self._lock = threading.Lock()
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
        writer, model_id = self.writer, identity(report.model)
        if model_id not in self._described:
            self._described.add(model_id)
            self._describe(writer, model_id, report)
        for metric, value in report.metrics:
            writer.add_scalar(f"{model_id}/{metric}/{report.phase}", value, report.epoch)

    def _describe(self, writer: Any, model_id: str, report: Report) -> None:
        from torch.utils.tensorboard.summary import hparams

        params = _flatten(_metadata(report.model))
        if not params:
            return
        tags = {f"{model_id}/{metric}/{report.phase}": value for metric, value in report.metrics}
        file_writer = writer._get_file_writer()
        for summary in hparams(params, tags):  # type: ignore[no-untyped-call]
            file_writer.add_summary(summary)

    def flush(self) -> None:
        """Push what was written to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the writer (a later event opens a new one)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


def _registered(value: Any) -> bool:
    try:
        getarguments(value)
    except AttributeError:
        return False
    return True


def _metadata(model: Any) -> dict[str, Any]:
    if _registered(model):
        return {"model": getmetadata(model)}
    found = {}
    for attribute, value in vars(model).items():
        if not attribute.startswith("_") and _registered(value):
            found[attribute] = getmetadata(value)
    for attribute, value in getattr(model, "_modules", {}).items():
        if _registered(value):
            found[attribute] = getmetadata(value)
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
