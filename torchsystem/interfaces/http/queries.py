"""Read-only queries of the run database: ``/models``, ``/runs``, ``/runs/{id}/metrics``.

They read the database through ``torchsystem.runs.queries`` (a short read transaction
each, bound parameters only) and never touch a running job's objects. Lists are newest
first and paginated with ``limit`` and ``offset``. Each answers a ``JSONResponse`` of
plain data built here (the ``response_model`` documents it): validating it again through
pydantic would cost a second trip to a worker thread and more time than the read.
"""

import re
from dataclasses import fields
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse

from torchsystem.interfaces.http.dependencies import DatabaseDep, Server, ServerDep
from torchsystem.interfaces.http.models import MetricOut, ModelOut, Problem, RunOut
from torchsystem.runs.database import Database
from torchsystem.runs.errors import UnknownRecord
from torchsystem.runs.queries import (
    MetricRecord,
    ModelRecord,
    RunRecord,
    find_models,
    find_runs,
    get_model,
    get_run,
    latest_metrics,
    metric_history,
)
from torchsystem.runs.schema import STATUSES

__all__ = ["router"]

_STATUS = "^(" + "|".join(re.escape(status) for status in STATUSES) + ")$"
MODEL_KEY = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a run's id")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Text = Annotated[str | None, Query(min_length=1, max_length=128)]
Names = Annotated[list[str] | None, Query(max_length=50)]

router = APIRouter(tags=["queries"], responses={404: {"model": Problem}})


def _unknown(error: UnknownRecord) -> HTTPException:
    return HTTPException(404, str(error))


@router.get("/models", response_model=list[ModelOut], summary="Models, newest first")
def list_models(
    database: DatabaseDep, name: Text = None, limit: Limit = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Models whose name contains ``name`` (any case) or whose hash starts with it."""
    return JSONResponse([_model(model) for model in find_models(
        database, name=name, limit=limit, offset=offset)])


@router.get("/models/{key}", response_model=ModelOut, summary="A model by hash (or prefix)")
def read_model(
    key: Annotated[str, Path(pattern=MODEL_KEY)], database: DatabaseDep,
) -> JSONResponse:
    try:
        return JSONResponse(_model(get_model(database, key)))
    except UnknownRecord as error:
        raise _unknown(error) from None


def _with_latest(server: Server, database: Database, found: list[RunRecord]
                 ) -> list[dict[str, Any]]:
    """The runs as plain data, each with ``latest``: cached for runs that ended (their
    metrics never change again), read for the others."""
    latest = server.latest.get_many(found)
    missing = [run.id for run in found if run.id not in latest]
    if missing:
        for run, values in latest_metrics(database, missing).items():
            latest[run] = {f"{name}/{phase}": None if value != value else value  # NaN: null
                           for (phase, name), value in values.items()}
        server.latest.put_many(found, latest)
    return [{**_run(run), "latest": latest.get(run.id, {})} for run in found]


# The records' own to_dict() copies deeply (dataclasses.asdict): these read the fields
# as they are, to be serialised at once (a fifth of the time of a metrics request).
_RUN_FIELDS = tuple(field.name for field in fields(RunRecord))
_MODEL_FIELDS = tuple(field.name for field in fields(ModelRecord))


def _model(model: ModelRecord) -> dict[str, Any]:
    return {name: getattr(model, name) for name in _MODEL_FIELDS}


def _run(run: RunRecord) -> dict[str, Any]:
    return {name: getattr(run, name) for name in _RUN_FIELDS}


def _point(point: MetricRecord) -> dict[str, Any]:
    value = point.value
    return {"run": point.run, "epoch": point.epoch, "step": point.step, "phase": point.phase,
            "name": point.name, "value": None if value != value else value,  # NaN: null
            "time": point.time}


@router.get("/runs", response_model=list[RunOut], summary="Runs, newest first")
def list_runs(
    server: ServerDep, database: DatabaseDep, model: Text = None, name: Text = None,
    status: Annotated[str | None, Query(pattern=_STATUS)] = None, limit: Limit = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Runs of the model whose hash starts with ``model``, of models whose name contains
    ``name``, with ``status``; each with the latest value of every metric."""
    found = find_runs(database, model=model, name=name, status=status, limit=limit,
                      offset=offset)
    return JSONResponse(_with_latest(server, database, found))


@router.get("/runs/{run}", response_model=RunOut, summary="A run")
def read_run(run: RunId, server: ServerDep, database: DatabaseDep) -> JSONResponse:
    try:
        return JSONResponse(_with_latest(server, database, [get_run(database, run)])[0])
    except UnknownRecord as error:
        raise _unknown(error) from None


@router.get("/runs/{run}/metrics", response_model=list[MetricOut],
            summary="A run's metric history, in the order recorded")
def read_metrics(
    run: RunId, database: DatabaseDep, name: Names = None,
    phase: Names = None, limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    offset: Offset = 0,
) -> JSONResponse:
    """Values of ``run`` (repeat ``name`` and ``phase`` to keep only those)."""
    found = metric_history(database, [run], names=name, phases=phase, limit=limit,
                           offset=offset)
    if not found:  # none, or no such run
        try:
            get_run(database, run)
        except UnknownRecord as error:
            raise _unknown(error) from None
    return JSONResponse([_point(point) for point in found])
