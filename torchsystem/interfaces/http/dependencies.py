"""What the routers depend on: the server's state, its run database and its jobs.

Each is a FastAPI dependency, so a test can swap any of them with
``app.dependency_overrides``. They are coroutines that never block: FastAPI runs a plain
function dependency in a worker thread, a trip that costs more than what they do.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.jobs import Jobs
from torchsystem.runs.database import Database
from torchsystem.runs.queries import RunRecord

__all__ = [
    "ApplicationDep", "DatabaseDep", "JobsDep", "LatestCache", "Server", "ServerDep",
    "get_application", "get_database", "get_jobs", "get_server",
]


class LatestCache:
    """The latest metrics of runs that ended (they never change again), the most recently
    used ``size`` of them, shared by the request threads.

    Example:
        >>> from torchsystem.runs.queries import RunRecord
        >>> run = RunRecord(1, "3f2a", "MLP", "finished", 0.0, 1.0, 3, "host", 1, None, [],
        ...                 {}, None)
        >>> cache = LatestCache()
        >>> cache.put_many([run], {1: {"loss/train": 0.5}})
        >>> cache.get_many([run])
        {1: {'loss/train': 0.5}}
    """

    ENDED = frozenset({"finished", "stopped early", "failed"})

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._values: OrderedDict[int, dict[str, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, runs: list[RunRecord]) -> dict[int, dict[str, float | None]]:
        """What is cached for ``runs``."""
        found = {}
        with self._lock:
            for run in runs:
                value = self._values.get(run.id)
                if value is not None:
                    self._values.move_to_end(run.id)
                    found[run.id] = value
        return found

    def put_many(self, runs: list[RunRecord], values: dict[int, dict[str, float | None]]
                 ) -> None:
        """Remember the values of those ``runs`` that have ended."""
        with self._lock:
            for run in runs:
                if run.status in self.ENDED and run.id in values:
                    self._values[run.id] = values[run.id]
                    self._values.move_to_end(run.id)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


@dataclass
class Server:
    """The state one HTTP app serves: the application, its jobs and the run database
    (opened when the server starts). ``runs`` caches the run ids of ended jobs."""

    application: Application
    jobs: Jobs
    database_url: str | None
    database: Database | None = None
    runs: dict[str, list[int]] = field(default_factory=dict)
    latest: LatestCache = field(default_factory=lambda: LatestCache())

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
