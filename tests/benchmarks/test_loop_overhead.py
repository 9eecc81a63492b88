"""The loop benchmark runs, checks weights and computes its statistics right; timings
belong to `make bench`, not here."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = "loop_overhead"


def test_torchsystem_variants_train_exactly_like_their_baseline(bench):
    data = bench.load_digits()
    log = str(Path(bench.WORK) / "test.log")
    trained = {}
    for name in ("raw", "torchsystem", "torchsystem_full", "hand_amp_accum",
                 "torchsystem_amp_accum"):
        _, trained[name] = bench.timed(bench.VARIANTS[name], data, 256, 2, log)
    assert bench.weight_gap(trained["torchsystem"], trained["raw"]) == 0.0
    assert bench.weight_gap(trained["torchsystem_full"], trained["raw"]) == 0.0
    assert bench.weight_gap(trained["torchsystem_amp_accum"], trained["hand_amp_accum"]) == 0.0
    assert bench.weight_gap(trained["hand_amp_accum"], trained["raw"]) > 0.0


def test_in_memory_variant_trains(bench):
    data = bench.load_digits()
    log = str(Path(bench.WORK) / "test.log")
    _, model = bench.timed(bench.VARIANTS["torchsystem_memory"], data, 256, 2, log)
    assert bench.weight_gap(model, bench.fresh(*data, 256)[0]) > 0.0


def test_smoke_run_prints_the_whole_run_table_and_the_parts(bench, capsys):
    argv = ["--smoke", "--variants", "raw_again,torchsystem_amp_accum", "--batch-sizes", "256",
            "--cpu", "-1"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "| 256 | raw_again | raw |" in out
    assert "| 256 | torchsystem_amp_accum | hand_amp_accum |" in out
    assert "| 256 | hand_amp_accum | hand_amp_accum | " in out
    assert "The parts of a run timed in isolation" in out
    assert "Inside whole runs" in out
    assert "| 256 | torchsystem | " in out


def test_each_variant_runs_between_two_runs_of_its_baseline(bench, monkeypatch):
    order = []

    def timed(chosen, data, batch, epochs, log):
        order.append(chosen.name)
        seconds = {"raw": 1.0, "torchsystem": 1.1, "hand_amp_accum": 2.0}.get(chosen.name, 1.0)
        return bench.Timing(seconds, seconds), None

    monkeypatch.setattr(bench, "timed", timed)
    names = bench.baselines_first(["raw_again", "torchsystem", "torchsystem_amp_accum"])
    found = bench.rounds_of(names, 2, None, 32, 1, "", "test")

    assert names[:2] == ["raw", "hand_amp_accum"]
    assert order == [
        "raw", "raw_again", "raw", "torchsystem", "raw",
        "hand_amp_accum", "torchsystem_amp_accum", "hand_amp_accum",
        "raw", "torchsystem", "raw", "raw_again", "raw",  # rotated
        "hand_amp_accum", "torchsystem_amp_accum", "hand_amp_accum",
    ]
    summary = bench.summarize(found)
    assert summary["torchsystem"].cpu[0] == pytest.approx(1.1)
    assert summary["torchsystem_amp_accum"].cpu[0] == pytest.approx(0.5)
    assert summary["raw_again"].rounds == 2


def test_the_ratio_divides_by_the_geometric_mean_of_the_neighbours(bench, monkeypatch):
    times = iter([1.0, 2.0, 4.0])  # raw, torchsystem, raw: a machine slowing down

    def timed(chosen, data, batch, epochs, log):
        seconds = next(times)
        return bench.Timing(seconds, seconds), None

    monkeypatch.setattr(bench, "timed", timed)
    found = bench.rounds_of(["raw", "torchsystem"], 1, None, 32, 1, "", "test")

    assert bench.summarize(found)["torchsystem"].cpu[0] == pytest.approx(1.0)


def test_the_confidence_interval_of_the_median_is_by_order_statistics(bench):
    median, low, high = bench.median_interval([float(v) for v in range(40)])
    assert (median, low, high) == (19.5, 13.0, 26.0)  # P(Bin(40, 1/2) <= 13) = 0.019
    assert bench.median_interval([1.0, 2.0, 3.0]) == (2.0, 1.0, 3.0)  # too few: the range


def test_targets_are_checked_on_the_median_cpu_ratio(bench, capsys):
    def summary(ratio):
        return bench.Summary(1.0, (ratio, ratio - 0.01, ratio + 0.01), (1.0, 1.0, 1.0), 5)

    names = ["raw", "raw_again", "torchsystem"]
    quiet = {"raw": summary(1.0), "raw_again": summary(1.0), "torchsystem": summary(1.009)}
    assert bench.report(quiet, names, 32, 8, 57, True) is True
    slow = {**quiet, "torchsystem": summary(1.02)}
    assert bench.report(slow, names, 32, 8, 57, True) is False
    assert "<= 1.01 MISSED" in capsys.readouterr().out


def test_a_noisy_control_is_called_out(bench, capsys):
    noisy = bench.Summary(1.0, (1.03, 0.99, 1.08), (1.0, 1.0, 1.0), 5)
    flat = bench.Summary(1.0, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 5)
    bench.report({"raw": flat, "raw_again": noisy}, ["raw", "raw_again"], 32, 8, 57, True)
    assert "noisy: the A/A control reads 1.030" in capsys.readouterr().out


def test_estimate_adds_the_parts_up(bench):
    parts = {"compute": 30.0, "dataloader": 10.0, "tensorloader": 1.0, "bare": 0.4, "full": 2.0}
    ratios = bench.estimate(parts)
    assert ratios["torchsystem"] == (40.4 / 40.0)
    assert ratios["torchsystem_full"] == (42.0 / 40.0)
    assert ratios["torchsystem_memory"] == (33.0 / 40.0)


def test_the_stopwatch_times_a_function_and_a_loader_without_changing_them(bench):
    watch = bench.Stopwatch()
    timed = watch.function(lambda x: (bench.time.sleep(0.01), x * 2)[1])
    assert timed(21) == 42
    assert watch.seconds >= 0.009
    loading = bench.Stopwatch()
    wrapped = loading.loader([1, 2, 3])
    assert len(wrapped) == 3
    assert list(wrapped) == [1, 2, 3]
    assert list(wrapped) == [1, 2, 3]  # iterable again, like a DataLoader


def test_the_own_time_is_what_the_step_and_the_loader_leave(bench):
    inside = bench.Inside(total=1.0, step=0.6, loader=0.3)
    assert inside.own == pytest.approx(0.1)


def test_inside_whole_runs_the_step_and_loader_are_timed_for_every_variant(bench, capsys):
    data = bench.load_digits()
    log = str(Path(bench.WORK) / "test.log")
    found = bench.in_situ(data, 256, 1, 1, log)
    assert set(found) == {"raw", "torchsystem", "torchsystem_full"}
    for row in found.values():
        assert 0 < row.step < row.total
        assert 0 < row.loader < row.total
        assert row.own > 0
    bench.report_in_situ({256: found}, 1, len(data[0]))
    out = capsys.readouterr().out
    assert "| 256 | raw | " in out
    assert "| 256 | torchsystem_full | " in out
