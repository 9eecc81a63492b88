"""What can go wrong with a run database, each error naming the database and the fix."""

from __future__ import annotations

__all__ = ["DatabaseMissing", "RunDatabaseError", "SchemaVersionError", "UnknownRecord"]


class RunDatabaseError(Exception):
    """The run database ``database`` (a path or a URL without its password) failed.

    The message says what is wrong and what to do about it.
    """

    def __init__(self, database: str, message: str) -> None:
        super().__init__(message)
        self.database = database


class DatabaseMissing(RunDatabaseError):
    """There is no run database there yet (no file, or a database without runs tables)."""


class SchemaVersionError(RunDatabaseError):
    """The database was written by a newer torchsystem, or by something else entirely."""


class UnknownRecord(RunDatabaseError, LookupError):
    """No run or model answers to the id given."""
