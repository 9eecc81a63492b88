"""Environments for the subprocesses the tests start."""

from __future__ import annotations

import os
from pathlib import Path


def pythonpath(*folders: Path) -> str:
    """``folders`` ahead of the ``PYTHONPATH`` this process was given, which is kept: on a
    machine whose packages are found through it, the child finds them too."""
    inherited = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([*map(str, folders), *([inherited] if inherited else [])])
