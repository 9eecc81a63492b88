"""The HTTP load benchmark works end to end on a small database; its timings belong to
`python benchmarks/http_load.py`, not here."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

SCRIPT = "http_load"


def test_the_database_is_built_once_with_the_rows_asked_for(bench, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    bench.build_database(path, 30, 8)
    stamp = path.stat().st_mtime_ns
    bench.build_database(path, 30, 8)

    with sqlite3.connect(path) as connection:
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics), "
            "(SELECT count(DISTINCT name || phase) FROM metrics)").fetchone()
    assert counts == (30, 240, 4)
    assert path.stat().st_mtime_ns == stamp


def test_percentiles(bench) -> None:
    values = [float(v) for v in range(1, 101)]

    assert bench.percentile(values, 0.99) == 100.0
    assert bench.percentile(values, 0.5) == 51.0
    assert bench.percentile([], 0.99) == 0.0


@pytest.mark.timeout(240)
def test_smoke_run_reports_every_measure_and_leaves_no_temporary_file(
        bench, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"  # the temporary folder of this process, the server and jobs
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    assert bench.main(["--smoke"]) == 0

    left = sorted(path.name for path in scratch.iterdir())
    assert [name for name in left if not name.startswith("torchinductor_")] == []  # torch's

    shown = capsys.readouterr().out
    assert "0 errors" in shown
    assert "| GET /runs?limit=50 |" in shown
    assert "| GET /runs/{id}/metrics |" in shown
    assert "| training s/epoch (median of 1) |" in shown
    assert "| event dispatch -> SSE client, p99 |" in shown


@pytest.mark.timeout(120)
def test_per_request_cost_is_measured_in_process(bench, capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    assert bench.main(["--per-request", "--smoke"]) == 0

    shown = capsys.readouterr().out
    for path in ("GET /runs?limit=50", "GET /runs/{id}/metrics", "GET /runs/{id}",
                 "GET /models"):
        assert f"| {path} | " in shown
    assert "| query | CPU per request | wall per request | worker-thread trips |" in shown
