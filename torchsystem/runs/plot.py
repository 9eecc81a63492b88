"""Learning curves of recorded runs as an image file (matplotlib, an optional extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchsystem.runs.database import Database
from torchsystem.runs.queries import RunRecord, metric_history

__all__ = ["plot"]

_STYLES = {"train": "-", "validation": "--", "test": ":"}


def _figure(rows: int) -> Any:
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError as missing:
        raise ImportError(
            "plotting needs matplotlib: pip install 'torchsystem[plot]'"
        ) from missing
    return Figure(figsize=(8, 3.4 * rows), layout="constrained")


def plot(
    database: Database, runs: Sequence[RunRecord], metrics: Sequence[str], output: str | Path,
    phases: Sequence[str] | None = None,
) -> Path:
    """Draw ``metrics`` (one panel each, by epoch) of every run in ``runs`` into
    ``output`` (the format follows its suffix: .png, .svg, .pdf). Each run has its own
    colour, each phase its own line style.

    Raises:
        ValueError: none of ``runs`` recorded one of ``metrics``.
        ImportError: matplotlib is not installed.
    """
    history = metric_history(database, [run.id for run in runs], names=list(metrics),
                             phases=None if phases is None else list(phases))
    missing = [name for name in metrics if not any(p.name == name for p in history)]
    if missing:
        recorded = sorted({p.name for p in metric_history(database, [r.id for r in runs])})
        chosen = ", ".join(str(run.id) for run in runs)
        raise ValueError(f"runs {chosen} recorded no {', '.join(map(repr, missing))}"
                         f"{' in phases ' + ', '.join(phases) if phases else ''}; "
                         f"they recorded: {', '.join(recorded) or 'nothing'}")
    figure = _figure(len(metrics))
    axes = figure.subplots(len(metrics), 1, squeeze=False)[:, 0]
    colours = {run.id: f"C{index % 10}" for index, run in enumerate(runs)}
    for axis, name in zip(axes, metrics, strict=True):
        curves: dict[tuple[int, str], tuple[list[int], list[float]]] = {}
        for point in history:
            if point.name == name:
                epochs, values = curves.setdefault((point.run, point.phase), ([], []))
                epochs.append(point.epoch)
                values.append(point.value)
        names = {run.id: f"{run.model_name} {run.model[:8]}" for run in runs}
        for (run, phase), (epochs, values) in curves.items():
            axis.plot(epochs, values, _STYLES.get(phase, "-."), color=colours[run],
                      marker="." if len(epochs) < 30 else None,
                      label=f"run {run} {names[run]} ({phase})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    target = Path(output)
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    return target
