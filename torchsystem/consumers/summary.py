"""``EpochSummary``: one log line per epoch with every phase's metrics."""

from __future__ import annotations

import logging
from typing import Any

from torchsystem.consumers._reports import MetricsConsumer, report_of
from torchsystem.training.events import Iterated, Stopped

__all__ = ["EpochSummary"]


def format_line(epoch: int, phases: list[tuple[str, tuple[tuple[str, float], ...]]]) -> str:
    """``epoch 3 | train loss 0.1234 accuracy 0.9612 | validation loss ...``."""
    parts = [f"epoch {epoch}"]
    for phase, metrics in phases:
        values = " ".join(f"{name} {value:.4f}" for name, value in metrics)
        parts.append(f"{phase} {values}")
    return " | ".join(parts)


class EpochSummary(MetricsConsumer):
    """Log one line per epoch and model through ``logging``.

    Metrics events are collected per epoch; the line is written when the service reports
    the epoch done (``Iterated``), when a later epoch of the same model arrives, or on
    ``flush()``. An early stop (``Stopped``) is logged with its reason.

    Example:
        >>> summary = EpochSummary("digits")
        >>> summary.logger.name
        'digits'
    """

    def __init__(
        self, logger: logging.Logger | str | None = None, *, level: int = logging.INFO,
        name: str = "summary",
    ) -> None:
        super().__init__(name)
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or "torchsystem.summary")
        self.logger, self.level = logger, level
        self._pending: dict[int, tuple[int, list[tuple[str, Any]]]] = {}
        self.register(Iterated, self.epoch_done)
        self.register(Stopped, self.stopped)
        self.register(object, self.collect)

    def collect(self, event: object) -> None:
        """Remember the metrics of one phase."""
        report = report_of(event)
        if report is None:
            return
        key = id(report.model)
        pending = self._pending.get(key)
        if pending is not None and pending[0] != report.epoch:
            self._write(key)
        self._pending.setdefault(key, (report.epoch, []))[1].append(
            (report.phase, report.metrics)
        )

    def epoch_done(self, event: Iterated) -> None:
        """Write the line of the epoch ``event`` closes."""
        self._write(id(event.model))

    def stopped(self, event: Stopped) -> None:
        """Say why training stopped early."""
        self._write(id(event.model))
        reason = str(event.reason) or type(event.reason).__name__
        self.logger.log(self.level, f"stopped early after epoch {event.epoch}: {reason}")

    def flush(self) -> None:
        """Write every pending line."""
        for key in list(self._pending):
            self._write(key)

    close = flush

    def _write(self, key: int) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self.logger.log(self.level, format_line(*pending))
