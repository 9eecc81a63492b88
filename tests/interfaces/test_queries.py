"""The read-only queries of the run database over HTTP."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import anyio.to_thread
import pytest

from tests.interfaces._apps import build
from tests.interfaces._records import fill
from tests.interfaces.conftest import Serve
from torchsystem.runs import Database
from torchsystem.runs.records import add_metrics, add_model, end_run, start_run


def test_runs_newest_first_with_their_latest_metrics(serve: Serve, database: str) -> None:
    first, second, third = fill(database)
    client = serve(build())

    listed = client.get("/runs").json()

    assert [run["id"] for run in listed] == [third, second, first]
    assert listed[2]["latest"] == {"loss/train": 0.25, "accuracy/train": 0.4,
                                   "loss/validation": 0.25, "accuracy/validation": 0.4}
    assert listed[1]["latest"]["loss/validation"] is None  # NaN
    assert (listed[0]["model_name"], listed[0]["status"], listed[0]["epochs"]) == (
        "MLP", "finished", 4)


def test_runs_are_filtered_and_paginated(serve: Serve, database: str) -> None:
    first, second, third = fill(database)
    client = serve(build())

    def ids(query: str) -> list[int]:
        return [run["id"] for run in client.get(f"/runs{query}").json()]

    assert ids("?limit=1&offset=1") == [second]
    assert ids("?name=cnn") == [second]
    assert ids("?model=3f2a") == [third, first]
    assert ids("?status=running") == []
    assert ids("?name=%25") == []  # a LIKE wildcard is a character to look for


def test_a_run_and_its_metric_history(serve: Serve, database: str) -> None:
    first, *_ = fill(database, epochs=2)
    client = serve(build())

    run = client.get(f"/runs/{first}").json()
    history = client.get(f"/runs/{first}/metrics").json()
    losses = client.get(f"/runs/{first}/metrics?name=loss&phase=validation").json()
    page = client.get(f"/runs/{first}/metrics?limit=2&offset=1").json()

    assert run["hyperparameters"] == {"lr": 0.1}
    assert run["latest"]["loss/train"] == 0.5
    assert len(history) == 8
    assert history[0] == {
        "run": first, "epoch": 1, "step": 10, "phase": "train", "name": "loss", "value": 1.0,
        "time": history[0]["time"]}
    assert [(p["epoch"], p["value"]) for p in losses] == [(1, 1.0), (2, 0.5)]
    assert page == history[1:3]


def test_models_and_a_model_by_prefix(serve: Serve, database: str) -> None:
    fill(database)
    client = serve(build())

    models = client.get("/models").json()
    model = client.get("/models/9c01").json()

    assert [m["hash"] for m in models] == ["9c01aa77", "3f2a9c01b7de00"]
    assert model == {"hash": "9c01aa77", "name": "CNN", "arguments": {"channels": 8},
                     "created": 2.0}


def test_unknown_records_are_404_saying_what_exists(serve: Serve, database: str) -> None:
    fill(database, runs=1)
    client = serve(build())

    run = client.get("/runs/99")
    metrics = client.get("/runs/99/metrics")
    model = client.get("/models/ffff")

    assert run.status_code == metrics.status_code == model.status_code == 404
    assert run.json()["detail"].startswith("no run '99' in ")
    assert "the latest are run 1 (model 3f2a9c01b7de)" in run.json()["detail"]


def test_ids_and_parameters_are_validated(serve: Serve, database: str) -> None:
    fill(database, runs=1)
    client = serve(build())

    cases = {
        "/runs/0": ["path", "run"],
        "/runs/abc": ["path", "run"],
        "/runs/99999999999999999999": ["path", "run"],
        "/runs?limit=0": ["query", "limit"],
        "/runs?limit=1001": ["query", "limit"],
        "/runs?offset=-1": ["query", "offset"],
        "/runs?status=bogus": ["query", "status"],
        "/models/a%27%3B%20drop": ["path", "key"],
    }

    found = {path: client.get(path) for path in cases}

    assert {path: response.status_code for path, response in found.items()} == dict.fromkeys(
        cases, 422)
    assert {path: r.json()["detail"][0]["loc"] for path, r in found.items()} == cases


def test_an_empty_database_answers_empty_lists(serve: Serve) -> None:
    client = serve(build())

    assert client.get("/runs").json() == client.get("/models").json() == []


def test_queries_answer_while_concurrent_clients_ask(serve: Serve, database: str) -> None:
    # a small, bounded version of benchmarks/http_load.py: correctness under concurrency
    from concurrent.futures import ThreadPoolExecutor

    ids = fill(database, runs=20, epochs=5)
    client = serve(build())
    paths = [f"/runs/{ids[i % 20]}/metrics" if i % 2 else "/runs?limit=50" for i in range(200)]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda path: client.get(path), paths))

    assert [answer.status_code for answer in answers] == [200] * 200
    assert {len(answer.json()) for answer in answers[0::2]} == {20}
    assert {len(answer.json()) for answer in answers[1::2]} == {20}


def test_a_query_goes_to_a_worker_thread_once_for_its_read(
        serve: Serve, database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, *_ = fill(database)
    client = serve(build())
    client.get("/runs")  # the first request of a server sets things up
    trips: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **options: Any) -> Any:
        trips.append(getattr(function, "__name__", None) or repr(function))
        return await run_sync(function, *args, **options)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    trips_of = {}
    for path in ("/runs?limit=50", f"/runs/{first}", f"/runs/{first}/metrics", "/models"):
        trips.clear()
        assert client.get(path).status_code == 200
        trips_of[path] = list(trips)

    assert {path: len(found) for path, found in trips_of.items()} == dict.fromkeys(
        trips_of, 1), trips_of


def _strict(text: str) -> Any:
    """JSON as a browser reads it: NaN and Infinity are errors."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_run_that_ended_is_answered_as_it_was_and_a_running_one_anew(
        serve: Serve, database: str) -> None:
    first, *_ = fill(database, runs=1)
    with Database(database) as opened, opened.transaction() as connection:
        running = start_run(connection, "3f2a9c01b7de00", pid=os.getpid())
        add_metrics(connection, [{"run": running, "epoch": 1, "phase": "train",
                                  "name": "loss", "value": 2.0}])
    client = serve(build())
    before = {run["id"]: run for run in client.get("/runs").json()}
    with Database(database) as opened, opened.transaction() as connection:
        add_metrics(connection, [{"run": run, "epoch": 9, "phase": "train", "name": "loss",
                                  "value": 0.125} for run in (first, running)])

    after = {run["id"]: run for run in client.get("/runs").json()}

    assert before[running]["latest"] == {"loss/train": 2.0}
    assert after[running]["latest"] == {"loss/train": 0.125}  # still running: read anew
    assert after[first] == before[first]  # ended: its answer was made once
    assert client.get(f"/runs/{first}").json() == before[first]
    assert after[first]["latest"]["loss/train"] == 0.25


