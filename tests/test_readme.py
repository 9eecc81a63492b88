"""Every Python snippet in README.md runs, so the documentation cannot rot.

Each fenced block is classified by its info string: Python blocks (``python``, ``py``,
``python3``) run here; shell and text blocks are listed as such. A block with any other
tag, or none, fails the suite, so a snippet cannot silently stop running.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PYTHON_TAGS = frozenset({"python", "py", "python3"})
OTHER_TAGS = frozenset({"bash", "sh", "console", "text"})
FENCES = re.findall(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", README.read_text(), flags=re.S | re.M)
SNIPPETS = [body for tag, body in FENCES if tag.strip().split(" ")[0] in PYTHON_TAGS]


def test_every_fence_is_run_or_declared_not_python() -> None:
    tags = [tag.strip().split(" ")[0] for tag, _ in FENCES]
    unknown = [tag for tag in tags if tag not in PYTHON_TAGS | OTHER_TAGS]
    assert not unknown, f"README fences with tags that are neither run nor known: {unknown}"
    assert len(SNIPPETS) == sum(tag in PYTHON_TAGS for tag in tags)
    assert SNIPPETS, "the README shows no Python at all"


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
