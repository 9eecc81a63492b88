"""Jobs in processes of their own: the worker imports the application by reference."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.interfaces import _apps
from tests.interfaces.conftest import Serve, wait_for
from torchsystem.interfaces.executors import ProcessExecutor

ROOT = str(Path(__file__).resolve().parents[2])
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def executor() -> ProcessExecutor:
    return ProcessExecutor(_apps.app, "tests.interfaces._apps:app", ROOT)


def test_a_job_runs_in_its_own_process_and_records_its_run(serve: Serve,
                                                           executor: ProcessExecutor) -> None:
    client = serve(_apps.app, executor=executor)

    job = wait_for(client, client.post("/commands/fit", json={"epochs": 2}).json()["id"], 90)

    assert job["status"] == "finished", job
    assert job["result"]["pid"] != os.getpid()
    assert job["result"]["epochs"] == 2
    run = client.get(f"/runs/{job['runs'][0]}").json()
    assert run["pid"] == job["result"]["pid"]
    assert run["status"] == "finished"
    assert run["command"][-3:] == ["tests.interfaces._apps:app", "fit",
                                   '{"epochs": 2, "steps": 4, "hidden": 8, "fail": null}']


def test_its_events_come_back_and_a_stop_reaches_it(serve: Serve,
                                                    executor: ProcessExecutor) -> None:
    client = serve(_apps.app, executor=executor)
    key = client.post("/commands/fit", json={"epochs": 100_000, "steps": 20}).json()["id"]
    with client.stream("GET", f"/jobs/{key}/events") as stream:
        for line in stream.iter_lines():
            if line == "event: Iterated":
                break

    client.delete(f"/jobs/{key}")

    job = wait_for(client, key, 90)
    assert job["status"] == "stopped"
    assert job["error"].startswith(f"stop requested for job {key} (after step ")
    assert client.get(f"/runs/{job['runs'][0]}").json()["status"] == "interrupted"


def test_a_failure_in_the_process_fails_the_job(serve: Serve,
                                                executor: ProcessExecutor) -> None:
    client = serve(_apps.app, executor=executor)

    failed = wait_for(client, client.post("/commands/fit", json={"fail": "nan"}).json()["id"],
                      90)
    crashed = wait_for(client, client.post("/commands/crash", json={"status": 7}).json()["id"],
                       90)

    assert (failed["status"], failed["error"]) == ("failed", "ValueError: nan")
    assert crashed["status"] == "failed"
    assert crashed["error"].startswith("the job's process exited with status 7 before it "
                                       "reported an end")
