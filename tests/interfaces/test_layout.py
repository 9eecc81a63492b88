"""The interfaces battery imports the core, the training and the run records, never the
reverse, and its command line loads no web framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import torchsystem

PACKAGE = Path(torchsystem.__file__).parent


def test_nothing_else_in_the_package_imports_the_interfaces() -> None:
    importers = []
    for path in PACKAGE.rglob("*.py"):
        if "interfaces" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            importers += [str(path) for name in names
                          if name.startswith("torchsystem.interfaces")]
    assert importers == []


def test_the_command_line_loads_no_web_framework() -> None:
    code = ("import sys, torchsystem.interfaces, torchsystem.interfaces.cli; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') "
            "if m in sys.modules))")

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)

    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="httpx2, the client Starlette's test "
                    "client asks for, needs Python 3.11")
def test_the_test_client_of_the_readme_loads_without_a_deprecation_warning() -> None:
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import fastapi.testclient"],
                          capture_output=True, text=True)

    assert done.returncode == 0, done.stderr[-2000:]
