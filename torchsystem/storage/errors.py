"""``CheckpointError``: a checkpoint that cannot be written or read, with its path."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CheckpointError"]


class CheckpointError(Exception):
    """A checkpoint file or folder cannot be used: ``path`` names it, the message says
    why and what to do.

    Example:
        >>> error = CheckpointError("runs/ab12/epoch-00000003.pt", "is truncated")
        >>> str(error)
        'runs/ab12/epoch-00000003.pt is truncated'
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = Path(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[CheckpointError], tuple[str, str]]:
        return type(self), (str(self.path), self.reason)
