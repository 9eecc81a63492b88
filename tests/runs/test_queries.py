"""Queries and writes of the run database, the checkpoint index included."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from torchsystem.runs import Database, UnknownRecord
from torchsystem.runs.queries import (
    find_checkpoints,
    find_models,
    find_run_rows,
    find_runs,
    get_model,
    get_run,
    latest_metrics,
    metric_history,
    metric_rows,
)
from torchsystem.runs.records import (
    add_checkpoint,
    add_metrics,
    add_model,
    end_run,
    remove_checkpoints,
    start_run,
    update_run,
)
from torchsystem.runs.table import cell, flatten, table


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    with Database(url) as opened:
        yield opened


def test_models_are_found_by_name_or_hash_prefix(database: Database) -> None:
    with database.transaction() as connection:
        add_model(connection, "abc1", "Net_50%", {}, created=1.0)
        add_model(connection, "abc2", "Other", {}, created=2.0)

    assert [m.hash for m in find_models(database)] == ["abc2", "abc1"]
    assert [m.hash for m in find_models(database, name="net_50%")] == ["abc1"]
    assert [m.hash for m in find_models(database, name="_5")] == ["abc1"]  # not a wildcard
    assert [m.hash for m in find_models(database, name="abc")] == ["abc2", "abc1"]
    assert get_model(database, "abc1").name == "Net_50%"
    with pytest.raises(UnknownRecord, match=r"model 'abc' is ambiguous in .*: it starts "
                                            r"abc1, abc2"):
        get_model(database, "abc")


def test_an_empty_database_says_so_for_an_unknown_run(database: Database) -> None:
    with pytest.raises(UnknownRecord, match=r"no run '7': the run database .* holds no runs"):
        get_run(database, 7)


def test_history_latest_values_and_hyperparameter_updates(database: Database) -> None:
    with database.transaction() as connection:
        add_model(connection, "abc", "Net", {})
        run = start_run(connection, "abc", hyperparameters={"lr": 0.1})
        add_metrics(connection, [
            {"run": run, "epoch": epoch, "phase": "train", "name": "loss", "value": value}
            for epoch, value in ((1, 0.5), (2, math.nan), (3, 0.25))])
        update_run(connection, run, hyperparameters={"batch_size": {"train": 8}})

    assert [(p.epoch, p.value) for p in metric_history(database, [run])][::2] == [
        (1, 0.5), (3, 0.25)]
    assert math.isnan(metric_history(database, [run])[1].value)
    assert metric_history(database, [run])[1].to_dict()["value"] is None
    assert metric_history(database, [run], names=["accuracy"]) == []
    assert latest_metrics(database, [run]) == {run: {("train", "loss"): 0.25}}
    assert get_run(database, run).hyperparameters == {"lr": 0.1, "batch_size": {"train": 8}}
    assert get_run(database, run).epochs == 3


def test_a_run_ends_only_with_a_final_status(database: Database) -> None:
    with database.transaction() as connection:
        add_model(connection, "abc", "Net", {})
        run = start_run(connection, "abc")
        with pytest.raises(ValueError, match=r"a run ends as one of \['finished', 'stopped "
                                             r"early', 'interrupted', 'failed'\], not 'done'"):
            end_run(connection, run, "done")
        end_run(connection, run, "failed", "ValueError: bad batch")

    assert [(r.status, r.reason) for r in find_runs(database, status="failed")] == [
        ("failed", "ValueError: bad batch")]


def test_the_checkpoint_index(database: Database) -> None:
    with database.transaction() as connection:
        add_model(connection, "abc", "Net", {})
        run = start_run(connection, "abc")
        for epoch in (1, 2, 3):
            add_checkpoint(connection, "abc", f"/ckpt/epoch-{epoch}.pt", epoch, run=run,
                           step=10 * epoch, metrics={"loss": 1 / epoch})

    found = find_checkpoints(database, model="abc")
    assert [(c.epoch, c.step, c.path, c.metrics) for c in found] == [
        (3, 30, "/ckpt/epoch-3.pt", {"loss": 1 / 3}), (2, 20, "/ckpt/epoch-2.pt", {"loss": 0.5}),
        (1, 10, "/ckpt/epoch-1.pt", {"loss": 1.0})]
    with database.transaction() as connection:
        assert remove_checkpoints(connection, ["/ckpt/epoch-1.pt", "/ckpt/gone.pt"]) == 1
    assert [c.epoch for c in find_checkpoints(database, run=run)] == [3, 2]


def test_the_table_printer_aligns_numbers_right() -> None:
    assert table(["name", "value"], [["loss", 0.5], ["accuracy", 12345678.0], ["lr", None]]) \
        == "name          value\nloss         0.5000\naccuracy  1.235e+07\nlr                -"
    assert cell(1e-5) == "1e-05"
    assert cell(math.nan) == "nan"
    assert flatten({"optimizer": {"groups": [{"lr": 0.1}], "betas": [0.9, 0.99]}}) == {
        "optimizer.groups.0.lr": 0.1, "optimizer.betas": [0.9, 0.99]}


def test_rows_for_a_server_carry_the_stored_json_and_no_nan(database: Database) -> None:
    with database.transaction() as connection:
        add_model(connection, "abc", "Net", {})
        first = start_run(connection, "abc", hyperparameters={"lr": 0.1, "sizes": [8, 16]},
                          command=["train", "--lr", "0.1"])
        second = start_run(connection, "abc", hyperparameters={})
        add_metrics(connection, [
            {"run": first, "epoch": epoch, "phase": phase, "name": "loss", "value": value,
             "step": epoch * 10, "time": float(epoch)}
            for epoch, value in ((2, 0.5), (1, math.nan)) for phase in ("train", "valid")])
        end_run(connection, first, "finished")

    rows = find_run_rows(database)
    (one,) = find_run_rows(database, run=first)

    assert [row.id for row in rows] == [second, first]
    assert json.loads(one.command) == ["train", "--lr", "0.1"]  # JSON text, as stored
    assert json.loads(one.hyperparameters) == {"lr": 0.1, "sizes": [8, 16]}
    assert (one.effective, one.model_name) == ("finished", "Net")
    assert find_run_rows(database, run=first + second) == []
    assert metric_rows(database, first) == [
        (first, 1, 10, "train", "loss", None, 1.0), (first, 1, 10, "valid", "loss", None, 1.0),
        (first, 2, 20, "train", "loss", 0.5, 2.0), (first, 2, 20, "valid", "loss", 0.5, 2.0)]
    assert metric_rows(database, first, phases=["valid"], limit=1, offset=1) == [
        (first, 2, 20, "valid", "loss", 0.5, 2.0)]
    assert metric_rows(database, first, names=["accuracy"]) == []
