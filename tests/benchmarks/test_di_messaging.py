"""The benchmark code runs; its timings are not asserted (they belong to `make bench`)."""

from __future__ import annotations

SCRIPT = "di_messaging"


def test_every_torchsystem_case_passes_its_check(bench):
    cases = bench.torchsystem_cases()
    assert set(cases) == {s.key for s in bench.SCENARIOS}
    for key, case in cases.items():
        assert case.check() is None, key


def test_floor_cases_pass_their_checks(bench):
    for key, case in bench.floor_cases().items():
        assert case.check() is None, key


def test_smoke_run_prints_a_row_per_scenario(bench, capsys):
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    for scenario in bench.SCENARIOS:
        assert f"| {scenario.title} |" in out


def test_a_missed_target_is_reported_and_fails(bench, capsys):
    scenario = bench.SCENARIOS[0]
    results = {s.key: {"us": {}, "problems": {}} for s in bench.SCENARIOS}
    results[scenario.key]["us"] = {bench.OURS: 1.0, scenario.peer: 1.0}
    assert bench.report(results, [bench.OURS, scenario.peer]) is False
    assert "MISSED" in capsys.readouterr().out


def test_a_failed_check_is_reported(bench):
    case = bench.Case("1 + 1", {}, expect=3)
    assert "expected 3" in case.check()
