"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the http extra is not installed")
import httpx
import uvicorn

from torchsystem.interfaces import Application
from torchsystem.interfaces.http import create_app


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` on 127.0.0.1 (a port the system picks); its base URL."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        listening.close()


Serve = Callable[..., httpx.Client]


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "runs" / "runs.db")


@pytest.fixture
def serve(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """``serve(application, **create_app options)``: an HTTP client of a running server
    (no token unless given)."""
    monkeypatch.delenv("TORCHSYSTEM_TOKEN", raising=False)
    with_stack: list[Any] = []

    def start(application: Application, **options: Any) -> httpx.Client:
        options.setdefault("database", database)
        context = serving(create_app(application, **options))
        url = context.__enter__()
        client = httpx.Client(base_url=url, timeout=30)
        with_stack.append((context, client))
        return client

    yield start
    for context, client in reversed(with_stack):
        client.close()
        context.__exit__(None, None, None)


def wait_for(client: httpx.Client, job: str, timeout: float = 30) -> dict[str, Any]:
    """The job once it has ended (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get(f"/jobs/{job}").json()
        if found["status"] in ("finished", "failed", "stopped", "cancelled"):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job} still {found['status']} after {timeout} s")
        time.sleep(0.02)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until_serving(client: httpx.Client, process: Any, timeout: float = 60) -> None:
    """Poll ``GET /commands`` until the server ``process`` answers (bounded wait).

    Raises:
        RuntimeError: the process exited, or did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.get("/commands").raise_for_status()
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {process.stdout}") from None
            time.sleep(0.1)
