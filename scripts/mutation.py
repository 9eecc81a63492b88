"""Mutation testing of the core and the training service: run mutmut, score each part.

    python scripts/mutation.py              # run every mutant, then report
    python scripts/mutation.py --report     # report the last run again
    python scripts/mutation.py --survivors  # ... and show the diff of each survivor

mutmut (configured under ``[tool.mutmut]`` in pyproject.toml) breaks the code one clause
at a time and runs the tests that cover the clause. A mutant is *killed* when a test
fails (or times out). The score of a part is killed / (killed + survived + not covered),
where mutants listed in ``scripts/mutation-equivalent.txt`` (reviewed: they cannot
change behaviour) count as killed. Exits 1 when a part scores under its target.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "scripts" / "mutation-equivalent.txt"
TARGET = 0.90
# (label, module prefix): the parts the score is promised for, then the rest (informational)
PARTS = [
    ("torchsystem/_injection", "torchsystem._injection.", TARGET),
    ("torchsystem/domain", "torchsystem.domain.", TARGET),
    ("torchsystem/services", "torchsystem.services.", TARGET),
    ("torchsystem/registry", "torchsystem.registry.", TARGET),
    ("torchsystem/training/service.py", "torchsystem.training.service.", TARGET),
    ("everything else mutated", "torchsystem.", None),
]
KILLED = {"killed", "timeout", "segfault"}  # a crashed test process also detected it
COUNTED = KILLED | {"survived", "no tests"}


def mutmut(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "mutmut"), *args]
    return subprocess.run(command, cwd=ROOT, text=True, capture_output=True, check=False)


def statuses() -> dict[str, str]:
    """Mutant name -> status from ``mutmut results --all true``."""
    done = mutmut("results", "--all", "true")
    found = {}
    for line in done.stdout.splitlines():
        name, separator, status = line.strip().rpartition(": ")
        if separator and name.startswith("torchsystem."):
            found[name] = status
    if not found:
        sys.exit(f"mutmut reported no mutants; run it first\n{done.stderr[-2000:]}")
    return found


def equivalent() -> dict[str, str]:
    """Reviewed mutants that cannot change behaviour: name -> reason."""
    found = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                found[name] = reason.strip()
    return found


def part_of(name: str) -> str:
    for label, prefix, _ in PARTS:
        if name.startswith(prefix):
            return label
    return PARTS[-1][0]


def report(found: dict[str, str], reviewed: dict[str, str], show: bool) -> int:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    survivors: dict[str, list[str]] = collections.defaultdict(list)
    for name, status in found.items():
        label = part_of(name)
        if status in KILLED or (status in COUNTED and name in reviewed):
            counts[label]["killed"] += 1
        elif status in COUNTED:
            counts[label]["alive"] += 1
            survivors[label].append(name)
        else:
            counts[label][status] += 1
    failed = 0
    print(f"{'part':36} {'killed':>7} {'alive':>6} {'score':>7}  target")
    for label, _, target in PARTS:
        killed, alive = counts[label]["killed"], counts[label]["alive"]
        score = killed / (killed + alive) if killed + alive else 1.0
        verdict = "" if target is None else ("ok" if score >= target else "MISSED")
        failed += verdict == "MISSED"
        goal = "" if target is None else f">= {target:.0%} {verdict}"
        print(f"{label:36} {killed:7} {alive:6} {score:7.1%}  {goal}")
    stale = sorted(set(reviewed) - set(found))
    if stale:
        print(f"\n{len(stale)} reviewed name(s) no longer exist (renumbered?): {stale[:5]}")
    if show:
        for label, names in survivors.items():
            for name in sorted(names):
                print(f"\n## {label}: {name} ({found[name]})")
                print(mutmut("show", name).stdout.strip())
    (ROOT / "mutants").mkdir(exist_ok=True)
    summary = {label: dict(counts[label]) for label, _, _ in PARTS}
    (ROOT / "mutants" / "scores.json").write_text(json.dumps(summary, indent=2))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="report the last run only")
    parser.add_argument("--survivors", action="store_true", help="show each survivor's diff")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not args.report:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "mutmut"), "run", "--max-children", str(args.jobs)],
            cwd=ROOT, check=False, stdout=subprocess.DEVNULL,
        )
        if run.returncode != 0:
            print(f"mutmut run exited with {run.returncode}", file=sys.stderr)
            return run.returncode
    return report(statuses(), equivalent(), args.survivors)


if __name__ == "__main__":
    raise SystemExit(main())
