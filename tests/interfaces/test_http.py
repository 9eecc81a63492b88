"""The HTTP API against a real uvicorn server: commands, jobs, stop, events, queries."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from tests.interfaces._apps import build
from tests.interfaces.conftest import Serve, wait_for


def events(client: httpx.Client, job: str, query: str = "", **headers: str
           ) -> list[tuple[str, str, Any]]:
    """The job's whole event stream: ``(id, event, data)`` until ``end``."""
    found: list[tuple[str, str, Any]] = []
    with client.stream("GET", f"/jobs/{job}/events{query}", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if fields:
                    found.append((fields.get("id", ""), fields["event"],
                                  json.loads(fields["data"])))
                    if fields["event"] == "end":
                        return found
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
    raise AssertionError(f"the stream ended without 'end': {found}")


def test_a_command_is_accepted_as_a_job_and_run(serve: Serve) -> None:
    client = serve(build())

    accepted = client.post("/commands/fit", json={"epochs": 3})

    assert accepted.status_code == 202
    body = accepted.json()
    assert accepted.headers["location"] == body["location"] == f"/jobs/{body['id']}"
    assert (body["command"], body["status"]) in {("fit", "queued"), ("fit", "running")}
    job = wait_for(client, body["id"])
    assert job["status"] == "finished", job
    assert job["arguments"] == {"epochs": 3, "steps": 4, "hidden": 8, "fail": None}
    assert job["result"]["epochs"] == 3
    assert job["device"] == "cpu"
    assert job["runs"] == [job["result"]["run"]]
    run = client.get(f"/runs/{job['runs'][0]}").json()
    assert (run["status"], run["epochs"], run["hyperparameters"]["job"]) == (
        "finished", 3, body["id"])


def test_an_empty_object_takes_every_default(serve: Serve) -> None:
    client = serve(build())

    job = wait_for(client, client.post("/commands/echo", json={"text": "hi"}).json()["id"])

    assert job["result"] == {"text": "hi", "tags": [], "options": {}}


def test_a_wrong_type_is_422_naming_the_field(serve: Serve) -> None:
    client = serve(build())

    response = client.post("/commands/fit", json={"epochs": "5"})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "epochs"]
    assert error["msg"] == "Input should be a valid integer"
    assert client.get("/jobs").json() == []


def test_an_unknown_field_is_422_naming_it(serve: Serve) -> None:
    client = serve(build())

    response = client.post("/commands/fit", json={"epoch": 5})

    (error,) = response.json()["detail"]
    assert (response.status_code, error["loc"], error["type"]) == (
        422, ["body", "epoch"], "extra_forbidden")


def test_a_missing_field_literal_and_list_are_checked(serve: Serve) -> None:
    client = serve(build())

    missing = client.post("/commands/echo", json={}).json()["detail"]
    literal = client.post("/commands/echo", json={"text": "a", "mode": "shout"}).json()["detail"]
    items = client.post("/commands/echo", json={"text": "a", "tags": [1]}).json()["detail"]

    assert [(e["loc"], e["type"]) for e in missing] == [(["body", "text"], "missing")]
    assert [(e["loc"], e["type"]) for e in literal] == [(["body", "mode"], "literal_error")]
    assert [(e["loc"], e["type"]) for e in items] == [(["body", "tags", 0], "string_type")]


def test_the_commands_own_checks_are_422(serve: Serve) -> None:
    client = serve(build())

    response = client.post("/commands/fit", json={"epochs": -1})

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["msg"] == "epochs must be >= 0, got -1"


