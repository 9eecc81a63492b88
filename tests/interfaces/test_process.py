"""Jobs in processes of their own: the worker imports the application by reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interfaces import _apps
from tests.interfaces.conftest import Serve, free_port, wait_for, wait_until_serving
from torchsystem.interfaces import serve
from torchsystem.interfaces.executors import JOB_NICE, ProcessExecutor

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


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no scheduling priorities (Windows)")
def test_the_job_process_runs_at_a_lower_priority_than_the_server(serve: Serve) -> None:
    default = ProcessExecutor(_apps.app, "tests.interfaces._apps:app", ROOT)
    none = ProcessExecutor(_apps.app, "tests.interfaces._apps:app", ROOT, nice=0)
    server = os.nice(0)
    found = []
    for executor in (default, none):
        client = serve(_apps.app, executor=executor)
        found.append(wait_for(client, client.post("/commands/fit", json={"epochs": 1})
                              .json()["id"], 90))
    niced, plain = found

    assert default.nice == JOB_NICE == 10
    assert niced["result"]["nice"] == min(19, server + JOB_NICE)
    assert plain["result"]["nice"] == server


@pytest.mark.parametrize("nice", [-1, 20, True])
def test_a_niceness_out_of_range_is_refused(nice: int) -> None:
    with pytest.raises(ValueError, match=(
            rf"nice must be an int from 0 \(the server's priority\) to 19 \(the lowest\), "
            rf"got {nice!r}")):
        ProcessExecutor(_apps.app, "tests.interfaces._apps:app", ROOT, nice=nice)


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
    # after a step, or at the epoch boundary when the stop came before the job passed it
    assert re.match(rf"stop requested for job {key} \((after step \d+|at the end of epoch "
                    rf"\d+)", job["error"]), job["error"]
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


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no scheduling priorities (Windows)")
def test_torchsystem_serve_job_nice_sets_the_niceness_of_the_job_processes(
        tmp_path: Path) -> None:
    port = free_port()
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("TORCHSYSTEM_TOKEN", "TORCHSYSTEM_DATABASE")}
    process = subprocess.Popen(
        [sys.executable, "-m", "torchsystem", "serve", "tests.interfaces._apps:app", "--app-dir",
         ROOT, "--port", str(port), "--database", str(tmp_path / "runs.db"), "--job-nice", "3",
         "--log-level", "warning"], cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until_serving(client, process)
            job = wait_for(client, client.post("/commands/fit", json={"epochs": 1})
                           .json()["id"], 90)
    finally:
        process.terminate()
        process.wait(60)

    assert job["status"] == "finished", job
    assert job["result"]["nice"] == min(19, os.nice(0) + 3)


@pytest.mark.parametrize(("option", "value", "why"), [
    *[("--job-nice", value, "is not a niceness from 0 to 19") for value in ("20", "-1", "low")],
    *[("--readers", value, "is not a number of readers (1 or more)")
      for value in ("0", "-2", "many")],
])
def test_torchsystem_serve_refuses_an_option_out_of_range(
        option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = serve.main(["tests.interfaces._apps:app", option, value])

    assert status == 2
    assert f"argument {option}: {value!r} {why}" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "expected"), [([], None), (["--readers", "3"], 3)])
def test_torchsystem_serve_readers_reach_the_app(
        given: list[str], expected: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.delenv("TORCHSYSTEM_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))

    assert serve.main(["tests.interfaces._apps:app", "--app-dir", ROOT, *given]) == 0
    assert served[0].state.torchsystem.readers == expected
