"""``ProgressBar``: a tqdm bar per phase, refreshed at most every ``interval`` seconds."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from torchsystem.consumers._reports import report_of
from torchsystem.services import Consumer
from torchsystem.training.events import Stepped

__all__ = ["ProgressBar"]


class ProgressBar(Consumer):
    """Show per-step progress of each phase with tqdm; the loss is read at refreshes only.

    Quiet when ``file`` (default ``sys.stderr``) is not a terminal, unless ``enable`` is
    given: then no handler runs per step at all. A bar closes with the phase's metrics
    when the phase's metrics event arrives.

    Example:
        >>> bar = ProgressBar()  # quiet here: doctest output is not a terminal
        >>> bar.enabled
        False
    """

    def __init__(
        self,
        *,
        file: TextIO | None = None,
        enable: bool | None = None,
        interval: float = 0.1,
        leave: bool = False,
        name: str = "progress",
    ) -> None:
        super().__init__(name)
        try:
            import tqdm  # type: ignore[import-untyped]  # optional dependency without stubs
        except ImportError as missing:
            raise ImportError(
                "ProgressBar needs tqdm: pip install 'torchsystem[progress]'"
            ) from missing
        self._tqdm = tqdm.tqdm
        self.file = sys.stderr if file is None else file
        isatty = getattr(self.file, "isatty", None)
        self.enabled = bool(isatty()) if enable is None and callable(isatty) else bool(enable)
        self.interval = interval
        self.leave = leave
        self._bars: dict[tuple[int, str, int], Any] = {}
        self._next_postfix = 0.0
        if self.enabled:
            self.register(Stepped, self.advance)
            self.register(object, self.finish)

    def advance(self, event: Stepped) -> None:
        """Move the phase's bar one step; show the loss when the interval has passed."""
        key = (id(event.model), event.phase, event.epoch)
        bar = self._bars.get(key)
        if bar is None:
            bar = self._bars[key] = self._tqdm(
                total=event.total, desc=f"epoch {event.epoch} {event.phase}", file=self.file,
                leave=self.leave, mininterval=self.interval, dynamic_ncols=True,
            )
        bar.update(1)
        now = time.monotonic()
        if now >= self._next_postfix:
            self._next_postfix = now + self.interval
            bar.set_postfix(loss=f"{float(event.loss):.4f}", refresh=False)

    def finish(self, event: object) -> None:
        """Close the bar of the phase a metrics event reports on."""
        report = report_of(event)
        if report is None:
            return
        bar = self._bars.pop((id(report.model), report.phase, report.epoch), None)
        if bar is not None:
            bar.set_postfix({name: f"{value:.4f}" for name, value in report.metrics}, refresh=False)
            bar.close()

    def close(self) -> None:
        """Close any bar still open."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
