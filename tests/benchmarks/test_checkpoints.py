"""The checkpoint benchmark runs; its timings belong to `make bench`, not here."""

from __future__ import annotations

SCRIPT = "checkpoints"


def test_checkpointing_does_not_change_the_training(bench):
    data = bench.load_digits()
    weights = {}
    for name in ("raw", "full+checkpoints"):
        model, loader = bench.fresh(data, 256)
        bench.VARIANTS[name](model, loader, 2)
        weights[name] = model.state_dict()

    for key, value in weights["raw"].items():
        assert weights["full+checkpoints"][key].equal(value), key


def test_smoke_run_prints_both_parts(bench, capsys):
    assert bench.main(["--smoke", "--batch-sizes", "256"]) == 0
    out = capsys.readouterr().out
    assert "| torchsystem | " in out
    assert "| Checkpoints.restore | " in out
    assert "| 256 | " in out
