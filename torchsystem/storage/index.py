"""``Index``: checkpoint files listed in the run database's ``checkpoints`` table.

Only imported by ``Checkpoints`` when a database is given: the store itself needs no
SQLAlchemy (``pip install 'torchsystem[runs]'`` for the index).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torchsystem.storage.store import Summary

__all__ = ["Index"]

logger = logging.getLogger("torchsystem.storage")


class Index:
    """Record each checkpoint written (``add_checkpoint``) and forget each one deleted
    (``remove_checkpoints``), in one transaction per write, linked to the run this
    process records for the model (``RunRecorder``) as soon as that run is in the
    database. A failed update is logged and retried with the next; ``close()`` raises if
    some remain unwritten.

    Raises:
        ImportError: SQLAlchemy is not installed.
        RunDatabaseError: the database cannot be used (see ``torchsystem.runs.Database``).
    """

    def __init__(self, database: Any) -> None:
        from torchsystem.runs.database import Database

        self._owned = not isinstance(database, Database)
        self.database = database if isinstance(database, Database) else Database(database)
        self._pending: list[tuple[Summary, str, Mapping[str, Any], Sequence[Path]]] = []
        self._unlinked: dict[str, dict[str, float | None]] = {}

    def record(
        self, found: Summary, kind: str, described: Mapping[str, Any], removed: Sequence[Path],
    ) -> None:
        """Index ``found`` (of a model of class ``kind`` with registry metadata
        ``described``) and drop ``removed``, with anything left from a failed try."""
        self._pending.append((found, kind, described, removed))
        try:
            self._apply()
        except Exception as error:
            logger.warning(
                "the checkpoint index in %s was not updated (%s); it is retried with the "
                "next checkpoint", self.database.name, error,
            )

    def _apply(self) -> None:
        from torchsystem.runs.records import add_checkpoint, add_model, remove_checkpoints

        with self.database.translated(), self.database.transaction() as connection:
            for found, kind, described, removed in self._pending:
                name, arguments = _model_of(kind, described)
                add_model(connection, found.model_id, name, arguments)
                run = _run_of(connection, found.model_id, found.time)
                add_checkpoint(
                    connection, found.model_id, str(found.path), found.epoch, run=run,
                    step=found.step, metrics=found.metrics,
                )
                if run is None:
                    self._unlinked.setdefault(found.model_id, {})[str(found.path)] = found.time
                remove_checkpoints(connection, [str(path) for path in removed])
            self._link(connection)
        self._pending.clear()

    def _link(self, connection: Any) -> None:
        """Link rows written before the run recorder had written the run."""
        from sqlalchemy import update

        from torchsystem.runs.schema import checkpoints

        for model_id, paths in list(self._unlinked.items()):
            for path, at in list(paths.items()):
                run = _run_of(connection, model_id, at)
                if run is not None:
                    connection.execute(update(checkpoints).where(
                        checkpoints.c.model == model_id, checkpoints.c.run.is_(None),
                        checkpoints.c.path == path,
                    ).values(run=run))
                    del paths[path]
            if not paths:
                del self._unlinked[model_id]

    def close(self) -> None:
        """Write what is pending, close the database if this index opened it.

        Raises:
            RunDatabaseError: index rows remain unwritten.
        """
        try:
            if self._pending or self._unlinked:
                self._apply()
        finally:
            if self._owned:
                self.database.close()


def _model_of(kind: str, described: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model name and arguments the ``models`` table holds, from the registry
    metadata a checkpoint keeps (as the run recorder writes them)."""
    if "arguments" in described and "name" in described:
        return str(described["name"]), dict(described["arguments"])
    parts = {
        key: {"name": value.get("name"), "arguments": value.get("arguments")}
        for key, value in described.items() if isinstance(value, Mapping)
    }
    return kind, parts


def _run_of(connection: Any, model_id: str, at: float | None) -> int | None:
    """The run this process records for ``model_id`` that was going on at time ``at``
    (the checkpoint's capture: the run may have ended since, its file written after),
    or, without a time, the one still running."""
    from sqlalchemy import or_, select

    from torchsystem.runs.liveness import HOST
    from torchsystem.runs.schema import RUNNING, runs

    during = (runs.c.status == RUNNING) if at is None else (
        (runs.c.started <= at) & or_(runs.c.ended.is_(None), runs.c.ended >= at)
    )
    query = select(runs.c.id).where(
        runs.c.model == model_id, runs.c.pid == os.getpid(), runs.c.host == HOST, during,
    ).order_by(runs.c.id.desc()).limit(1)
    found = connection.execute(query).scalar()
    return None if found is None else int(found)
