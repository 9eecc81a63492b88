"""Every Python example of docs/dependency-injection.md runs, and shows what it says."""

from __future__ import annotations

import contextlib
import io
import re
import types
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "dependency-injection.md"
TEXT = PAGE.read_text()
FENCES = re.findall(r"^```(\w*)\n(.*?)^```", TEXT, flags=re.S | re.M)
SNIPPETS = [body for tag, body in FENCES if tag == "python"]


def _run(index: int) -> str:
    """Run snippet ``index`` as a script would (its functions live in ``__main__``)."""
    module = types.ModuleType("__main__")
    code = compile(SNIPPETS[index], f"{PAGE.name} snippet {index + 1}", "exec", dont_inherit=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, module.__dict__)
    return printed.getvalue()


def test_every_fence_is_python_or_text() -> None:
    assert {tag for tag, _ in FENCES} == {"python", "text"}
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs(index: int) -> None:
    _run(index)


def test_the_generated_source_shown_is_the_one_generated() -> None:
    index = next(i for i, body in enumerate(SNIPPETS) if "print(source)" in body)
    shown = next(body for tag, body in FENCES if tag == "text")

    assert _run(index) == shown + "\n"
