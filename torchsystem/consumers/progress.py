"""``ProgressBar``: a tqdm bar per phase, refreshed at most every ``interval`` seconds."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from torchsystem.consumers._reports import MetricsConsumer, report_of
from torchsystem.training.events import Stepped

__all__ = ["ProgressBar"]


class _Bar:
    """One tqdm bar and the steps not drawn yet (tqdm is told at most once per interval)."""

    __slots__ = ("bar", "due", "epoch", "pending")

    def __init__(self, bar: Any, epoch: int) -> None:
        self.bar, self.epoch, self.pending, self.due = bar, epoch, 0, 0.0


class ProgressBar(MetricsConsumer):
    """Show per-step progress of each phase with tqdm; the loss is read at refreshes only.

    Quiet when ``file`` (default ``sys.stderr``) is not a terminal, unless ``enable`` is
    given: then no handler runs per step at all. Steps are counted here and handed to
    tqdm at most every ``interval`` seconds, where the batch loss is read (one host
    synchronisation per refresh, none per step). One bar per phase is reused from epoch
    to epoch and cleared when the phase ends (``leave=True`` keeps each finished bar).

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
        self.interval, self.leave = interval, leave
        self._bars: dict[tuple[int, str], _Bar] = {}
        if self.enabled:
            self.register(Stepped, self.advance)
            self.register(object, self.finish)

    def advance(self, event: Stepped) -> None:
        """Count one step; draw the bar (with the loss) when the interval has passed."""
        state = self._bars.get((id(event.model), event.phase))
        if state is None or state.epoch != event.epoch:
            state = self._start(event, state)
        state.pending += 1
        now = time.monotonic()
        if now >= state.due:
            state.due = now + self.interval
            state.bar.set_postfix(loss=f"{float(event.loss):.4f}", refresh=False)
            state.bar.update(state.pending)
            state.pending = 0

    def _start(self, event: Stepped, state: _Bar | None) -> _Bar:
        description = f"epoch {event.epoch} {event.phase}"
        if state is None or self.leave:
            bar = self._tqdm(
                total=event.total, desc=description, file=self.file, leave=self.leave,
                mininterval=0, miniters=0, dynamic_ncols=True,  # throttled here instead
            )
            state = self._bars[(id(event.model), event.phase)] = _Bar(bar, event.epoch)
        else:
            state.bar.set_description(description, refresh=False)
            state.bar.reset(total=event.total)  # draws the bar with its new description
            state.epoch, state.pending = event.epoch, 0
        state.due = time.monotonic() + self.interval
        return state

    def finish(self, event: object) -> None:
        """End the bar of the phase a metrics event reports on, with its metrics."""
        report = report_of(event)
        if report is None:
            return
        state = self._bars.get((id(report.model), report.phase))
        if state is None or state.epoch != report.epoch:
            return
        if not self.leave:
            state.bar.clear()  # the epoch's record is the summary line; the bar is reused
            return
        bar = state.bar
        bar.update(state.pending)
        bar.set_postfix({name: f"{value:.4f}" for name, value in report.metrics}, refresh=False)
        bar.close()
        del self._bars[(id(report.model), report.phase)]

    def close(self) -> None:
        """Close every bar (drawing the steps not drawn yet)."""
        for state in self._bars.values():
            state.bar.update(state.pending)
            state.bar.close()
        self._bars.clear()
