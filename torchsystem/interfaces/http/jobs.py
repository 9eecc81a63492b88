"""``/jobs``: what was accepted, how it goes, its live events, and a graceful stop."""

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from torchsystem.interfaces.http.dependencies import JobsDep, Server, ServerDep
from torchsystem.interfaces.http.models import JobOut, Problem
from torchsystem.interfaces.job import ENDED, Job
from torchsystem.interfaces.jobs import Jobs, UnknownJob
from torchsystem.runs.schema import runs

__all__ = ["JOB_ID", "router", "runs_of"]

JOB_ID = r"^[0-9a-f]{12}$"
JobId = Annotated[str, Path(pattern=JOB_ID, description="a job's id: 12 hex digits")]
_RECENT = 500  # a job's runs are looked for among the newest runs
KEEP_ALIVE = 15.0

router = APIRouter(prefix="/jobs", tags=["jobs"], responses={404: {"model": Problem}})


def runs_of(server: Server, job: Job) -> list[int]:
    """Ids of the runs recorded with the job's tag (``JobContext.tags``), oldest first;
    remembered once the job has ended."""
    if job.id in server.runs:
        return server.runs[job.id]
    if job.started is None or server.database is None:
        return []
    ended = job.status in ENDED
    recent = select(runs.c.id, runs.c.hyperparameters).order_by(runs.c.id.desc()) \
        .limit(_RECENT).subquery()
    query = select(recent.c.id).where(
        recent.c.hyperparameters["job"].as_string() == job.id).order_by(recent.c.id)
    with server.database.translated(), server.database.transaction(write=False) as connection:
        found = [int(row.id) for row in connection.execute(query)]
    if ended:
        server.runs[job.id] = found
    return found


def _job(server: Server, job: Job) -> dict[str, Any]:
    return {**job.to_dict(), "runs": runs_of(server, job)}


def _find(jobs: Jobs, key: str) -> Job:
    try:
        return jobs.get(key)
    except UnknownJob as error:
        raise HTTPException(404, str(error)) from None


@router.get("", response_model=list[JobOut], summary="Jobs, newest first")
def list_jobs(
    server: ServerDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    found = [job for job in server.jobs.list() if status is None or job.status == status]
    return [_job(server, job) for job in found[:limit]]


@router.get("/{key}", response_model=JobOut, summary="A job: status, runs, result or error")
def get_job(key: JobId, server: ServerDep) -> dict[str, Any]:
    return _job(server, _find(server.jobs, key))


@router.delete("/{key}", response_model=JobOut, status_code=202,
               summary="Stop a job: cancelled if queued, stopped after its current step")
def stop_job(key: JobId, server: ServerDep) -> dict[str, Any]:
    job = _find(server.jobs, key)
    job.request_stop()
    return _job(server, job)


@router.get("/{key}/events", summary="The job's events, live (text/event-stream)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
def job_events(
    key: JobId, jobs: JobsDep,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="send what came after this id")] = None,
) -> StreamingResponse:
    job = _find(jobs, key)
    start = after if after is not None else (last_event_id or 0)
    return StreamingResponse(_stream(job, start), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(job: Job, seen: int) -> AsyncIterator[str]:
    """Server-Sent Events: one per record (``id``, ``event`` = its type, ``data`` = the
    record as JSON), a comment every ``KEEP_ALIVE`` seconds of silence, and ``end`` with
    the job once it has ended and everything was sent."""
    while True:
        for number, record in job.events.since(seen):
            seen = number
            yield f"id: {number}\nevent: {record['type']}\ndata: {json.dumps(record)}\n\n"
        if job.events.closed and not job.events.since(seen):
            yield f"event: end\ndata: {json.dumps(job.to_dict(), default=str)}\n\n"
            return
        if not await job.events.wait_async(seen, KEEP_ALIVE):
            yield ": keep-alive\n\n"
