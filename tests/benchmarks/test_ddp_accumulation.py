"""The accumulation benchmark under two real ranks; its timings belong to `make bench`."""

from __future__ import annotations

import re

SCRIPT = "ddp_accumulation"


def test_smoke_run_counts_one_all_reduce_per_window(bench, capsys):
    assert bench.main(["--smoke"]) == 0

    out = capsys.readouterr().out
    assert re.search(r"^\| every batch \| [\d.]+ \| 4 \| 1\.00 \|$", out, re.M), out
    assert re.search(r"^\| once per window \| [\d.]+ \| 1 \| [\d.]+ \|$", out, re.M), out
    gap = float(re.search(r"max \|w_every - w_once\| after both runs: (\S+)", out).group(1))
    assert gap < 1e-6
