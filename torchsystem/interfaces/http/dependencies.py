"""What the routers depend on: the server's state, its run database and its jobs.

Each is a FastAPI dependency, so a test can swap any of them with
``app.dependency_overrides``.
"""

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.jobs import Jobs
from torchsystem.runs.database import Database

__all__ = [
    "ApplicationDep", "DatabaseDep", "JobsDep", "Server", "ServerDep", "get_application",
    "get_database", "get_jobs", "get_server",
]


@dataclass
class Server:
    """The state one HTTP app serves: the application, its jobs and the run database
    (opened when the server starts). ``runs`` caches the run ids of ended jobs."""

    application: Application
    jobs: Jobs
    database_url: str | None
    database: Database | None = None
    runs: dict[str, list[int]] = field(default_factory=dict)

    def open(self) -> None:
        """Open (create if needed) the run database."""
        if self.database is None:
            self.database = Database(self.database_url)

    def close(self) -> None:
        if self.database is not None:
            self.database.close()
            self.database = None


def get_server(request: Request) -> Server:
    server: Server = request.app.state.torchsystem
    return server


def get_application(request: Request) -> Application:
    return get_server(request).application


def get_jobs(request: Request) -> Jobs:
    return get_server(request).jobs


def get_database(request: Request) -> Database:
    """The run database (opened at start-up; every query opens its own transaction)."""
    database = get_server(request).database
    if database is None:
        raise RuntimeError("the run database is not open: the server has not started")
    return database


ServerDep = Annotated[Server, Depends(get_server)]
ApplicationDep = Annotated[Application, Depends(get_application)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
DatabaseDep = Annotated[Database, Depends(get_database)]
