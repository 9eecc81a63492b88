"""``Database``: where it is, what it creates, upgrades, refuses, and how it explains."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text, update

from torchsystem.runs import Database, DatabaseMissing, RunDatabaseError, SchemaVersionError
from torchsystem.runs.database import resolve
from torchsystem.runs.queries import find_checkpoints, find_runs, get_run
from torchsystem.runs.records import add_checkpoint, add_model, renew_runs, start_run
from torchsystem.runs.schema import SCHEMA_VERSION, runs, schema_version

WORKER = Path(__file__).with_name("_worker.py")


def _version(database: Database) -> int | None:
    with database.transaction(write=False) as connection:
        return connection.execute(select(schema_version.c.version)).scalar()


def test_creates_every_table_at_the_current_version(url: str) -> None:
    with Database(url) as database:
        tables = set(inspect(database.engine).get_table_names())

        assert {"schema_version", "models", "runs", "metrics", "checkpoints"} <= tables
        assert _version(database) == SCHEMA_VERSION


def test_a_sqlite_file_is_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    with Database(sqlite_url, busy_timeout=12.5) as database, database.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12500

    with sqlite3.connect(sqlite_url) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_default_is_runs_db_under_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TORCHSYSTEM_DATABASE", raising=False)

    Database().close()

    assert (tmp_path / "runs" / "runs.db").is_file()


def test_the_environment_variable_names_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCHSYSTEM_DATABASE", f"sqlite:///{tmp_path}/team.db")

    assert resolve().database == f"{tmp_path}/team.db"
    assert resolve("elsewhere.db").database == str(Path("elsewhere.db").absolute())


def _v1_schema(url: str) -> None:
    """The tables as schema version 1 made them, with one finished run in them."""
    postgres = url.startswith("postgresql")
    serial = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER NOT NULL PRIMARY KEY"
    key = "BIGINT" if postgres else "INTEGER"
    engine = create_engine(url if postgres else f"sqlite:///{url}")
    with engine.begin() as connection:
        for statement in [
            "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY)",
            "INSERT INTO schema_version VALUES (1)",
            "CREATE TABLE models (hash VARCHAR(128) NOT NULL PRIMARY KEY, name VARCHAR(200) "
            "NOT NULL, arguments JSON NOT NULL, created FLOAT NOT NULL)",
            f"CREATE TABLE runs (id {serial}, model VARCHAR(128) NOT NULL REFERENCES "
            "models (hash), status VARCHAR(20) NOT NULL, started FLOAT NOT NULL, ended FLOAT, "
            "epochs INTEGER NOT NULL, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, "
            "command JSON NOT NULL, hyperparameters JSON NOT NULL, reason TEXT)",
            f"CREATE TABLE metrics (id {serial}, run {key} NOT NULL REFERENCES runs (id) "
            "ON DELETE CASCADE, epoch INTEGER NOT NULL, step BIGINT, phase VARCHAR(64) NOT "
            "NULL, name VARCHAR(200) NOT NULL, value FLOAT, time FLOAT NOT NULL)",
            "INSERT INTO models VALUES ('abc123', 'MLP', '{\"hidden\": 32}', 1.0)",
            "INSERT INTO runs (model, status, started, ended, epochs, host, pid, command, "
            "hyperparameters) VALUES ('abc123', 'finished', 1.0, 2.0, 1, 'old-host', 1, "
            "'[\"train.py\"]', '{\"lr\": 0.1}')",
            "INSERT INTO metrics (run, epoch, phase, name, value, time) "
            "VALUES (1, 1, 'train', 'loss', 0.25, 1.5)",
        ]:
            connection.execute(text(statement))
    engine.dispose()


def test_an_older_database_is_upgraded_in_place(url: str) -> None:
    if not url.startswith("postgresql"):
        Path(url).parent.mkdir(parents=True)
    _v1_schema(url)

    with Database(url) as database:
        assert _version(database) == SCHEMA_VERSION
        run = get_run(database, 1)
        assert (run.model, run.status, run.hyperparameters, run.heartbeat) == (
            "abc123", "finished", {"lr": 0.1}, None)
        with database.transaction() as connection:
            add_checkpoint(connection, "abc123", "/tmp/epoch-1.pt", 1, run=1,
                           metrics={"loss": 0.25})
        assert [c.path for c in find_checkpoints(database, model="abc123")] == ["/tmp/epoch-1.pt"]


def test_a_newer_database_is_refused(url: str) -> None:
    Database(url).close()
    with Database(url) as database, database.transaction() as connection:
        connection.execute(update(schema_version).values(version=SCHEMA_VERSION + 7))

    with pytest.raises(SchemaVersionError, match=(
        rf"has schema version {SCHEMA_VERSION + 7}, newer than this torchsystem understands "
        rf"\({SCHEMA_VERSION}\): upgrade torchsystem"
    )):
        Database(url)


def test_tables_torchsystem_did_not_make_are_refused(sqlite_url: str) -> None:
    Path(sqlite_url).parent.mkdir(parents=True)
    with sqlite3.connect(sqlite_url) as connection:
        connection.execute("CREATE TABLE runs (name TEXT)")

    with pytest.raises(SchemaVersionError, match=r"has tables \['runs'\] but no schema_version"):
        Database(sqlite_url)


@pytest.mark.parametrize("create", [True, False])
def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)

    with pytest.raises(RunDatabaseError, match=(
        rf"^{path} is not a SQLite database \(file is not a database\)"
    )):
        Database(path, create=create)
    assert path.read_text().startswith("these are my notes")


def test_a_reader_never_creates_a_missing_database(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "runs.db"

    with pytest.raises(DatabaseMissing, match=rf"no run database at {path}: record runs"):
        Database(path, create=False)
    assert not path.parent.exists()


def test_an_empty_database_has_no_runs_for_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()

    with pytest.raises(DatabaseMissing, match=r"is empty: no run was recorded there yet"):
        Database(path, create=False)


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(RunDatabaseError, match=rf"{tmp_path} is a folder, not a SQLite"):
        Database(tmp_path)


def test_an_unreachable_server_is_named_without_its_password() -> None:
    from tests._postgres import _free_port

    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    port = _free_port()

    with pytest.raises(RunDatabaseError, match=(
        rf"cannot reach the run database postgresql\+psycopg://me:\*\*\*@127.0.0.1:{port}/"
        r"team \(.*\): check that the server runs"
    )) as raised:
        Database(f"postgresql+psycopg://me:secret@127.0.0.1:{port}/team")
    assert "secret" not in str(raised.value)


def test_an_unknown_driver_says_what_to_install() -> None:
    with pytest.raises(RunDatabaseError, match=r"cannot use the run database nosuch://x: .*"
                       r"install its driver"):
        Database("nosuch://x")


def _without_write_permission(command: list[str]) -> list[str]:
    """``command`` run so that file permissions hold (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]