def test_stored_json_is_sent_as_strict_json(serve: Serve, database: str) -> None:
    with Database(database) as opened, opened.transaction() as connection:
        add_model(connection, "3f2a9c01b7de00", "MLP", {}, created=1.0)
        odd = start_run(connection, "3f2a9c01b7de00", pid=os.getpid(), started=1.0,
                        hyperparameters={"lr": math.nan, "clip": [math.inf, 1.5],
                                         "name": "NaN \u00e9\"\\", "nested": {"x": -math.inf}},
                        command=["train", "--name", "Infinity"])
        end_run(connection, odd, "finished", ended=2.0)
    client = serve(build())

    listed, one = client.get("/runs"), client.get(f"/runs/{odd}")

    assert _strict(listed.text)[0] == _strict(one.text)
    assert _strict(one.text)["hyperparameters"] == {
        "lr": None, "clip": [None, 1.5], "name": "NaN \u00e9\"\\", "nested": {"x": None}}
    assert _strict(one.text)["command"] == ["train", "--name", "Infinity"]
    assert listed.headers["content-type"] == "application/json"


@pytest.mark.parametrize("readers", [1, 3])
def test_reads_of_the_run_database_run_at_most_readers_at_once(
        serve: Serve, database: str, monkeypatch: pytest.MonkeyPatch, readers: int) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from torchsystem.interfaces.http import queries

    fill(database, runs=2)
    lock, running, most = threading.Lock(), [0], [0]
    find = queries.find_run_rows

    def slow(*args: Any, **options: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return find(*args, **options)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(queries, "find_run_rows", slow)
    client = serve(build(), readers=readers)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.get("/runs").status_code, range(12)))

    assert answers == [200] * 12
    assert most[0] == readers


def test_readers_under_one_are_refused() -> None:
    from torchsystem.interfaces.http import create_app

    with pytest.raises(ValueError, match=r"readers=0: at least one read"):
        create_app(build(), readers=0)


def test_queries_answer_the_same_from_postgresql(serve: Serve, postgres_url: str) -> None:
    first, second, third = fill(postgres_url)
    client = serve(build(), database=postgres_url)

    listed = client.get("/runs").json()
    history = client.get(f"/runs/{first}/metrics?name=loss&phase=validation").json()

    assert [run["id"] for run in listed] == [third, second, first]
    assert listed[2]["hyperparameters"] == {"lr": 0.1}
    assert listed[1]["latest"]["loss/validation"] is None  # NaN
    assert client.get(f"/runs/{first}").json() == listed[2]
    assert [(point["epoch"], point["value"]) for point in history] == [
        (1, 1.0), (2, 0.5), (3, 1 / 3), (4, 0.25)]
