"""The digits example as a person runs it: ``python -m src train`` and
``torchsystem serve src.app:app``, each in a process of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._environment import pythonpath
from tests.interfaces.conftest import free_port, wait_until_serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits"
TORCHSYSTEM = Path(sys.executable).parent / "torchsystem"
pytestmark = pytest.mark.timeout(180)


def environment() -> dict[str, str]:
    found = {key: value for key, value in os.environ.items()
             if key not in ("TORCHSYSTEM_TOKEN", "TORCHSYSTEM_DATABASE")}
    return {**found, "PYTHONPATH": pythonpath(EXAMPLE)}


def test_python_m_src_train(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "src", "--json", "train", "--epochs", "2", "--lr", "3e-3"],
        cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=150)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["epochs"] == 2
    assert result["run"] == 1
    assert "epoch 2 | train loss" in done.stderr
    assert (tmp_path / "runs" / "runs.db").exists()


def test_ctrl_c_in_the_foreground_stops_after_the_step_and_the_same_command_resumes(
        tmp_path: Path) -> None:
    command = [sys.executable, "-m", "src", "--json", "train", "--epochs", "200",
               "--hidden", "32"]
    process = subprocess.Popen(command, cwd=tmp_path, env=environment(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    assert process.stderr is not None
    for line in process.stderr:  # two epochs ended: the first one's checkpoint
        lines.append(line)
        if line.startswith("epoch 2 |"):
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    err = "".join(lines) + err

    assert process.returncode == 130, err[-3000:]
    saved = re.search(r"train: stop requested for job \w+ \([^)]*\); checkpoint of epoch "
                      r"(\d+): (\S+)\n", err)
    assert saved is not None, err[-3000:]
    assert "SIGINT: stopping after the current step (again to exit at once)" in err
    epoch = int(saved.group(1))
    assert (tmp_path / saved.group(2)).is_file()

    again = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True,
                           text=True, timeout=150)

    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["resumed"] == epoch >= 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[httpx.Client]:
    port = free_port()
    process = subprocess.Popen(
        [str(TORCHSYSTEM), "serve", "src.app:app", "--app-dir", str(EXAMPLE), "--port",
         str(port), "--log-level", "warning"], cwd=tmp_path, env=environment(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until_serving(client, process)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(60)


def test_torchsystem_serve_runs_a_posted_command_streams_and_records_it(
        server: httpx.Client) -> None:
    key = server.post("/commands/train", json={"epochs": 2, "hidden": 32}).json()["id"]

    kinds = []
    with server.stream("GET", f"/jobs/{key}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kinds.append(line[len("event: "):])
            if line == "event: end":
                break
    job = server.get(f"/jobs/{key}").json()

    assert job["status"] == "finished", job
    assert kinds.count("Validated") == 2
    assert kinds[-1] == "end"
    run = server.get(f"/runs/{job['runs'][0]}").json()
    assert (run["status"], run["epochs"]) == ("finished", 2)
    assert run["hyperparameters"]["model"]["nn"]["arguments"]["hidden"] == 32
    assert "<title>runs</title>" in server.get("/").text


def test_a_train_job_stopped_by_delete_resumes_when_posted_again(
        server: httpx.Client, tmp_path: Path) -> None:
    arguments = {"epochs": 200, "hidden": 32}
    key = server.post("/commands/train", json=arguments).json()["id"]
    with server.stream("GET", f"/jobs/{key}/events") as stream:
        validated = 0
        for line in stream.iter_lines():  # two epochs ended: the first one's checkpoint
            validated += line == "event: Validated"
            if validated == 2:
                break
    assert server.delete(f"/jobs/{key}").status_code == 202
    stopped = wait(server, key)
    saved = re.search(r"; checkpoint of epoch (\d+): (\S+)$", stopped["error"] or "")
    assert stopped["status"] == "stopped", stopped
    assert saved is not None, stopped["error"]
    epoch = int(saved.group(1))
    assert (tmp_path / saved.group(2)).is_file()
    assert server.get(f"/runs/{stopped['runs'][0]}").json()["status"] == "interrupted"

    again = wait(server, server.post("/commands/train", json=arguments).json()["id"])

    assert again["status"] == "finished", again
    assert again["result"]["resumed"] == epoch >= 1
    assert again["result"]["model"] == server.get(f"/runs/{stopped['runs'][0]}").json()["model"]
    assert again["result"]["epochs"] > epoch


def wait(client: httpx.Client, key: str, timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/jobs/{key}").json())["status"] not in (
            "finished", "failed", "stopped", "cancelled"):
        assert time.monotonic() < deadline, f"job {key} still {job['status']}"
        time.sleep(0.1)
    return job
