"""``create_app``: the HTTP API of an application (FastAPI), its routers put together.

Routers by concern: ``commands`` (run a command as a job), ``jobs`` (watch, stream,
stop), ``queries`` (the run database, read-only), and the page of runs at ``/``. The
server's state (application, jobs, run database) lives in ``app.state``; the routers
reach it through dependencies. Jobs start with the server and are stopped with it.
"""

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.executors import Executor, ThreadExecutor
from torchsystem.interfaces.http import commands, docs, jobs, page, queries
from torchsystem.interfaces.http.dependencies import Server
from torchsystem.interfaces.http.security import Guard
from torchsystem.interfaces.jobs import Jobs
from torchsystem.runs.errors import RunDatabaseError

__all__ = ["MAX_BODY", "TOKEN", "create_app"]

TOKEN = "TORCHSYSTEM_TOKEN"
MAX_BODY = 64 * 1024


def create_app(
    application: Application, *, executor: Executor | None = None,
    devices: Sequence[str] | None = None, per_device: int = 1, max_queued: int = 100,
    database: str | None = None, token: str | None = None, max_body: int = MAX_BODY,
    readers: int | None = None,
) -> FastAPI:
    """The HTTP API of ``application``.

    ``executor`` runs the jobs (default: in this process, ``ThreadExecutor``; the
    ``serve`` command gives each job a process of its own); ``devices`` and
    ``per_device`` say how many run at once; ``database`` is the run database (default:
    the application's, else ``$TORCHSYSTEM_DATABASE``, else ``runs/runs.db``); ``token``
    (default: ``$TORCHSYSTEM_TOKEN``) is required of every request when set; bodies
    over ``max_body`` bytes are refused; ``readers`` is how many reads of the run database
    run at once (default: 2 for SQLite, 8 for a database server; the others wait their
    turn, first come, first served).

    Raises:
        ValueError: an empty token, or ``readers`` under 1.

    Example:
        >>> from torchsystem.interfaces import Application
        >>> create_app(Application("toy")).title
        'toy'
    """
    token = os.environ.get(TOKEN) if token is None else token
    if token is not None and not token.strip():
        raise ValueError(f"the token is empty: set ${TOKEN} to a secret, or unset it")
    if readers is not None and readers < 1:
        raise ValueError(f"readers={readers!r}: at least one read of the run database must "
                         "be able to run")
    if database is not None:
        application.database = database
    runner = ThreadExecutor(application) if executor is None else executor
    server = Server(application, Jobs(application, runner, devices=devices,
                                      per_device=per_device, max_queued=max_queued),
                    application.database, readers=readers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.open()
        server.jobs.start()
        try:
            yield
        finally:
            server.jobs.close()
            server.close()

    app = FastAPI(title=application.name, description=application.description,
                  lifespan=lifespan, version=_version(), docs_url=None, redoc_url=None)
    app.state.torchsystem = server
    app.include_router(commands.router(application))
    app.include_router(jobs.router)
    app.include_router(queries.router)
    app.include_router(page.router)
    docs.install(app)  # Swagger UI from the server itself: no CDN
    app.add_exception_handler(RunDatabaseError, _database_failed)
    app.add_middleware(Guard, token=token, max_body=max_body)
    return app


def _version() -> str:
    from torchsystem import __version__

    return __version__


async def _database_failed(request: Request, error: Any) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503)
