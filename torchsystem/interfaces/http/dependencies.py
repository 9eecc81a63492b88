"""What the routers depend on: the server's state, its run database and its jobs.

Each is a FastAPI dependency, so a test can swap any of them with
``app.dependency_overrides``. They are coroutines that never block: FastAPI runs a plain
function dependency in a worker thread, a trip that costs more than what they do.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.jobs import Jobs
from torchsystem.runs.database import Database

__all__ = [
    "ApplicationDep", "DatabaseDep", "EndedRuns", "JobsDep", "Server", "ServerDep",
    "get_application", "get_database", "get_jobs", "get_server",
]

T = TypeVar("T")


class EndedRuns:
    """The JSON of runs that ended, as ``/runs`` answers each (their record and latest
    metrics never change again): the most recently used ``size`` of them, shared by the
    request threads.

    Example:
        >>> cache = EndedRuns()
        >>> cache.put(1, b'{"id":1}')
        >>> cache.get(1), cache.get(2)
        (b'{"id":1}', None)
    """

    ENDED = frozenset({"finished", "stopped early", "failed"})

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._values: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run: int) -> bytes | None:
        """The JSON of ``run``, if it is kept."""
        with self._lock:
            value = self._values.get(run)
            if value is not None:
                self._values.move_to_end(run)
            return value

    def put(self, run: int, value: bytes) -> None:
        """Keep the JSON of ``run`` (one that has ended), forgetting the least recent."""
        with self._lock:
            self._values[run] = value
            self._values.move_to_end(run)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


@dataclass
class Server:
    """The state one HTTP app serves: the application, its jobs and the run database
    (opened when the server starts). ``runs`` caches the run ids of ended jobs, ``ended``
    the JSON of ended runs.

    ``readers`` is how many run-database reads run at once, each in a worker thread of
    its own (default: 2 for SQLite, 8 for a database server). A read of SQLite is
    Python and the database's own CPU work, so more of them at once only share the CPU
    (and the GIL) and all finish late; queued, they finish in the order they came.
    """

    application: Application
    jobs: Jobs
    database_url: str | None
    database: Database | None = None
    runs: dict[str, list[int]] = field(default_factory=dict)
    ended: EndedRuns = field(default_factory=lambda: EndedRuns())
    readers: int | None = None
    _limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)

    async def read(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, once one of the ``readers`` is free."""
        if self._limiter is None:  # made in the event loop, on first use
            self._limiter = anyio.CapacityLimiter(self._readers())
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=self._limiter)

    def _readers(self) -> int:
        if self.readers is not None:
            return self.readers
        return 2 if self.database is None or self.database.sqlite else 8

    def open(self) -> None:
        """Open (create if needed) the run database."""
        if self.database is None:
            self.database = Database(self.database_url)

    def close(self) -> None:
        if self.database is not None:
            self.database.close()
            self.database = None


def _server(request: Request) -> Server:
    server: Server = request.app.state.torchsystem
    return server


async def get_server(request: Request) -> Server:
    return _server(request)


async def get_application(request: Request) -> Application:
    return _server(request).application


async def get_jobs(request: Request) -> Jobs:
    return _server(request).jobs


async def get_database(request: Request) -> Database:
    """The run database (opened at start-up; every query opens its own transaction)."""
    database = _server(request).database
    if database is None:
        raise RuntimeError("the run database is not open: the server has not started")
    return database


ServerDep = Annotated[Server, Depends(get_server)]
ApplicationDep = Annotated[Application, Depends(get_application)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
DatabaseDep = Annotated[Database, Depends(get_database)]
