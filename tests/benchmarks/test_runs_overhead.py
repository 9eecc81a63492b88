"""The run-records benchmark runs; its timings belong to `make bench`, not here."""

from __future__ import annotations

SCRIPT = "runs_overhead"


def test_recording_runs_does_not_change_the_training(bench):
    data = bench.load_digits()
    weights = {}
    for name in ("raw", "full+runs"):
        model, loader = bench.fresh(data, 256)
        bench.VARIANTS[name](model, loader, 2)
        weights[name] = model.state_dict()

    for key, value in weights["raw"].items():
        assert weights["full+runs"][key].equal(value), key


def test_smoke_run_prints_a_row_per_batch_size(bench, capsys):
    assert bench.main(["--smoke", "--batch-sizes", "256"]) == 0
    assert "| 256 | " in capsys.readouterr().out
