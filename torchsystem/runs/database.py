"""``Database``: open (create, upgrade, check) a run database at any SQLAlchemy URL.

Where: the ``url`` given, else the ``TORCHSYSTEM_DATABASE`` environment variable, else
``runs/runs.db`` under the current folder. A value without ``://`` is a SQLite file path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from torchsystem.runs.errors import DatabaseMissing, RunDatabaseError, SchemaVersionError
from torchsystem.runs.liveness import alive
from torchsystem.runs.migrations import upgrade
from torchsystem.runs.schema import (
    INTERRUPTED,
    RUNNING,
    SCHEMA_VERSION,
    metadata,
    runs,
    schema_version,
)

__all__ = ["DEFAULT_PATH", "ENVIRONMENT", "Database", "resolve"]

logger = logging.getLogger("torchsystem.runs")

ENVIRONMENT = "TORCHSYSTEM_DATABASE"
DEFAULT_PATH = Path("runs") / "runs.db"
_TABLES = {table.name for table in metadata.sorted_tables}
_LOCK = 0x7473_7275_6E73  # a PostgreSQL advisory lock key for schema changes ("tsruns")


def resolve(url: str | Path | URL | None = None) -> URL:
    """The SQLAlchemy URL of ``url``, of ``$TORCHSYSTEM_DATABASE`` or of ``runs/runs.db``.

    Raises:
        RunDatabaseError: the value is not a URL SQLAlchemy can parse.
    """
    if isinstance(url, URL):
        return url
    value = str(url if url is not None else os.environ.get(ENVIRONMENT) or DEFAULT_PATH)
    if "://" not in value:
        return URL.create("sqlite", database=str(Path(value).expanduser().absolute()))
    try:
        return make_url(value)
    except ArgumentError as error:
        raise RunDatabaseError(value, f"{value!r} is not a database URL ({error})") from None


def _display(url: URL) -> str:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(url.database)
    return url.render_as_string(hide_password=True)


class Database:
    """A run database: the tables of ``torchsystem.runs.schema`` at a SQLAlchemy URL.

    Opening it checks that it is reachable and a torchsystem run database, creates the
    tables in an empty one (``create=True``; with ``create=False`` a missing or empty
    database is an error and no file is made), upgrades an older schema in place,
    refuses a newer one, and marks runs whose process died as ``interrupted``. With
    ``create=True`` it also checks that it can write, so a recorder fails before
    training starts, not in the middle. SQLite files get WAL mode (readers never block
    the writer) and a busy timeout (``busy_timeout`` seconds) so that processes writing
    at once wait for each other instead of failing.

    Raises:
        DatabaseMissing: ``create=False`` and there is no database, or it has no tables.
        SchemaVersionError: a newer schema, or tables torchsystem did not make.
        RunDatabaseError: not a SQLite file, unreachable server, read-only, no driver.

    Example:
        >>> database = Database("sqlite://")  # in memory
        >>> database.name
        'sqlite://'
        >>> database.close()
    """

    def __init__(
        self, url: str | Path | URL | None = None, *, create: bool = True,
        stale_after: float = 120.0, busy_timeout: float = 30.0,
    ) -> None:
        self.url = resolve(url)
        self.name = _display(self.url)
        self.stale_after, self.busy_timeout = stale_after, busy_timeout
        self.sqlite = self.url.get_backend_name() == "sqlite"
        if self.sqlite:
            self._prepare_file(create)
        self.engine = self._engine()
        try:
            with self.translated():
                self._open(create)
            self.reconcile()
        except BaseException:
            self.engine.dispose()
            raise

    def _prepare_file(self, create: bool) -> None:
        if self.url.database in (None, "", ":memory:"):
            return
        path = Path(self.url.database)
        if path.is_dir():
            raise RunDatabaseError(self.name, f"{path} is a folder, not a SQLite run database")
        if not create and not path.exists():
            raise DatabaseMissing(self.name, (
                f"no run database at {path}: record runs there first (RunRecorder), or "
                f"name one with --database URL or ${ENVIRONMENT}"
            ))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDatabaseError(self.name, (
                f"cannot create the folder of the run database {path}: {error}"
            )) from None

    def _engine(self) -> Engine:
        try:
            if not self.sqlite:
                return create_engine(self.url, pool_pre_ping=True)
            memory = self.url.database in (None, "", ":memory:")
            engine = create_engine(
                self.url, poolclass=StaticPool if memory else None,
                connect_args={"timeout": self.busy_timeout, "check_same_thread": False},
            )
        except (ImportError, NoSuchModuleError) as error:
            raise RunDatabaseError(self.name, (
                f"cannot use the run database {self.name}: {error}; check the URL's scheme "
                "and install its driver (PostgreSQL: pip install 'torchsystem[postgresql]')"
            )) from None
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine

    def _open(self, create: bool) -> None:
        if create and self.sqlite:
            self._enable_wal()
        with self.transaction(write=create) as connection:
            outdated = self._prepare(connection, create, may_upgrade=create)
        if outdated:  # found by a reader: upgrade under the write lock
            with self.transaction() as connection:
                self._prepare(connection, create, may_upgrade=True)

    def _enable_wal(self) -> None:
        import sqlite3

        # SQLite answers "locked" at once, without waiting on the busy timeout, when
        # another process is creating the same file: retry until the timeout is spent.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                raw = self.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA journal_mode=WAL")  # not in a transaction
                finally:
                    raw.close()
                return
            except (DBAPIError, sqlite3.Error) as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise self.explain(error) from error
                time.sleep(0.01)

    def _prepare(self, connection: Connection, create: bool, may_upgrade: bool) -> bool:
        """Create, check or upgrade the schema; ``True``: an upgrade is due but not allowed."""
        if may_upgrade and connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
        tables = set(inspect(connection).get_table_names())
        if "schema_version" not in tables:
            return self._create(connection, tables, create)
        version = connection.execute(select(schema_version.c.version)).scalar()
        if version is None or version > SCHEMA_VERSION:
            raise SchemaVersionError(self.name, (
                f"the run database {self.name} has schema version {version}, newer than this "
                f"torchsystem understands ({SCHEMA_VERSION}): upgrade torchsystem, or use "
                "another database"
            ))
        if version < SCHEMA_VERSION:
            if not may_upgrade:
                return True
            logger.info("upgrading the run database %s from schema version %d to %d",
                        self.name, version, SCHEMA_VERSION)
            upgrade(connection, version)
        if create:  # a write now, so a read-only database fails before training starts
            connection.execute(update(schema_version).values(version=schema_version.c.version))
        return False

    def _create(self, connection: Connection, tables: set[str], create: bool) -> bool:
        foreign = sorted(tables & _TABLES)
        if foreign:
            raise SchemaVersionError(self.name, (
                f"{self.name} has tables {foreign} but no schema_version table: torchsystem "
                "did not make them; use another database"
            ))
        if not create:
            raise DatabaseMissing(self.name, (
                f"the run database {self.name} is empty: no run was recorded there yet"
            ))
        metadata.create_all(connection)
        connection.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        return False

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends (rolled back on
        an error). On SQLite a writing transaction takes the write lock up front
        (``BEGIN IMMEDIATE``), so concurrent writers queue instead of failing."""
        with self.engine.connect() as connection:
            if write:
                connection.execution_options(torchsystem_write=True)
            with connection.begin():
                yield connection

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Turn driver errors into ``RunDatabaseError`` naming this database and the fix."""
        try:
            yield
        except DBAPIError as error:
            raise self.explain(error) from error

    def explain(self, error: Exception) -> RunDatabaseError:
        """A ``RunDatabaseError`` that says what the driver's ``error`` means here."""
        cause = error.orig if isinstance(error, DBAPIError) else error
        message = (str(cause).strip() or type(cause).__name__).splitlines()[0]
        lower, name = message.lower(), self.name
        if "not a database" in lower:
            text = (f"{name} is not a SQLite database ({message}): name the run database "
                    f"with --database or ${ENVIRONMENT}, or move that file away")
        elif "readonly" in lower or "read-only" in lower or "permission denied" in lower:
            text = (f"the run database {name} is read-only ({message}): make it (and, for "
                    "SQLite, its folder) writable, or record to another database")
        elif "locked" in lower:
            text = (f"the run database {name} stayed locked by another process for longer "
                    f"than the busy timeout ({self.busy_timeout:g} s): {message}")
        elif "unable to open" in lower:
            text = f"cannot open the run database {name} ({message}): check its folder"
        elif not self.sqlite and ("connect" in lower or "could not translate" in lower):
            text = (f"cannot reach the run database {name} ({message}): check that the "
                    "server runs and the URL's host, port, user, password and database")
        else:
            text = f"the run database {name} failed: {message}"
        return RunDatabaseError(name, text)

    def reconcile(self, now: float | None = None) -> frozenset[int]:
        """Mark runs recorded as running whose process is gone as ``interrupted``.

        Returns the ids of such runs that could not be marked (a read-only database):
        queries report them as interrupted all the same.
        """
        now = time.time() if now is None else now
        columns = (runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat, runs.c.started)
        with self.translated(), self.transaction(write=False) as connection:
            rows = connection.execute(select(*columns).where(runs.c.status == RUNNING)).all()
        dead = [row for row in rows if not alive(
            row.host, row.pid, row.heartbeat, row.started, now, self.stale_after)]
        if not dead:
            return frozenset()
        try:
            with self.translated(), self.transaction() as connection:
                for row in dead:
                    connection.execute(update(runs).where(
                        runs.c.id == row.id, runs.c.status == RUNNING,
                    ).values(status=INTERRUPTED, ended=max(row.heartbeat or 0, row.started),
                             reason=f"process {row.pid} on {row.host} ended without a word"))
        except RunDatabaseError as error:
            logger.debug("cannot mark dead runs of %s as interrupted: %s", self.name, error)
            return frozenset(row.id for row in dead)
        return frozenset()

    def close(self) -> None:
        """Close every connection of the pool."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.name!r})"


def _configure_sqlite(connection: Any, record: Any) -> None:
    connection.isolation_level = None  # transactions are begun by _begin_sqlite
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    writing = connection.get_execution_options().get("torchsystem_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
