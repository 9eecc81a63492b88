"""Read the run database: models, runs, metric history, checkpoints, as frozen records.

Every query opens its own read transaction, so it never blocks a writer for long and
never touches a training process's objects. A run recorded as running whose process is
gone reads as ``interrupted`` (and is marked so where the database is writable).

Example:
    >>> from torchsystem.runs.database import Database
    >>> database = Database("sqlite://")
    >>> find_runs(database)
    []
    >>> database.close()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, Text, and_, case, cast, func, literal, or_, select

from torchsystem.runs.database import Database
from torchsystem.runs.errors import UnknownRecord
from torchsystem.runs.schema import INTERRUPTED, RUNNING, checkpoints, metrics, models, runs

__all__ = [
    "CheckpointRecord",
    "MetricRecord",
    "ModelRecord",
    "RunRecord",
    "find_checkpoints",
    "find_models",
    "find_run_rows",
    "find_runs",
    "get_model",
    "get_run",
    "latest_metrics",
    "metric_history",
    "metric_rows",
]


@dataclass(frozen=True)
class ModelRecord:
    """A model identity: ``hash`` (the aggregate's id), ``name``, registry ``arguments``."""

    hash: str
    name: str
    arguments: dict[str, Any]
    created: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunRecord:
    """One training run of ``model`` (``model_name`` is the model's ``name``)."""

    id: int
    model: str
    model_name: str
    status: str
    started: float
    ended: float | None
    epochs: int
    host: str
    pid: int
    heartbeat: float | None
    command: list[str]
    hyperparameters: dict[str, Any]
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricRecord:
    """One value of metric ``name`` in ``phase`` at ``epoch`` (and ``step``) of ``run``."""

    run: int
    epoch: int
    step: int | None
    phase: str
    name: str
    value: float
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": None if math.isnan(self.value) else self.value}


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint file of ``model`` written after ``epoch``, with the metrics then."""

    id: int
    model: str
    run: int | None
    epoch: int
    step: int | None
    path: str
    metrics: dict[str, float | None]
    created: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_models(
    database: Database, *, name: str | None = None, limit: int | None = None, offset: int = 0,
) -> list[ModelRecord]:
    """Models whose name contains ``name`` (any case) or whose hash starts with it,
    newest first."""
    query = select(models).order_by(models.c.created.desc(), models.c.hash)
    if name is not None:
        query = query.where(or_(models.c.name.ilike(f"%{_escaped(name)}%", escape="\\"),
                                models.c.hash.startswith(name, autoescape=True)))
    with database.translated(), database.transaction(write=False) as connection:
        rows = connection.execute(query.limit(limit).offset(offset)).all()
    return [ModelRecord(row.hash, row.name, dict(row.arguments), row.created) for row in rows]


def get_model(database: Database, key: str) -> ModelRecord:
    """The model whose hash is ``key`` or starts with it (a unique prefix).

    Raises:
        UnknownRecord: no model, or several, answer to ``key``.
    """
    query = select(models).where(models.c.hash.startswith(key, autoescape=True)).limit(6)
    with database.translated(), database.transaction(write=False) as connection:
        rows = connection.execute(query).all()
    exact = [row for row in rows if row.hash == key]
    rows = exact or rows
    if len(rows) != 1:
        raise UnknownRecord(database.name, _unknown(database, "model", key, [r.hash for r in rows]))
    row = rows[0]
    return ModelRecord(row.hash, row.name, dict(row.arguments), row.created)


def _unknown(database: Database, kind: str, key: str, candidates: list[str]) -> str:
    if candidates:
        return f"{kind} {key!r} is ambiguous in {database.name}: it starts {', '.join(candidates)}"
    known = find_runs(database, limit=5)
    if not known:
        return f"no {kind} {key!r}: the run database {database.name} holds no runs yet"
    latest = ", ".join(f"run {run.id} (model {run.model[:12]})" for run in known)
    return f"no {kind} {key!r} in {database.name}; the latest are {latest}"


def _runs_query(dead: frozenset[int], raw: bool = False) -> Select[Any]:
    if not dead:  # the usual case: built once (statements are immutable)
        return _LIVE_QUERIES[raw]
    return _build_runs_query(dead, raw)


def _build_runs_query(dead: frozenset[int], raw: bool) -> Select[Any]:
    status: Any = runs.c.status
    if dead:  # a dead run reads as interrupted even where it cannot be marked so
        status = case((runs.c.id.in_(dead), literal(INTERRUPTED)), else_=runs.c.status)
    columns: list[Any] = [runs]
    if raw:  # the JSON columns as the text stored, never decoded
        columns = [column for column in runs.c if column.name not in _JSON_COLUMNS]
        columns += [cast(runs.c[name], Text).label(name) for name in _JSON_COLUMNS]
    return select(*columns, models.c.name.label("model_name"), status.label("effective")) \
        .join(models, models.c.hash == runs.c.model)


_JSON_COLUMNS = ("command", "hyperparameters")
_LIVE_QUERIES = {raw: _build_runs_query(frozenset(), raw) for raw in (False, True)}


def _run(row: Any) -> RunRecord:
    return RunRecord(
        row.id, row.model, row.model_name, row.effective, row.started, row.ended, row.epochs,
        row.host, row.pid, row.heartbeat, list(row.command), dict(row.hyperparameters),
        row.reason,
    )


def find_runs(
    database: Database, *, model: str | None = None, name: str | None = None,
    status: str | None = None, limit: int | None = None, offset: int = 0,
) -> list[RunRecord]:
    """Runs, newest first: of the model whose hash starts with ``model``, of models whose
    name contains ``name`` (any case) or whose hash starts with it, with ``status``."""
    return [_run(row) for row in _find_rows(database, model, name, status, limit, offset)]


def find_run_rows(
    database: Database, *, model: str | None = None, name: str | None = None,
    status: str | None = None, limit: int | None = None, offset: int = 0,
    run: int | None = None,
) -> list[Any]:
    """What ``find_runs`` finds (or only ``run``), as the rows read: the fields of
    ``RunRecord`` (``effective`` is the status) with ``command`` and ``hyperparameters``
    as the JSON text stored, for a server that sends them on without decoding them."""
    return _find_rows(database, model, name, status, limit, offset, run=run, raw=True)


def _find_rows(
    database: Database, model: str | None, name: str | None, status: str | None,
    limit: int | None, offset: int, *, run: int | None = None, raw: bool = False,
) -> list[Any]:
    dead = database.reconcile()
    query = _runs_query(dead, raw).order_by(runs.c.id.desc())
    if run is not None:
        query = query.where(runs.c.id == run)
    if model is not None:
        query = query.where(runs.c.model.startswith(model, autoescape=True))
    if name is not None:
        query = query.where(or_(models.c.name.ilike(f"%{_escaped(name)}%", escape="\\"),
                                runs.c.model.startswith(name, autoescape=True)))
    if status is not None:
        query = query.where(_status_is(status, dead))
    with database.translated(), database.transaction(write=False) as connection:
        return list(connection.execute(query.limit(limit).offset(offset)).all())


def _status_is(status: str, dead: frozenset[int]) -> Any:
    if not dead:
        return runs.c.status == status
    if status == INTERRUPTED:
        return or_(runs.c.status == status, runs.c.id.in_(dead))
    if status == RUNNING:
        return and_(runs.c.status == status, runs.c.id.not_in(dead))
    return runs.c.status == status


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_run(database: Database, run: int) -> RunRecord:
    """The run with id ``run``.

    Raises:
        UnknownRecord: there is none.
    """
    dead = database.reconcile()
    with database.translated(), database.transaction(write=False) as connection:
        row = connection.execute(_runs_query(dead).where(runs.c.id == run)).first()
    if row is None:
        raise UnknownRecord(database.name, _unknown(database, "run", str(run), []))
    return _run(row)


def metric_history(
    database: Database, runs_: Sequence[int], *, names: Sequence[str] | None = None,
    phases: Sequence[str] | None = None, limit: int | None = None, offset: int = 0,
) -> list[MetricRecord]:
    """The metric rows of ``runs_`` in the order they were recorded (by run, then epoch),
    optionally only ``names`` and ``phases``."""
    query = select(metrics).where(metrics.c.run.in_(list(runs_)))
    if names is not None:
        query = query.where(metrics.c.name.in_(list(names)))
    if phases is not None:
        query = query.where(metrics.c.phase.in_(list(phases)))
    query = query.order_by(metrics.c.run, metrics.c.epoch, metrics.c.id)
    with database.translated(), database.transaction(write=False) as connection:
        rows = connection.execute(query.limit(limit).offset(offset)).all()
    return [MetricRecord(row.run, row.epoch, row.step, row.phase, row.name,
                         math.nan if row.value is None else row.value, row.time) for row in rows]


def metric_rows(
    database: Database, run: int, *, names: Sequence[str] | None = None,
    phases: Sequence[str] | None = None, limit: int | None = None, offset: int = 0,
) -> list[tuple[int, int, int | None, str, str, float | None, float]]:
    """``metric_history`` of one run as plain tuples ``(run, epoch, step, phase, name,
    value, time)``, ``None`` for a NaN: no record is built, for a server that sends
    them on."""
    query = select(metrics.c.run, metrics.c.epoch, metrics.c.step, metrics.c.phase,
                   metrics.c.name, metrics.c.value, metrics.c.time).where(metrics.c.run == run)
    if names is not None:
        query = query.where(metrics.c.name.in_(list(names)))
    if phases is not None:
        query = query.where(metrics.c.phase.in_(list(phases)))
    query = query.order_by(metrics.c.epoch, metrics.c.id).limit(limit).offset(offset)
    with database.translated(), database.transaction(write=False) as connection:
        rows = connection.execute(query).all()
    return [(row[0], row[1], row[2], row[3], row[4],
             None if row[5] is None or row[5] != row[5] else row[5], row[6]) for row in rows]


def latest_metrics(
    database: Database, runs_: Sequence[int],
) -> dict[int, dict[tuple[str, str], float]]:
    """For each run, the last value recorded of each ``(phase, name)``."""
    last = select(func.max(metrics.c.id).label("id")).where(metrics.c.run.in_(list(runs_))) \
        .group_by(metrics.c.run, metrics.c.phase, metrics.c.name).subquery()
    query = select(metrics.c.run, metrics.c.phase, metrics.c.name, metrics.c.value) \
        .join(last, last.c.id == metrics.c.id).order_by(metrics.c.id)
    found: dict[int, dict[tuple[str, str], float]] = {run: {} for run in runs_}
    with database.translated(), database.transaction(write=False) as connection:
        for row in connection.execute(query):
            value = math.nan if row.value is None else row.value
            found.setdefault(row.run, {})[(row.phase, row.name)] = value
    return found


def find_checkpoints(
    database: Database, *, model: str | None = None, run: int | None = None,
) -> list[CheckpointRecord]:
    """Indexed checkpoints of ``model`` (its full hash) or ``run``, newest epoch first."""
    query = select(checkpoints).order_by(checkpoints.c.epoch.desc(), checkpoints.c.id.desc())
    if model is not None:
        query = query.where(checkpoints.c.model == model)
    if run is not None:
        query = query.where(checkpoints.c.run == run)
    with database.translated(), database.transaction(write=False) as connection:
        rows = connection.execute(query).all()
    return [CheckpointRecord(row.id, row.model, row.run, row.epoch, row.step, row.path,
                             dict(row.metrics), row.created) for row in rows]
