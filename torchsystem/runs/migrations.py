"""Upgrades of an older run database, one schema version at a time, in place.

Each step takes a database from version ``n`` to ``n + 1`` with what that version
added, spelled out as it was then (never through the current tables, which later
versions change). ``upgrade`` runs the steps in the caller's transaction, so an upgrade
is applied whole or not at all (PostgreSQL and SQLite both roll DDL back).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
    update,
)

from torchsystem.runs.schema import SCHEMA_VERSION, schema_version

__all__ = ["MIGRATIONS", "upgrade"]


def _add_heartbeats_and_checkpoints(connection: Connection) -> None:
    """Version 2: ``runs.heartbeat`` and the checkpoint index."""
    kind = Float().compile(dialect=connection.dialect)
    connection.execute(text(f"ALTER TABLE runs ADD COLUMN heartbeat {kind}"))
    key = BigInteger().with_variant(Integer(), "sqlite")
    frozen = MetaData()
    Table("models", frozen, Column("hash", String(128), primary_key=True))  # for the keys
    Table("runs", frozen, Column("id", key, primary_key=True))
    checkpoints = Table(
        "checkpoints",
        frozen,
        Column("id", key, primary_key=True, autoincrement=True),
        Column("model", String(128), ForeignKey("models.hash"), nullable=False),
        Column("run", key, ForeignKey("runs.id", ondelete="SET NULL")),
        Column("epoch", Integer, nullable=False),
        Column("step", BigInteger),
        Column("path", Text, nullable=False),
        Column("metrics", JSON, nullable=False),
        Column("created", Float, nullable=False),
        Index("ix_checkpoints_model", "model", "epoch"),
    )
    checkpoints.create(connection)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _add_heartbeats_and_checkpoints,
}


def upgrade(connection: Connection, version: int) -> None:
    """Bring a database at ``version`` to ``SCHEMA_VERSION`` within ``connection``'s
    transaction, and record the new version."""
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](connection)
        version += 1
    connection.execute(update(schema_version).values(version=SCHEMA_VERSION))
