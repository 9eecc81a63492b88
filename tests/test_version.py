"""The version is declared once, in the package, and the installed metadata reads it."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import torchsystem

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_installed_metadata_carries_the_package_version() -> None:
    assert importlib.metadata.version("torchsystem") == torchsystem.__version__


def test_pyproject_does_not_repeat_the_version() -> None:
    project = PYPROJECT.read_text().split("[project]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic = \[.*"version".*\]', project, flags=re.M)
    assert not re.search(r"^version\s*=", project, flags=re.M)
