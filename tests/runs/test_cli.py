"""``torchsystem runs``: list, show, compare, plot, ``--json`` and the errors it explains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchsystem.__main__ import main as torchsystem
from torchsystem.runs import Database
from torchsystem.runs.cli import main
from torchsystem.runs.records import add_metrics, add_model, end_run, start_run
from torchsystem.runs.table import moment

SMALL, LARGE = "aaaa1111" + "0" * 24, "bbbb2222" + "0" * 24
NOW = time.time()  # run 3 is running: its heartbeat must be fresh


def _record(url: str) -> None:
    """Run 1 (small, finished), 2 (large, stopped early), 3 (small, running: this process)."""
    global NOW
    NOW = time.time()  # fresh for each test, however long the session has run
    with Database(url) as database, database.transaction() as connection:
        add_model(connection, SMALL, "MLP", {"hidden": 16}, created=100.0)
        add_model(connection, LARGE, "Wide", {"hidden": 256}, created=200.0)
        for model, lr, started in ((SMALL, 0.1, 1000.0), (LARGE, 0.01, 2000.0),
                                   (SMALL, 0.1, NOW)):
            accuracy = 0.3 if model == SMALL else 0.15
            run = start_run(connection, model, started=started, command=["train.py"],
                            hyperparameters={"optimizer": {"class": "SGD", "lr": lr}})
            add_metrics(connection, [
                {"run": run, "epoch": epoch, "phase": phase, "name": name, "step": 4 * epoch,
                 "value": value / epoch, "time": started + epoch}
                for epoch in (1, 2, 3)
                for phase, name, value in (("train", "loss", lr * 10), ("train", "lr", lr),
                                           ("validation", "loss", 2.0),
                                           ("validation", "accuracy", accuracy * epoch * epoch))])
        end_run(connection, 1, "finished", ended=1010.0)
        end_run(connection, 2, "stopped early", "validation loss did not improve", 2030.0)


@pytest.fixture
def database(sqlite_url: str) -> str:
    _record(sqlite_url)
    return sqlite_url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_shows_runs_newest_first_with_their_latest_metrics(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--database", database, "list")

    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "model", "name", "status", "epochs", "started",
                                "duration", "loss/train", "loss/validation",
                                "accuracy/validation"]
    assert lines[1].split() == ["3", SMALL[:12], "MLP", "running", "3",
                                *moment(NOW).split(), "-", "0.3333", "0.6667", "0.9000"]
    assert lines[2].split()[:5] == ["2", LARGE[:12], "Wide", "stopped", "early"]
    assert lines[2].split()[-5:] == ["30.0", "s", "0.0333", "0.6667", "0.4500"]
    assert lines[3].split()[-5:] == ["10.0", "s", "0.3333", "0.6667", "0.9000"]
    assert len({line.index("status") if "status" in line else None for line in lines[:1]}) == 1
    assert lines[1].index("running") == lines[0].index("status")  # aligned


@pytest.mark.parametrize(("options", "runs"), [
    (["--status", "finished"], [1]),
    (["--name", "wid"], [2]),
    (["--name", "aaaa"], [3, 1]),
    (["--metric", "accuracy/validation>0.5"], [3, 1]),
    (["--metric", "loss/train<0.05", "--metric", "lr"], [2]),
    (["--metric", "accuracy<0.5"], [2]),
    (["--metric", "f1"], []),
    (["--limit", "1"], [3]),
])
def test_list_filters(
    database: str, capsys: pytest.CaptureFixture[str], options: list[str], runs: list[int],
) -> None:
    status, out, _ = _run(capsys, "--database", database, "list", "--json", *options)

    assert status == 0
    assert [run["id"] for run in json.loads(out)["runs"]] == runs


def test_list_shows_the_columns_of_the_metrics_it_filters_by(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = _run(capsys, "--database", database, "list", "--metric", "lr")

    assert out.splitlines()[0].split()[-1:] == ["lr/train"]


def test_a_malformed_metric_filter_is_a_usage_error(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--database", database, "list", "--metric", "accuracy>high"])

    assert exited.value.code == 2
    assert "'accuracy>high' is not NAME[/PHASE][OP NUMBER]" in capsys.readouterr().err


def test_list_json_carries_every_field_for_scripts(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = _run(capsys, "list", "--json", "--database", database)

    run = json.loads(out)["runs"][1]
    assert (run["id"], run["status"], run["reason"], run["epochs"]) == (
        2, "stopped early", "validation loss did not improve", 3)
    assert run["hyperparameters"] == {"optimizer": {"class": "SGD", "lr": 0.01}}
    assert run["metrics"] == pytest.approx({"loss/train": 0.1 / 3, "lr/train": 0.01 / 3,
                                            "loss/validation": 2.0 / 3,
                                            "accuracy/validation": 0.45})


def test_list_models(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "--database", database, "list", "--models")

    assert [line.split()[:3] for line in out.splitlines()] == [
        ["model", "name", "runs"], [LARGE, "Wide", "1"], [SMALL, "MLP", "2"]]


def test_show_a_run_gives_its_settings_and_history(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--database", database, "show", "2")

    assert status == 0
    assert out.startswith(f"run 2 of model {LARGE} (Wide): stopped early: validation loss "
                          "did not improve\n")
    assert "  optimizer.lr     0.0100\n" in out
    history = out[out.index("history\n") + 8:].splitlines()
    assert history[0].split() == ["epoch", "step", "loss/train", "loss/validation",
                                  "accuracy/validation", "lr/train"]
    assert history[3].split() == ["3", "12", "0.0333", "0.6667", "0.4500", "0.0033"]


def test_show_a_model_by_a_prefix_of_its_hash(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--database", database, "show", "aaaa", "--json")

    payload = json.loads(out)
    assert status == 0
    assert payload["model"]["arguments"] == {"hidden": 16}
    assert [run["id"] for run in payload["runs"]] == [3, 1]


@pytest.mark.parametrize(("key", "message"), [
    ("99", r"no run '99' in .*runs.db; the latest are run 3 \(model aaaa11110000\)"),
    ("cccc", r"no model 'cccc' in .*runs.db; the latest are run 3"),
])
def test_an_unknown_id_is_an_error_that_lists_what_there_is(
    database: str, capsys: pytest.CaptureFixture[str], key: str, message: str,
) -> None:
    status, out, err = _run(capsys, "--database", database, "show", key)

    assert (status, out) == (1, "")
    assert err.startswith("torchsystem runs: error: ")
    assert len(err.splitlines()) == 1
    import re

    assert re.search(message, err), err


def test_compare_puts_runs_side_by_side_and_marks_differences(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--database", database, "compare", "1", "bbbb")

    rows = {line[3:].split()[0]: line for line in out.splitlines()[1:-1]}
    assert status == 0
    assert out.splitlines()[0].split() == ["run", "1", "run", "2"]
    assert rows["optimizer.lr"].split() == ["*", "optimizer.lr", "0.1000", "0.0100"]
    assert rows["optimizer.class"].split() == ["optimizer.class", "SGD", "SGD"]
    assert rows["accuracy/validation"].split() == ["*", "accuracy/validation", "0.9000",
                                                   "0.4500"]


def test_plot_draws_every_run_of_the_keys_into_one_image(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "plots" / "curves.png"

    status, out, _ = _run(capsys, "--database", database, "plot", "aaaa", "2", "--metric",
                          "loss", "--metric", "accuracy", "-o", str(target), "--json")

    assert status == 0
    assert json.loads(out) == {"output": str(target), "runs": [1, 3, 2],
                               "metrics": ["loss", "accuracy"]}
    assert target.read_bytes().startswith(b"\x89PNG\r\n")


def test_plot_of_a_metric_never_recorded_names_those_recorded(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")

    status, _, err = _run(capsys, "--database", database, "plot", "1", "--metric", "f1",
                          "-o", str(tmp_path / "c.png"))

    assert status == 1
    assert "runs 1 recorded no 'f1'; they recorded: accuracy, loss, lr" in err
    assert not (tmp_path / "c.png").exists()


def test_a_missing_database_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TORCHSYSTEM_DATABASE", raising=False)

    status, _, err = _run(capsys, "list")

    assert status == 1
    assert err == (f"torchsystem runs: error: no run database at {tmp_path}/runs/runs.db: "
                   "record runs there first (RunRecorder), or name one with --database URL "
                   "or $TORCHSYSTEM_DATABASE\n")
    assert not (tmp_path / "runs").exists()


def test_a_database_without_runs_lists_none(
    sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    Database(sqlite_url).close()

    status, out, _ = _run(capsys, "--database", sqlite_url, "list")

    assert (status, out) == (0, f"no runs match in {sqlite_url}\n")


def test_the_environment_variable_and_the_current_folder_give_the_default(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCHSYSTEM_DATABASE", database)
    assert _run(capsys, "list", "--json")[0] == 0

    monkeypatch.delenv("TORCHSYSTEM_DATABASE")
    monkeypatch.chdir(Path(database).parent.parent)  # the folder holding runs/runs.db
    status, out, _ = _run(capsys, "list", "--json")
    assert (status, len(json.loads(out)["runs"])) == (0, 3)


def test_postgresql_answers_like_sqlite(
    postgres_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    _record(postgres_url)

    _, out, _ = _run(capsys, "--database", postgres_url, "list", "--json")

    assert [(run["id"], run["status"]) for run in json.loads(out)["runs"]] == [
        (3, "running"), (2, "stopped early"), (1, "finished")]


def test_the_torchsystem_command_dispatches(
    database: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert torchsystem(["runs", "--database", database, "show", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["id"] == 1

    assert torchsystem(["bogus"]) == 2
    assert capsys.readouterr().err == ("torchsystem: unknown command 'bogus'; known: runs, "
                                       "serve\n")
    assert torchsystem([]) == 2
    assert "commands:\n  runs   list, show, compare and plot" in capsys.readouterr().err


def test_the_installed_console_script_runs(database: str) -> None:
    script = Path(sys.executable).with_name("torchsystem")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "torchsystem"]
    done = subprocess.run([*command, "runs", "list", "--json"], capture_output=True,
                          text=True, timeout=60, env={**os.environ,
                                                      "TORCHSYSTEM_DATABASE": database})

    assert done.returncode == 0, done.stderr
    assert [run["id"] for run in json.loads(done.stdout)["runs"]] == [3, 2, 1]


def test_a_reader_that_stops_reading_gets_no_traceback(database: str) -> None:
    reading, writing = os.pipe()
    os.close(reading)  # like `| head -1` once it has its line: every write fails (EPIPE)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "torchsystem", "runs", "show", "1", "--database", database],
            stdout=writing, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writing)

    assert (done.returncode, done.stderr) == (1, "")
