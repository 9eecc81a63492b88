"""The tables of the run database (SQLAlchemy Core), at the current schema version.

Times are seconds since the epoch (UTC, ``time.time()``); JSON columns hold plain JSON
(objects, lists, numbers, text). Statuses are the words of ``STATUSES``.

Tables:

- ``schema_version``: one row, the version of the tables below (``SCHEMA_VERSION``);
- ``models``: one row per model identity: ``hash`` (the aggregate's id), ``name``,
  ``arguments`` (registry arguments), ``created``;
- ``runs``: one row per training run: ``model``, ``status``, ``started``/``ended``,
  ``epochs`` (the last epoch recorded), ``host``, ``pid`` and ``heartbeat`` (how a
  run killed without a word is told from a live one), ``command`` (argv),
  ``hyperparameters``, ``reason`` (why it stopped early, failed or was interrupted);
- ``metrics``: the history: ``run``, ``epoch``, ``step`` (training steps done, when
  known), ``phase``, ``name``, ``value`` (NULL for a NaN), ``time``;
- ``checkpoints``: the checkpoint index: ``model``, ``run``, ``epoch``, ``step``,
  ``path``, ``metrics`` at save time, ``created``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "RUNNING",
    "SCHEMA_VERSION",
    "STATUSES",
    "STOPPED_EARLY",
    "checkpoints",
    "metadata",
    "metrics",
    "models",
    "runs",
    "schema_version",
]

SCHEMA_VERSION = 2

RUNNING = "running"
FINISHED = "finished"
STOPPED_EARLY = "stopped early"
INTERRUPTED = "interrupted"
FAILED = "failed"
STATUSES = (RUNNING, FINISHED, STOPPED_EARLY, INTERRUPTED, FAILED)

# An integer primary key that autoincrements on every backend (SQLite wants INTEGER).
Key = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

models = Table(
    "models",
    metadata,
    Column("hash", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("created", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("model", String(128), ForeignKey("models.hash"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started", Float, nullable=False),
    Column("ended", Float),
    Column("epochs", Integer, nullable=False, default=0),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("heartbeat", Float),
    Column("command", JSON, nullable=False),
    Column("hyperparameters", JSON, nullable=False),
    Column("reason", Text),
    Index("ix_runs_model", "model"),
    Index("ix_runs_status", "status"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("run", Key, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("step", BigInteger),
    Column("phase", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("value", Float),  # NULL for NaN: SQLite cannot store a NaN
    Column("time", Float, nullable=False),
    Index("ix_metrics_run", "run", "name", "phase", "epoch"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("model", String(128), ForeignKey("models.hash"), nullable=False),
    Column("run", Key, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("epoch", Integer, nullable=False),
    Column("step", BigInteger),
    Column("path", Text, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_checkpoints_model", "model", "epoch"),
)
