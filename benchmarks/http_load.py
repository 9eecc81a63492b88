#!/usr/bin/env python3
"""The HTTP server under load while a job trains: query latency, training speed, events.

Set-up: a SQLite run database with 10,000 runs and 1,000,000 metric rows (100 per run;
built once, then reused from ``--database``), served by ``torchsystem serve
http_app:app`` (``benchmarks/http_app.py``: the digits example's training loop as a
command) on a free loopback port, each job in its own process.

Then, ``--repeats`` times, interleaved:

- idle: a job trains ``--epochs`` epochs of digits (batch 32) while the server gets no
  query; one client follows its events (``GET /jobs/{id}/events``);
- loaded: the same job while a load generator sends 200 requests a second (open loop,
  on a fixed schedule, at most 32 in flight) alternating ``GET /runs?limit=50`` and
  ``GET /runs/{id}/metrics`` of a random run, for as long as the job trains.

Reported: p50/p99 latency of each query under load (measured from when each request was
sent, and from when the schedule said it should be), the rate achieved, the job's
seconds per epoch idle and loaded (medians; the ratio is the check), and the latency of
every training event from its dispatch in the job's process to the SSE client (p99).
Targets: p99 < 20 ms for both queries, training <= 1.10x idle, events p99 < 50 ms. Exit
status 1 when one is missed (never with ``--smoke``). Loopback only, bounded in time and
count; it stops by itself.

    python benchmarks/http_load.py                # the numbers of the README
    python benchmarks/http_load.py --quick        # one repeat, shorter jobs
    python benchmarks/http_load.py --smoke        # a small database, seconds (the tests)
    python benchmarks/http_load.py --per-request  # the server's own cost of each query

``--per-request`` serves nothing on a socket: it calls the HTTP application in this
process (ASGI, as uvicorn does) a few thousand times per query endpoint and reports the
CPU time per request of the whole process (every thread), the wall time, and how many
times a request went to a worker thread. It barely depends on the machine's load, so it
compares two versions of the server on a busy machine; no target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TARGETS = {"query_p99_ms": 20.0, "training_ratio": 1.10, "event_p99_ms": 50.0}


def build_database(path: Path, runs: int, per_run: int) -> None:
    """``runs`` finished runs of 100 models with ``per_run`` metric rows each (epochs of
    loss and accuracy in train and validation), unless ``path`` already holds them."""
    if path.exists():
        with sqlite3.connect(path) as connection:
            counts = connection.execute(
                "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics)").fetchone()
        if counts[0] >= runs and counts[1] >= runs * per_run:  # jobs add their own runs
            return
        path.unlink()
    sys.path.insert(0, str(ROOT))
    from torchsystem.runs import Database

    Database(str(path)).close()  # the schema, as torchsystem makes it
    rng = random.Random(0)
    now = time.time() - 86_400
    epochs = max(1, per_run // 4)
    with sqlite3.connect(path) as connection:
        connection.executemany("INSERT INTO models VALUES (?, ?, ?, ?)", [
            (f"{index:032x}", f"MLP{index}", json.dumps({"hidden": index}), now)
            for index in range(100)])
        connection.executemany(
            "INSERT INTO runs (id, model, status, started, ended, epochs, host, pid, "
            "heartbeat, command, hyperparameters, reason) VALUES "
            "(?, ?, 'finished', ?, ?, ?, 'bench', 1, ?, '[]', ?, NULL)",
            [(run, f"{run % 100:032x}", now + run, now + run + 60, epochs, now + run + 60,
              json.dumps({"lr": rng.random(), "batch_size": {"train": 32}}))
             for run in range(1, runs + 1)])
        for start in range(1, runs + 1, 500):
            rows = [(run, epoch, epoch * 45, phase, name, rng.random(), now + run + epoch)
                    for run in range(start, min(start + 500, runs + 1))
                    for epoch in range(1, epochs + 1)
                    for phase in ("train", "validation") for name in ("loss", "accuracy")]
            connection.executemany(
                "INSERT INTO metrics (run, epoch, step, phase, name, value, time) VALUES "
                "(?, ?, ?, ?, ?, ?, ?)", rows)
    print(f"built {path}: {runs} runs, {runs * per_run} metric rows", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(database: Path, port: int, work: str, job_nice: int | None = None
                 ) -> subprocess.Popen[bytes]:
    """The server, its output (and its jobs') in ``work``/server.log."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TORCHSYSTEM_TOKEN", "TORCHSYSTEM_DATABASE")}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "torchsystem", "serve", "http_app:app", "--app-dir", str(HERE),
         "--port", str(port), "--database", str(database), "--log-level", "warning",
         *([] if job_nice is None else ["--job-nice", str(job_nice)])],
        cwd=work, env=environment, stdout=open(os.path.join(work, "server.log"), "wb"),
        stderr=subprocess.STDOUT)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def wait_started(client: Any, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            (await client.get("/commands")).raise_for_status()
            return
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            await asyncio.sleep(0.1)


async def follow(client: Any, key: str, latencies: list[float], trained: asyncio.Event,
                 ) -> dict[str, Any]:
    """Read the job's events to its end; each training event's delay since dispatch."""
    async with client.stream("GET", f"/jobs/{key}/events", timeout=None) as stream:
        event = ""
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                received = time.time()
                data = json.loads(line[6:])
                if event == "end":
                    return dict(data)
                if event != "Job":
                    latencies.append(received - data["time"])
                    trained.set()
    raise RuntimeError(f"the events of job {key} ended without 'end'")


class Connections:
    """Keep-alive HTTP/1.1 connections to the server, as lean as a client can be (a
    general-purpose client would spend more of the machine than the server does)."""

    def __init__(self, port: int) -> None:
        self.port, self.idle = port, []  # type: ignore[var-annotated]

    async def get(self, path: str) -> int:
        """``GET path``; the status (the body is read and dropped). A kept connection
        the server closed meanwhile is replaced once."""
        if self.idle:
            try:
                return await self._get(*self.idle.pop(), path)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
        return await self._get(*await asyncio.open_connection("127.0.0.1", self.port), path)

    async def _get(self, reader: Any, writer: Any, path: str) -> int:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines
                      if line.lower().startswith("content-length:"))
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return int(lines[0].split(" ")[1])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def load(port: int, runs: int, rate: float, until: asyncio.Future[Any],
               limit: int) -> dict[str, Any]:
    """Requests on a fixed schedule at ``rate`` per second until ``until`` is done."""
    found: dict[str, list[float]] = {"runs": [], "metrics": []}
    late: dict[str, list[float]] = {"runs": [], "metrics": []}
    errors: list[str] = []
    gate = asyncio.Semaphore(32)
    rng = random.Random(1)
    connections = Connections(port)
    start = time.perf_counter()

    async def one(index: int, scheduled: float) -> None:
        kind = "runs" if index % 2 == 0 else "metrics"
        path = "/runs?limit=50" if kind == "runs" else f"/runs/{rng.randint(1, runs)}/metrics"
        async with gate:
            sent = time.perf_counter()
            status = await connections.get(path)
            done = time.perf_counter()
        if status != 200:
            errors.append(f"{path}: {status}")
        found[kind].append(done - sent)
        late[kind].append(done - scheduled)

    tasks = []
    index = 0
    while not until.done() and index < limit:
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index, scheduled)))
        index += 1
    await asyncio.gather(*tasks)
    connections.close()
    elapsed = time.perf_counter() - start
    return {"sent": found, "scheduled": late, "errors": errors, "rate": index / elapsed}