def test_a_read_only_file_stops_a_recorder_before_training_and_stays_readable() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "runs.db"
        with Database(path) as database, database.transaction() as connection:
            add_model(connection, "abc", "MLP", {})
            start_run(connection, "abc", pid=2**22 + 1)  # no such process: it died
        for file in folder.iterdir():
            file.chmod(0o444)
        code = (
            "import json, sys\n"
            "from torchsystem.runs import RunDatabaseError, RunRecorder\n"
            "from torchsystem.runs.cli import main\n"
            "try:\n"
            f"    RunRecorder({str(path)!r})\n"
            "except RunDatabaseError as error:\n"
            "    print(error, file=sys.stderr)\n"
            f"sys.exit(main(['--database', {str(path)!r}, 'list', '--json']))\n"
        )
        done = subprocess.run(_without_write_permission([sys.executable, "-c", code]),
                              capture_output=True, text=True, timeout=60)

        assert done.returncode == 0, done.stderr
        assert f"the run database {path} is read-only (attempt to write a readonly" \
            in done.stderr
        assert '"status": "interrupted"' in done.stdout  # read-only, yet shown as it is
    finally:
        shutil.rmtree(folder)


def test_a_run_killed_with_sigkill_reads_as_interrupted(url: str) -> None:
    Database(url).close()
    worker = subprocess.Popen([sys.executable, str(WORKER), url, "kill"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        run_id = int(worker.stdout.readline())
        with Database(url) as database:
            assert get_run(database, run_id).status == "running"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    with Database(url) as database:
        run = get_run(database, run_id)
        assert (run.status, run.reason) == (
            "interrupted", f"process {worker.pid} on {run.host} ended without a word")
        assert find_runs(database, status="running") == []
    with Database(url) as database, database.transaction(write=False) as connection:
        stored = connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        assert stored == "interrupted"  # marked in the database, not only shown


def test_a_run_is_written_when_it_starts_so_a_kill_at_once_leaves_it_interrupted(
    url: str,
) -> None:
    Database(url).close()
    worker = subprocess.Popen([sys.executable, str(WORKER), url, "started"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "started\n"
        deadline = time.monotonic() + 30  # metrics wait for the hourly batch; the run not
        with Database(url) as database:
            while not find_runs(database):
                assert time.monotonic() < deadline, "the run was not written when it started"
                time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    with Database(url) as database:
        [run] = find_runs(database)
        assert (run.status, run.hyperparameters, run.epochs) == (
            "interrupted", {"epochs": 10}, 0)


def test_a_silent_run_of_another_host_turns_interrupted_after_stale_after(url: str) -> None:
    now = time.time()
    with Database(url, stale_after=60) as database:
        with database.transaction() as connection:
            add_model(connection, "abc", "MLP", {})
            quiet = start_run(connection, "abc", host="elsewhere", started=now - 600)
            alive = start_run(connection, "abc", host="elsewhere", started=now - 600)
            renew_runs(connection, [alive], now=now - 10)

        assert {run.id: run.status for run in find_runs(database)} == {
            quiet: "interrupted", alive: "running"}


def test_a_heartbeat_revives_a_run_marked_interrupted_while_alive(url: str) -> None:
    with Database(url, stale_after=60) as database:
        with database.transaction() as connection:
            add_model(connection, "abc", "MLP", {})
            run = start_run(connection, "abc", host="elsewhere", started=time.time() - 600)
        assert get_run(database, run).status == "interrupted"

        with database.transaction() as connection:
            renew_runs(connection, [run])

        revived = get_run(database, run)
        assert (revived.status, revived.ended, revived.reason) == ("running", None, None)


def test_two_processes_creating_one_database_at_once_agree(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    code = (f"from torchsystem.runs import Database; Database({str(path)!r}).close()")
    workers = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]

    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    with Database(path) as database, database.transaction(write=False) as connection:
        assert connection.execute(select(schema_version.c.version)).scalars().all() == [
            SCHEMA_VERSION]


def test_inserting_a_known_model_keeps_its_first_record(url: str) -> None:
    with Database(url) as database:
        with database.transaction() as connection:
            add_model(connection, "abc", "MLP", {"hidden": 1})
            add_model(connection, "abc", "Other", {"hidden": 2})
            connection.execute(insert(runs).values(
                model="abc", status="finished", started=0.0, epochs=0, host="h", pid=1,
                command=[], hyperparameters={}))
        from torchsystem.runs.queries import get_model

        assert get_model(database, "abc").name == "MLP"
