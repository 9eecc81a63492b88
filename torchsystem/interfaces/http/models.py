"""What the HTTP API answers: one response model per kind of resource."""

from typing import Any

from pydantic import BaseModel

__all__ = ["Accepted", "CommandOut", "JobOut", "MetricOut", "ModelOut", "Problem", "RunOut"]


class Problem(BaseModel):
    """An error: ``detail`` says what went wrong and what to do."""

    detail: str


class CommandOut(BaseModel):
    """A command the server runs: its name, help and the JSON schema of its body."""

    name: str
    summary: str
    description: str
    body: dict[str, Any]


class Accepted(BaseModel):
    """A command accepted as a job; follow ``location``."""

    id: str
    command: str
    status: str
    location: str


class JobOut(BaseModel):
    """A job: its command and arguments, status, device, times, result or error, and the
    ids of the runs it recorded."""

    id: str
    command: str
    arguments: dict[str, Any]
    status: str
    device: str | None
    created: float
    started: float | None
    ended: float | None
    result: Any
    error: str | None
    location: str
    runs: list[int]


class ModelOut(BaseModel):
    """A model identity from the run database."""

    hash: str
    name: str
    arguments: dict[str, Any]
    created: float


class RunOut(BaseModel):
    """A run from the run database; ``latest`` maps ``name/phase`` to the last value."""

    id: int
    model: str
    model_name: str
    status: str
    started: float
    ended: float | None
    epochs: int
    host: str
    pid: int
    heartbeat: float | None
    command: list[str]
    hyperparameters: dict[str, Any]
    reason: str | None
    latest: dict[str, float | None]


class MetricOut(BaseModel):
    """One metric value of a run (``null`` for NaN)."""

    run: int
    epoch: int
    step: int | None
    phase: str
    name: str
    value: float | None
    time: float