async def job(client: Any, port: int, epochs: int, runs: int, rate: float | None,
              events: list[float]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run one training job (with load when ``rate``); its end state and the load."""
    key = (await client.post("/commands/loop", json={"epochs": epochs})).json()["id"]
    trained = asyncio.Event()
    ended = asyncio.ensure_future(follow(client, key, events, trained))
    measured = None
    if rate is not None:
        await asyncio.wait([asyncio.ensure_future(trained.wait()), ended],
                           return_when=asyncio.FIRST_COMPLETED)
        measured = await load(port, runs, rate, ended, limit=int(rate * 300))
    state = await ended
    if state["status"] != "finished":
        raise RuntimeError(f"the benchmark job ended {state['status']}: {state['error']}")
    return state, measured


async def measure(args: argparse.Namespace, database: Path) -> dict[str, Any]:
    import httpx

    port = free_port()
    work = tempfile.mkdtemp(prefix="torchsystem-http-bench-")
    server = start_server(database, port, work, args.job_nice)
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     limits=limits) as client:
            await wait_started(client, server)
            if not args.smoke:
                await job(client, port, 2, args.runs, None, [])  # warm up: imports, caches
            idle, loaded, events = [], [], {"idle": [], "loaded": []}
            loads = []
            for _ in range(args.repeats):
                state, _ = await job(client, port, args.epochs, args.runs, None,
                                     events["idle"])
                idle.append(state["result"]["seconds_per_epoch"])
                state, measured = await job(client, port, args.epochs, args.runs,
                                            args.rate, events["loaded"])
                loaded.append(state["result"]["seconds_per_epoch"])
                loads.append(measured)
    finally:
        server.terminate()
        server.wait(60)
    shutil.rmtree(work, ignore_errors=True)  # kept when something failed: see server.log
    return {"idle": idle, "loaded": loaded, "events": events, "loads": loads}


async def per_request(database: Path, runs: int, rounds: int = 5, count: int = 200
                      ) -> list[tuple[str, float, float, float]]:
    """``(query, CPU s, wall s, worker-thread trips)`` per request, best of ``rounds``
    rounds of ``count`` requests, through the ASGI interface of ``create_app``."""
    sys.path.insert(0, str(ROOT))
    import anyio.to_thread

    from torchsystem.interfaces import Application
    from torchsystem.interfaces.http import create_app

    app = create_app(Application("bench", devices=["cpu"]), database=str(database))
    trips = 0
    run_sync = anyio.to_thread.run_sync

    async def counted(*args: Any, **options: Any) -> Any:
        nonlocal trips
        trips += 1
        return await run_sync(*args, **options)

    async def get(path: str, query: str = "") -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "state": {},
                 "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [200]:
            raise RuntimeError(f"GET {path}?{query} answered {statuses}")

    rng = random.Random(0)
    queries = {
        "GET /runs?limit=50": lambda: ("/runs", "limit=50"),
        "GET /runs/{id}/metrics": lambda: (f"/runs/{rng.randint(1, runs)}/metrics", ""),
        "GET /runs/{id}": lambda: (f"/runs/{rng.randint(1, runs)}", ""),
        "GET /models": lambda: ("/models", ""),
    }
    found = []
    anyio.to_thread.run_sync = counted  # type: ignore[assignment]
    try:
        async with app.router.lifespan_context(app):
            for label, make in queries.items():
                for _ in range(20):  # warm up
                    await get(*make())
                best = (math.inf, math.inf)
                trips = 0
                for _ in range(rounds):
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(count):
                        await get(*make())
                    best = min(best, ((time.process_time() - cpu) / count,
                                      (time.perf_counter() - wall) / count))
                found.append((label, *best, trips / (rounds * count)))
    finally:
        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    return found


def report_per_request(found: list[tuple[str, float, float, float]],
                       args: argparse.Namespace) -> None:
    print(f"in process, no socket; {args.runs} runs, {args.runs * args.per_run} metric rows; "
          f"best of 5 rounds of 200 requests")
    print("| query | CPU per request | wall per request | worker-thread trips |")
    print("|---|---|---|---|")
    for label, cpu, wall, trips in found:
        print(f"| {label} | {cpu * 1000:.3f} ms | {wall * 1000:.3f} ms | {trips:.1f} |")


def report(results: dict[str, Any], args: argparse.Namespace) -> bool:
    loads = results["loads"]
    rows = []
    ok = True
    for kind, path in (("runs", "GET /runs?limit=50"), ("metrics", "GET /runs/{id}/metrics")):
        sent = [x * 1000 for load in loads for x in load["sent"][kind]]
        late = [x * 1000 for load in loads for x in load["scheduled"][kind]]
        p99 = percentile(sent, 0.99)
        good = p99 < TARGETS["query_p99_ms"]
        ok &= good
        rows.append(f"| {path} | {len(sent)} | {percentile(sent, 0.5):.1f} ms | {p99:.1f} ms | "
                    f"{percentile(late, 0.99):.1f} ms | < 20 ms | {'ok' if good else 'MISSED'} |")
    rate = min(load["rate"] for load in loads)
    errors = sum(len(load["errors"]) for load in loads)
    ok &= errors == 0 and rate >= 0.95 * args.rate
    idle, loaded = statistics.median(results["idle"]), statistics.median(results["loaded"])
    ratio = loaded / idle
    events = [x * 1000 for x in results["events"]["loaded"]]
    quiet = [x * 1000 for x in results["events"]["idle"]]
    train_ok = ratio <= TARGETS["training_ratio"]
    event_ok = percentile(events, 0.99) < TARGETS["event_p99_ms"]
    ok &= train_ok and event_ok
    print(f"load: {args.rate:g} requests/s offered, {rate:.0f} achieved (lowest repeat), "
          f"{errors} errors; {args.runs} runs, {args.runs * args.per_run} metric rows")
    print("| query under load | requests | p50 | p99 | p99 from schedule | target |  |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| measure | idle server | server under load | ratio / p99 | target |  |")
    print("|---|---|---|---|---|---|")
    print(f"| training s/epoch (median of {args.repeats}) | {idle:.4f} | {loaded:.4f} | "
          f"{ratio:.3f}x | <= 1.10x | {'ok' if train_ok else 'MISSED'} |")
    print(f"| event dispatch -> SSE client, p99 | {percentile(quiet, 0.99):.1f} ms | "
          f"{percentile(events, 0.99):.1f} ms | {len(events)} events | < 50 ms | "
          f"{'ok' if event_ok else 'MISSED'} |")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path,
                        default=Path(tempfile.gettempdir()) / "torchsystem-http-bench.db",
                        help="the run database (built when missing; default: %(default)s)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--epochs", type=int, default=300, help="epochs of each job")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--job-nice", type=int, default=None, metavar="N",
                        help="the server's --job-nice (default: the server's own, 10)")
    parser.add_argument("--quick", action="store_true", help="one repeat, 120 epochs")
    parser.add_argument("--smoke", action="store_true",
                        help="200 runs, 20 rows each, short jobs: checks it works, no target")
    parser.add_argument("--per-request", action="store_true",
                        help="the server's own cost of each query, in process (no target)")
    args = parser.parse_args(argv)
    args.runs, args.per_run = (200, 20) if args.smoke else (10_000, 100)
    if args.smoke:
        args.database = Path(tempfile.mkdtemp(prefix="torchsystem-http-smoke-")) / "runs.db"
        args.epochs, args.repeats, args.rate = 5, 1, 50.0
    elif args.quick:
        args.epochs, args.repeats = 120, 1
    try:
        build_database(args.database, args.runs, args.per_run)
        if args.per_request:
            report_per_request(asyncio.run(per_request(args.database, args.runs)), args)
            return 0
        results = asyncio.run(measure(args, args.database))
    finally:
        if args.smoke:  # its own small database, made for this run
            shutil.rmtree(args.database.parent, ignore_errors=True)
    ok = report(results, args)
    return 0 if ok or args.smoke else 1

if __name__ == "__main__":
    raise SystemExit(main())
