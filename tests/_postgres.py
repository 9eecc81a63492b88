"""A real PostgreSQL 15 server that the test session starts itself (as the unprivileged
user ``postgres`` when run as root), and a fresh database on it per test."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("TORCHSYSTEM_PG_BIN", "/usr/lib/postgresql/15/bin"))
_databases = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to its own user then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server on a free loopback port, stopped with the session."""
    if not (PG_BIN / "pg_ctl").exists() or not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries (initdb, pg_ctl) are not in {PG_BIN}")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    folder = Path(tempfile.mkdtemp(prefix="torchsystem-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(_as_postgres([
            str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--no-instructions",
        ]), check=True, capture_output=True, timeout=60)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(_as_postgres([
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
            "-t", "30", "-o", options, "start",
        ]), check=True, capture_output=True, timeout=60)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([
                str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop",
            ]), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server."""
    from sqlalchemy import create_engine, text

    name = f"runs_{os.getpid()}_{next(_databases)}"
    engine = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{postgres_server}/{name}"
