"""One table printer for the command line: aligned columns, numbers to the right."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["cell", "flatten", "moment", "table"]


def cell(value: Any) -> str:
    """``value`` as a table shows it: floats with 4 decimals (or 4 significant digits when
    tiny or huge), ``-`` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return " ".join(cell(item) for item in value)
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("-", "nan")
    return True


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The rows under their headers, columns two spaces apart; a column whose cells are
    all numbers is aligned to the right."""
    cells = [[cell(value) for value in row] for row in rows]
    columns = list(zip(headers, *cells, strict=True)) if cells else [(h,) for h in headers]
    widths = [max(len(text) for text in column) for column in columns]
    right = [all(_numeric(text) for text in column[1:]) and len(column) > 1
             for column in columns]
    lines = []
    for line in [list(headers), *cells]:
        parts = [text.rjust(width) if aligned else text.ljust(width)
                 for text, width, aligned in zip(line, widths, right, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as one level of dotted keys: ``optimizer.param_groups.0.lr``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and value and any(
                isinstance(item, (Mapping, list)) for item in value):
            flat.update(flatten({str(index): item for index, item in enumerate(value)},
                                f"{name}."))
        else:
            flat[name] = value
    return flat


def moment(seconds: float | None) -> str:
    """A time stamp in local time, to the second."""
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
