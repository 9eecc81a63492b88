"""Read-only queries of the run database: ``/models``, ``/runs``, ``/runs/{id}/metrics``.

They read the database through ``torchsystem.runs.queries`` (a short read transaction
each, bound parameters only) and never touch a running job's objects. Lists are newest
first and paginated with ``limit`` and ``offset``. Each answers JSON made
here (the ``response_model`` documents it): validating it again through pydantic would
cost a second trip to a worker thread and more time than the read. The read and the
answer's JSON are made in one trip to a worker thread, among at most ``Server.readers``
at once (``Server.read``). The JSON columns of runs (command, hyperparameters) are sent
as stored, and the JSON of a run that ended is made once (``Server.ended``).
"""

import json
import re
from dataclasses import fields
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response

from torchsystem.interfaces.events import jsonable
from torchsystem.interfaces.http.dependencies import DatabaseDep, EndedRuns, Server, ServerDep
from torchsystem.interfaces.http.models import MetricOut, ModelOut, Problem, RunOut
from torchsystem.runs.database import Database
from torchsystem.runs.errors import UnknownRecord
from torchsystem.runs.queries import (
    ModelRecord,
    find_models,
    find_run_rows,
    get_model,
    get_run,
    latest_metrics,
    metric_rows,
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
async def list_models(
    server: ServerDep, database: DatabaseDep, name: Text = None, limit: Limit = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Models whose name contains ``name`` (any case) or whose hash starts with it."""
    return await server.read(_models, database, name, limit, offset)


def _models(database: Database, name: str | None, limit: int, offset: int) -> JSONResponse:
    return JSONResponse([_model(model) for model in find_models(
        database, name=name, limit=limit, offset=offset)])


@router.get("/models/{key}", response_model=ModelOut, summary="A model by hash (or prefix)")
async def read_model(
    key: Annotated[str, Path(pattern=MODEL_KEY)], server: ServerDep, database: DatabaseDep,
) -> JSONResponse:
    return await server.read(_one_model, database, key)


def _one_model(database: Database, key: str) -> JSONResponse:
    try:
        return JSONResponse(_model(get_model(database, key)))
    except UnknownRecord as error:
        raise _unknown(error) from None


def _with_latest(server: Server, database: Database, rows: list[Any]) -> list[bytes]:
    """The JSON of each run of ``rows`` (``find_run_rows``), with ``latest``.

    A run that ended never changes again: its JSON is made once and kept
    (``Server.ended``). The others are made anew, their latest metrics read at once for
    all of them. The JSON columns are sent on as stored, never decoded.
    """
    parts = [server.ended.get(row.id) for row in rows]  # only runs that ended are kept
    missing = [row.id for row, part in zip(rows, parts, strict=True) if part is None]
    if missing:
        latest = latest_metrics(database, missing)
        for index, row in enumerate(rows):
            if parts[index] is None:
                part = _run_json(row, latest.get(row.id, {}))
                if row.effective in EndedRuns.ENDED:
                    server.ended.put(row.id, part)
                parts[index] = part
    return [part for part in parts if part is not None]


def _json(content: bytes) -> Response:
    return Response(content, media_type="application/json")


_SCALARS = ("id", "model", "model_name", "status", "started", "ended", "epochs", "host",
            "pid", "heartbeat")


def _run_json(row: Any, latest: dict[tuple[str, str], float]) -> bytes:
    """One run as ``RunOut``'s JSON, its stored JSON columns spliced in as they are."""
    scalars = [row.id, row.model, row.model_name, row.effective, row.started, row.ended,
               row.epochs, row.host, row.pid, row.heartbeat]
    head = _dumps(dict(zip(_SCALARS, scalars, strict=True)))[:-1]
    values = {f"{name}/{phase}": None if value != value else value  # NaN: null
              for (phase, name), value in latest.items()}
    return (f'{head},"command":{_stored(row.command)},'
            f'"hyperparameters":{_stored(row.hyperparameters)},"reason":{_dumps(row.reason)},'
            f'"latest":{_dumps(values)}}}').encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _stored(text: str) -> str:
    """A stored JSON column (read as text) as strict JSON: as it is, unless it holds a
    NaN or an infinity (Python's ``json`` writes them, JSON has none): those become
    ``null``."""
    if "NaN" in text or "Infinity" in text:
        return _dumps(jsonable(json.loads(text)))
    return text


# The records' own to_dict() copies deeply (dataclasses.asdict): this reads the fields
# as they are, to be serialised at once.
_MODEL_FIELDS = tuple(field.name for field in fields(ModelRecord))
_POINT = ("run", "epoch", "step", "phase", "name", "value", "time")


def _model(model: ModelRecord) -> dict[str, Any]:
    return {name: getattr(model, name) for name in _MODEL_FIELDS}


@router.get("/runs", response_model=list[RunOut], summary="Runs, newest first")
async def list_runs(
    server: ServerDep, database: DatabaseDep, model: Text = None, name: Text = None,
    status: Annotated[str | None, Query(pattern=_STATUS)] = None, limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Runs of the model whose hash starts with ``model``, of models whose name contains
    ``name``, with ``status``; each with the latest value of every metric."""
    return await server.read(_runs, server, database, model, name, status, limit, offset)



def _runs(server: Server, database: Database, model: str | None, name: str | None,
          status: str | None, limit: int, offset: int) -> Response:
    return _json(b"[" + b",".join(_with_latest(server, database, find_run_rows(
        database, model=model, name=name, status=status, limit=limit, offset=offset))) + b"]")


@router.get("/runs/{run}", response_model=RunOut, summary="A run")
async def read_run(run: RunId, server: ServerDep, database: DatabaseDep) -> Response:
    return await server.read(_one_run, server, database, run)


def _one_run(server: Server, database: Database, run: int) -> Response:
    rows = find_run_rows(database, run=run)
    if not rows:
        try:
            get_run(database, run)  # says what exists
        except UnknownRecord as error:
            raise _unknown(error) from None
    return _json(_with_latest(server, database, rows)[0])


@router.get("/runs/{run}/metrics", response_model=list[MetricOut],
            summary="A run's metric history, in the order recorded")
async def read_metrics(
    run: RunId, server: ServerDep, database: DatabaseDep, name: Names = None,
    phase: Names = None, limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    offset: Offset = 0,
) -> Response:
    """Values of ``run`` (repeat ``name`` and ``phase`` to keep only those)."""
    return await server.read(_metrics, database, run, name, phase, limit, offset)


def _metrics(database: Database, run: int, names: list[str] | None,
             phases: list[str] | None, limit: int, offset: int) -> Response:
    found = metric_rows(database, run, names=names, phases=phases, limit=limit,
                        offset=offset)
    if not found:  # none, or no such run
        try:
            get_run(database, run)
        except UnknownRecord as error:
            raise _unknown(error) from None
    return _json(_dumps([dict(zip(_POINT, point, strict=True)) for point in found]).encode())
