"""What ``torchsystem runs`` shows: each command builds a JSON-ready payload, and a
renderer turns that payload into text, so ``--json`` and the tables never disagree."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torchsystem.runs.database import Database
from torchsystem.runs.errors import UnknownRecord
from torchsystem.runs.queries import (
    RunRecord,
    find_models,
    find_runs,
    get_model,
    get_run,
    latest_metrics,
    metric_history,
)
from torchsystem.runs.table import cell, flatten, moment, table

__all__ = ["MetricFilter", "compare", "listing", "resolve_runs", "show"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
}
_FILTER = re.compile(r"^\s*([^<>=!\s]+)\s*(?:(<=|>=|==|!=|<|>|=)\s*(\S+))?\s*$")
_PHASES = {"train": 0, "validation": 1, "test": 2}


def column(phase: str, name: str) -> str:
    """The name of a metric's column: ``loss/train``."""
    return f"{name}/{phase}"


@dataclass(frozen=True)
class MetricFilter:
    """``NAME[/PHASE][OP VALUE]``: runs whose latest ``NAME`` (in ``PHASE``, else in any
    phase) exists, or compares with ``VALUE`` by ``OP`` (``< <= > >= = !=``)."""

    name: str
    phase: str | None
    compare: Callable[[float, float], bool] | None
    value: float

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        """Raises: ValueError: ``text`` is not ``NAME[/PHASE][OP VALUE]``."""
        found = _FILTER.match(text)
        value = found.group(3) if found else None
        try:
            number = math.nan if value is None else float(value)
        except ValueError:
            found = None
        if found is None:
            raise ValueError(f"{text!r} is not NAME[/PHASE][OP NUMBER], e.g. "
                             "'accuracy/validation>0.9' or 'loss'")
        name, _, phase = found.group(1).partition("/")
        op = found.group(2)
        return cls(name, phase or None, None if op is None else _OPERATORS[op], number)

    def keys(self, latest: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
        return [(phase, name) for phase, name in latest
                if name == self.name and self.phase in (None, phase)]

    def matches(self, latest: dict[tuple[str, str], float]) -> bool:
        keys = self.keys(latest)
        if self.compare is None:
            return bool(keys)
        return any(self.compare(latest[key], self.value) for key in keys)


def _columns(latest: Sequence[dict[tuple[str, str], float]],
             filters: Sequence[MetricFilter]) -> list[tuple[str, str]]:
    keys: dict[tuple[str, str], None] = {}
    for values in latest:
        chosen = [key for f in filters for key in f.keys(values)] if filters else [
            key for key in values if not key[1].startswith("lr")]
        keys.update(dict.fromkeys(chosen))
    names = list(dict.fromkeys(name for _, name in keys))
    return sorted(keys, key=lambda key: (names.index(key[1]), _PHASES.get(key[0], 9), key[0]))


def _with_metrics(runs: Sequence[RunRecord], latest: dict[int, dict[tuple[str, str], float]],
                  ) -> list[dict[str, Any]]:
    return [{**run.to_dict(), "metrics": {
        column(*key): None if math.isnan(value) else value
        for key, value in latest.get(run.id, {}).items()}} for run in runs]


def listing(database: Database, *, name: str | None = None, status: str | None = None,
            metrics: Sequence[MetricFilter] = (), limit: int | None = None) -> dict[str, Any]:
    """Runs newest first, with their latest metrics, filtered by model name, status and
    metric conditions."""
    runs = find_runs(database, name=name, status=status, limit=None if metrics else limit)
    latest = latest_metrics(database, [run.id for run in runs])
    runs = [run for run in runs if all(f.matches(latest[run.id]) for f in metrics)][:limit]
    columns = _columns([latest[run.id] for run in runs], metrics)
    return {"database": database.name, "columns": [column(*key) for key in columns],
            "runs": _with_metrics(runs, latest)}


def list_models(database: Database, *, name: str | None = None) -> dict[str, Any]:
    """Models newest first, each with the number of its runs."""
    models = find_models(database, name=name)
    runs = find_runs(database, name=name)
    counts = {model.hash: sum(run.model == model.hash for run in runs) for model in models}
    return {"database": database.name,
            "models": [{**model.to_dict(), "runs": counts[model.hash]} for model in models]}


def resolve_runs(database: Database, keys: Sequence[str]) -> list[RunRecord]:
    """The runs ``keys`` name: a run id, or a model hash (or unique prefix) for all its
    runs, oldest first within a model.

    Raises:
        UnknownRecord: a key names no run and no model.
    """
    found: list[RunRecord] = []
    for key in keys:
        if key.isdigit():
            try:
                found.append(get_run(database, int(key)))
                continue
            except UnknownRecord:
                if len(key) < 4:
                    raise
        found.extend(reversed(find_runs(database, model=get_model(database, key).hash)))
    return found


def show(database: Database, key: str) -> dict[str, Any]:
    """A run (``key`` is its id) with its history, or a model with its runs."""
    if key.isdigit():
        try:
            run = get_run(database, int(key))
        except UnknownRecord:
            if len(key) < 4:
                raise
        else:
            history = metric_history(database, [run.id])
            latest = latest_metrics(database, [run.id])
            return {"run": _with_metrics([run], latest)[0],
                    "history": [point.to_dict() for point in history]}
    model = get_model(database, key)
    runs = find_runs(database, model=model.hash)
    latest = latest_metrics(database, [run.id for run in runs])
    return {"model": model.to_dict(), "columns": [column(*k) for k in _columns(
        [latest[run.id] for run in runs], ())], "runs": _with_metrics(runs, latest)}


def compare(database: Database, keys: Sequence[str]) -> dict[str, Any]:
    """The runs ``keys`` name, side by side."""
    runs = resolve_runs(database, keys)
    latest = latest_metrics(database, [run.id for run in runs])
    return {"columns": [column(*k) for k in _columns([latest[run.id] for run in runs], ())],
            "runs": _with_metrics(runs, latest)}


# ------------------------------------------------------------------ text renderers
def _duration(run: dict[str, Any]) -> str:
    if run["ended"] is None:
        return "-"
    seconds = run["ended"] - run["started"]
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _runs_table(runs: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    headers = ["run", "model", "name", "status", "epochs", "started", "duration", *columns]
    rows = [[run["id"], run["model"][:12], run["model_name"], run["status"], run["epochs"],
             moment(run["started"]), _duration(run), *(run["metrics"].get(c) for c in columns)]
            for run in runs]
    return table(headers, rows)


def render_listing(payload: dict[str, Any]) -> str:
    if not payload["runs"]:
        return f"no runs match in {payload['database']}"
    return _runs_table(payload["runs"], payload["columns"])


def render_models(payload: dict[str, Any]) -> str:
    if not payload["models"]:
        return f"no models match in {payload['database']}"
    return table(["model", "name", "runs", "recorded", "arguments"], [
        [m["hash"], m["name"], m["runs"], moment(m["created"]),
         " ".join(f"{k}={cell(v)}" for k, v in flatten(m["arguments"]).items())]
        for m in payload["models"]])


def _pairs(title: str, data: dict[str, Any]) -> str:
    flat = flatten(data)
    if not flat:
        return f"{title}\n  (none)"
    width = max(len(key) for key in flat)
    return "\n".join([title, *(f"  {key.ljust(width)}  {cell(value)}"
                                for key, value in flat.items())])


def render_show(payload: dict[str, Any]) -> str:
    if "model" in payload:
        model = payload["model"]
        parts = [f"model {model['hash']}: {model['name']} (recorded {moment(model['created'])})",
                 _pairs("arguments", model["arguments"]), "runs",
                 _runs_table(payload["runs"], payload["columns"])]
        return "\n".join(parts)
    run = payload["run"]
    ending = f"{run['status']}" + (f": {run['reason']}" if run["reason"] else "")
    header = [
        f"run {run['id']} of model {run['model']} ({run['model_name']}): {ending}",
        f"  started  {moment(run['started'])}, ended {moment(run['ended'])} "
        f"({_duration(run)}), {run['epochs']} epoch(s)",
        f"  on       {run['host']}, process {run['pid']}",
        f"  command  {' '.join(run['command'])}",
    ]
    return "\n".join([*header, _pairs("hyperparameters", run["hyperparameters"]),
                      "history", _history(payload["history"])])


def _history(points: Sequence[dict[str, Any]]) -> str:
    if not points:
        return "  (no metrics recorded)"
    keys = _columns([{(p["phase"], p["name"]): 0.0 for p in points}], [])
    keys += [key for key in dict.fromkeys((p["phase"], p["name"]) for p in points)
             if key not in keys]
    rows: dict[int, dict[str, Any]] = {}
    for point in points:
        row = rows.setdefault(point["epoch"], {"step": point["step"]})
        row[column(point["phase"], point["name"])] = point["value"]
    names = [column(*key) for key in keys]
    lines = [[epoch, row["step"], *(row.get(n) for n in names)] for epoch, row in rows.items()]
    return table(["epoch", "step", *names], lines)


def render_compare(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    fields: list[tuple[str, list[Any]]] = [
        ("model", [run["model"][:12] for run in runs]),
        ("name", [run["model_name"] for run in runs]),
        ("status", [run["status"] for run in runs]),
        ("epochs", [run["epochs"] for run in runs]),
        ("duration", [_duration(run) for run in runs]),
    ]
    flat = [flatten(run["hyperparameters"]) for run in runs]
    for key in dict.fromkeys(k for settings in flat for k in settings):
        fields.append((key, [settings.get(key) for settings in flat]))
    for name in payload["columns"]:
        fields.append((name, [run["metrics"].get(name) for run in runs]))
    rows = [["*" if len({cell(v) for v in values}) > 1 else "", key, *values]
            for key, values in fields]
    return table(["", "", *(f"run {run['id']}" for run in runs)], rows) + \
        "\n(* the runs differ)"
