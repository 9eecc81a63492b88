"""Writes to the run database, as small functions on a connection in a transaction.

Compose them in one transaction: ``with database.transaction() as connection: ...``.
Values are plain JSON; a NaN metric is stored as NULL (SQLite cannot hold a NaN) and
read back as NaN.

Example:
    >>> from torchsystem.runs.database import Database
    >>> database = Database("sqlite://")
    >>> with database.transaction() as connection:
    ...     add_model(connection, "3f2a", "MLP", {"hidden": 128})
    ...     run = start_run(connection, "3f2a", hyperparameters={"lr": 0.01})
    ...     written = add_metrics(connection, [
    ...         {"run": run, "epoch": 1, "phase": "train", "name": "loss", "value": 0.5}])
    ...     end_run(connection, run, "finished")
    >>> database.close()
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from torchsystem.runs.liveness import HOST
from torchsystem.runs.schema import (
    INTERRUPTED,
    RUNNING,
    STATUSES,
    checkpoints,
    metrics,
    models,
    runs,
)

__all__ = [
    "add_checkpoint",
    "add_metrics",
    "add_model",
    "end_run",
    "remove_checkpoints",
    "renew_runs",
    "start_run",
    "update_run",
    "without_passwords",
]

_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")


def without_passwords(argv: Sequence[str]) -> list[str]:
    """``argv`` with the password of every URL in it (``scheme://user:password@host``, a
    ``--database`` for one) replaced by ``***``: what a run's command line records."""
    return [_PASSWORD.sub(r"\1:***@", str(argument)) for argument in argv]


def add_model(
    connection: Connection, hash: str, name: str, arguments: Mapping[str, Any],  # noqa: A002
    created: float | None = None,
) -> None:
    """Record the model ``hash`` unless it is known already (its first record stays)."""
    known = select(models.c.hash).where(models.c.hash == hash)
    if connection.execute(known).first() is not None:
        return
    values = {"hash": hash, "name": name, "arguments": dict(arguments),
              "created": time.time() if created is None else created}
    try:
        with connection.begin_nested():  # another process may insert it meanwhile
            connection.execute(insert(models).values(values))
    except IntegrityError:
        if connection.execute(known).first() is None:
            raise


def start_run(
    connection: Connection, model: str, *, hyperparameters: Mapping[str, Any] | None = None,
    started: float | None = None, command: Sequence[str] | None = None,
    host: str = HOST, pid: int | None = None,
) -> int:
    """Record a new run of ``model`` (recorded with ``add_model``) as running; its id.

    ``command`` (default ``sys.orig_argv``) is recorded ``without_passwords``."""
    now = time.time() if started is None else started
    result = connection.execute(insert(runs).values(
        model=model, status=RUNNING, started=now, heartbeat=now, epochs=0, host=host,
        pid=os.getpid() if pid is None else pid,
        command=without_passwords(sys.orig_argv if command is None else command),
        hyperparameters=dict(hyperparameters or {}),
    ))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def add_metrics(connection: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert metric rows (``run``, ``epoch``, ``phase``, ``name``, ``value``; ``step``
    and ``time`` optional) and raise each run's ``epochs`` to its highest epoch.
    Returns the number of rows."""
    now = time.time()
    values = [{
        "run": row["run"], "epoch": int(row["epoch"]), "step": row.get("step"),
        "phase": str(row["phase"]), "name": str(row["name"]), "value": _value(row["value"]),
        "time": row.get("time", now),
    } for row in rows]
    if not values:
        return 0
    connection.execute(insert(metrics), values)
    highest: dict[int, int] = {}
    for row in values:
        highest[row["run"]] = max(highest.get(row["run"], 0), row["epoch"])
    for run, epoch in highest.items():
        connection.execute(update(runs).where(runs.c.id == run, runs.c.epochs < epoch)
                           .values(epochs=epoch))
    return len(values)


def _value(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def update_run(
    connection: Connection, run: int, *, hyperparameters: Mapping[str, Any] | None = None,
) -> None:
    """Merge ``hyperparameters`` into those of ``run`` (later keys win)."""
    if hyperparameters is None:
        return
    current = connection.execute(select(runs.c.hyperparameters).where(runs.c.id == run)).scalar()
    merged = {**(current or {}), **hyperparameters}
    connection.execute(update(runs).where(runs.c.id == run).values(hyperparameters=merged))


def renew_runs(connection: Connection, ids: Sequence[int], now: float | None = None) -> None:
    """Renew the heartbeat of running ``ids``; one wrongly marked interrupted (its
    process was suspended past the stale limit) is running again."""
    if not ids:
        return
    connection.execute(update(runs).where(
        runs.c.id.in_(ids), runs.c.status.in_((RUNNING, INTERRUPTED)),
    ).values(heartbeat=time.time() if now is None else now, status=RUNNING, ended=None,
             reason=None))


def end_run(
    connection: Connection, run: int, status: str, reason: str | None = None,
    ended: float | None = None,
) -> None:
    """Close ``run`` with ``status`` (``finished``, ``stopped early``, ``failed`` or
    ``interrupted``) and the ``reason`` for it.

    Raises:
        ValueError: ``status`` is not one of ``STATUSES`` (or is ``running``).
    """
    if status not in STATUSES or status == RUNNING:
        raise ValueError(f"a run ends as one of {list(STATUSES[1:])}, not {status!r}")
    connection.execute(update(runs).where(runs.c.id == run).values(
        status=status, reason=reason, ended=time.time() if ended is None else ended))


def add_checkpoint(
    connection: Connection, model: str, path: str, epoch: int, *, run: int | None = None,
    step: int | None = None, metrics: Mapping[str, float] | None = None,
    created: float | None = None,
) -> int:
    """Index a checkpoint of ``model`` written at ``path`` after ``epoch``; its id."""
    result = connection.execute(insert(checkpoints).values(
        model=model, run=run, epoch=epoch, step=step, path=str(path),
        metrics={name: _value(value) for name, value in (metrics or {}).items()},
        created=time.time() if created is None else created,
    ))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def remove_checkpoints(connection: Connection, paths: Iterable[str]) -> int:
    """Drop the index entries of ``paths`` (files deleted); how many there were."""
    chosen = [str(path) for path in paths]
    if not chosen:
        return 0
    count = connection.execute(
        select(func.count()).select_from(checkpoints).where(checkpoints.c.path.in_(chosen))
    ).scalar_one()
    connection.execute(delete(checkpoints).where(checkpoints.c.path.in_(chosen)))
    return int(count)