def test_a_body_that_is_not_json_is_422(serve: Serve) -> None:
    client = serve(build())

    response = client.post("/commands/fit", content=b"{epochs: 5",
                           headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_an_unknown_command_is_404_listing_the_known(serve: Serve) -> None:
    client = serve(build())

    response = client.post("/commands/fitt", json={})

    assert response.status_code == 404
    assert response.json() == {"detail": "no command 'fitt'; known: crash, echo, fit"}


def test_the_commands_are_listed_with_their_schema(serve: Serve) -> None:
    client = serve(build())

    listed = {c["name"]: c for c in client.get("/commands").json()}

    assert sorted(listed) == ["crash", "echo", "fit"]
    fit = listed["fit"]
    assert fit["summary"] == "Fit the toy classifier."
    assert fit["body"]["properties"]["epochs"] == {
        "default": 2, "description": "epochs to train", "title": "Epochs", "type": "integer"}
    assert fit["body"]["additionalProperties"] is False


def test_a_failing_handler_fails_its_job_with_the_error(serve: Serve) -> None:
    client = serve(build())

    job = wait_for(client, client.post("/commands/fit", json={"fail": "diverged"}).json()["id"])

    assert (job["status"], job["error"]) == ("failed", "ValueError: diverged")
    run = client.get(f"/runs/{job['runs'][0]}").json()
    assert (run["status"], run["reason"]) == ("failed", "ValueError: diverged")


def test_a_stopped_job_ends_after_its_current_step(serve: Serve) -> None:
    client = serve(build())
    key = client.post("/commands/fit", json={"epochs": 10_000, "steps": 50}).json()["id"]
    with client.stream("GET", f"/jobs/{key}/events") as stream:
        for line in stream.iter_lines():  # wait for the first epoch: a run exists then
            if line == "event: Iterated":
                break

    stopping = client.delete(f"/jobs/{key}")

    assert stopping.status_code == 202
    assert stopping.json()["status"] in ("stopping", "stopped")
    job = wait_for(client, key)
    assert job["status"] == "stopped"
    assert job["error"].startswith(f"stop requested for job {key} (after step ")
    assert job["error"].endswith("; no checkpoint (none are written)")
    run = client.get(f"/runs/{job['runs'][0]}").json()
    assert run["status"] == "interrupted"
    assert run["epochs"] < 10_000


def start_and_stop(client: httpx.Client, arguments: dict[str, Any]) -> dict[str, Any]:
    """Post ``fit``, stop it by ``DELETE`` once an epoch ended; the stopped job."""
    key = client.post("/commands/fit", json=arguments).json()["id"]
    with client.stream("GET", f"/jobs/{key}/events") as stream:
        for line in stream.iter_lines():
            if line == "event: Iterated":
                break
    assert client.delete(f"/jobs/{key}").status_code == 202
    return wait_for(client, key)


def test_a_stopped_job_makes_its_newest_checkpoint_durable(serve: Serve, tmp_path: Path
                                                          ) -> None:
    folder = tmp_path / "checkpoints"
    client = serve(build(checkpoints=str(folder)))

    job = start_and_stop(client, {"epochs": 10_000, "steps": 50})

    assert job["status"] == "stopped"
    found = re.fullmatch(rf"stop requested for job {job['id']} \((after step \d+ of train|at "
                         r"the end of epoch \d+)[^)]*\); checkpoint of epoch (\d+): (.+)",
                         job["error"])
    assert found is not None, job["error"]
    epoch, path = int(found.group(2)), Path(found.group(3))
    assert path.parent.parent == folder
    assert torch.load(path, weights_only=False)["epoch"] == epoch >= 1
    run = client.get(f"/runs/{job['runs'][0]}").json()
    assert run["status"] == "interrupted"


def test_the_same_command_after_a_stop_resumes_from_the_checkpoint(
        serve: Serve, tmp_path: Path) -> None:
    client = serve(build(checkpoints=str(tmp_path / "checkpoints")))
    stopped = start_and_stop(client, {"epochs": 10_000, "steps": 50})
    epoch = int(re.findall(r"checkpoint of epoch (\d+)", stopped["error"])[0])

    key = client.post("/commands/fit", json={"epochs": epoch + 1, "steps": 50}).json()["id"]
    job = wait_for(client, key)

    assert job["status"] == "finished", job
    assert (job["result"]["resumed"], job["result"]["epochs"]) == (epoch, epoch + 1)


def test_a_queued_job_is_cancelled_and_never_runs(serve: Serve) -> None:
    gate = threading.Event()
    client = serve(build(gate=gate))
    first = client.post("/commands/fit", json={"epochs": 1}).json()["id"]
    second = client.post("/commands/fit", json={"epochs": 1}).json()["id"]

    cancelled = client.delete(f"/jobs/{second}").json()
    gate.set()

    assert cancelled["status"] == "cancelled"
    assert wait_for(client, first)["status"] == "finished"
    assert wait_for(client, second)["runs"] == []
    assert [job["status"] for job in client.get("/jobs").json()] == ["cancelled", "finished"]


def test_one_job_per_device_the_others_wait(serve: Serve) -> None:
    gate = threading.Event()
    client = serve(build(gate=gate))
    keys = [client.post("/commands/fit", json={"epochs": 1}).json()["id"] for _ in range(3)]

    statuses = [client.get(f"/jobs/{key}").json()["status"] for key in keys]
    gate.set()

    assert statuses == ["running", "queued", "queued"]
    assert [wait_for(client, key)["status"] for key in keys] == ["finished"] * 3


def test_a_full_queue_is_429(serve: Serve) -> None:
    gate = threading.Event()
    client = serve(build(gate=gate), max_queued=1)
    client.post("/commands/fit", json={})
    client.post("/commands/fit", json={})

    response = client.post("/commands/fit", json={})
    gate.set()

    assert response.status_code == 429
    assert "jobs already wait for a device (max_queued=1)" in response.json()["detail"]


def test_the_event_stream_carries_the_training_events_then_end(serve: Serve) -> None:
    client = serve(build())
    key = client.post("/commands/fit", json={"epochs": 2, "steps": 3}).json()["id"]

    stream = events(client, key)

    kinds = [kind for _, kind, _ in stream]
    assert kinds[0] == "Job"
    assert stream[0][2]["status"] == "running"
    measured = [(kind, data["epoch"], data["phase"]) for _, kind, data in stream
                if kind in ("Trained", "Validated")]
    assert measured == [("Trained", 1, "train"), ("Validated", 1, "validation"),
                        ("Trained", 2, "train"), ("Validated", 2, "validation")]
    assert kinds.count("Iterated") == 2
    assert "Stepped" in kinds
    assert set(stream[2][2]) >= {"type", "time", "model_id"}
    assert kinds[-2:] == ["Job", "end"]
    assert stream[-2][2]["status"] == "finished"
    assert stream[-1][2]["status"] == "finished"
    numbers = [int(number) for number, kind, _ in stream if kind != "end"]
    assert numbers == list(range(1, len(numbers) + 1))


def test_a_reconnecting_client_gets_what_came_after_its_last_event(serve: Serve) -> None:
    client = serve(build())
    key = client.post("/commands/fit", json={"epochs": 2, "steps": 3}).json()["id"]
    whole = events(client, key)

    resumed = events(client, key, **{"Last-Event-ID": "5"})
    after = events(client, key, "?after=5")

    assert resumed == after == whole[5:]


def test_an_ended_jobs_stream_is_replayed_whole(serve: Serve) -> None:
    client = serve(build())
    key = client.post("/commands/echo", json={"text": "x"}).json()["id"]
    wait_for(client, key)

    stream = events(client, key)

    assert [kind for _, kind, _ in stream] == ["Job", "Job", "end"]


def test_unknown_and_malformed_job_ids(serve: Serve) -> None:
    client = serve(build())

    unknown = client.get("/jobs/0123456789ab")
    malformed = client.get("/jobs/..%2F..%2Fetc")
    upper = client.delete("/jobs/0123456789AB")

    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no job '0123456789ab'; the latest jobs: none yet"
    assert malformed.status_code in (404, 422)
    assert upper.status_code == 422
    assert upper.json()["detail"][0]["loc"] == ["path", "key"]


def test_the_api_docs_load_everything_from_the_server_itself(serve: Serve) -> None:
    client = serve(build())

    page = client.get("/docs")

    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:href|src)=["']([^"']+)|url: ?["']([^"']+)""", page.text)
    urls = [href or url for href, url in urls]
    assert len(urls) >= 4, urls  # stylesheet, icon, script, the OpenAPI document
    assert [url for url in urls if not url.startswith("/") or url.startswith("//")] == []
    assert {url: client.get(url).status_code for url in urls} == dict.fromkeys(urls, 200)
    assert client.get(urls[-1]).json()["info"]["title"] == "toy"


def test_without_the_swagger_ui_files_the_docs_page_says_what_to_install(
        serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi_offline", None)  # import fails: not installed
    client = serve(build())

    page = client.get("/docs")

    assert page.status_code == 200
    assert "pip install 'torchsystem[http]'" in page.text
    assert 'href="/openapi.json"' in page.text
    assert "https://" not in page.text
    assert client.get("/docs/assets/swagger-ui.css").status_code == 404
