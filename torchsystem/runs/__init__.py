"""Run records: every model trained, with its arguments, hyperparameters and metric
history, in a database one command away (``torchsystem runs``).

``RunRecorder`` is the consumer that records; ``Database`` opens a run database (SQLite
by default, any SQLAlchemy URL); ``torchsystem.runs.queries`` reads it and
``torchsystem.runs.records`` writes it (the checkpoint index included).

Optional battery: the core never imports it; it needs SQLAlchemy
(``pip install 'torchsystem[runs]'``). Names load on first use, so the command line
reads a database without importing PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import sqlalchemy
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "torchsystem.runs needs SQLAlchemy 2: pip install 'torchsystem[runs]'"
    ) from missing
if not sqlalchemy.__version__.startswith("2."):  # pragma: no cover
    raise ImportError(
        f"torchsystem.runs needs SQLAlchemy 2, found {sqlalchemy.__version__}: "
        "pip install 'torchsystem[runs]'"
    )

if TYPE_CHECKING:
    from torchsystem.runs.database import Database
    from torchsystem.runs.errors import (
        DatabaseMissing,
        RunDatabaseError,
        SchemaVersionError,
        UnknownRecord,
    )
    from torchsystem.runs.recorder import RunRecorder

__all__ = [
    "Database",
    "DatabaseMissing",
    "RunDatabaseError",
    "RunRecorder",
    "SchemaVersionError",
    "UnknownRecord",
]

_MODULES = {
    "Database": "database",
    "DatabaseMissing": "errors",
    "RunDatabaseError": "errors",
    "RunRecorder": "recorder",
    "SchemaVersionError": "errors",
    "UnknownRecord": "errors",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'torchsystem.runs' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"torchsystem.runs.{module}"), name)
