"""Every Python snippet in README.md runs, so the documentation cannot rot."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 9


def test_the_quickstart_gives_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    module = types.ModuleType(f"readme_snippet_{index + 1}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    code = compile(SNIPPETS[index], f"README.md snippet {index + 1}", "exec", dont_inherit=True)
    exec(code, module.__dict__)
