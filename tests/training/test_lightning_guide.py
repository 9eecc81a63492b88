"""Every snippet of docs/lightning.md runs, each after the page's set-up."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

# The first optimiser made in a process imports torch._dynamo, seconds on a busy machine:
# paid here, at collection, not inside the first snippet's time limit.
import torch._dynamo  # noqa: F401

PAGE = Path(__file__).resolve().parents[2] / "docs" / "lightning.md"
FENCES = re.findall(r"^```(\w*)\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)
SETUP, *SNIPPETS = [body for tag, body in FENCES if tag == "python"]


def test_every_fence_is_python() -> None:
    assert {tag for tag, _ in FENCES} == {"python"}
    assert len(SNIPPETS) >= 12


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_after_the_set_up(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    module = types.ModuleType(f"lightning_snippet_{index + 1}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for name, body in (("set-up", SETUP), (f"snippet {index + 1}", SNIPPETS[index])):
        code = compile(body, f"{PAGE.name} {name}", "exec", dont_inherit=True)
        exec(code, module.__dict__)
