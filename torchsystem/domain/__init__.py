"""The domain layer: ``Aggregate``, ``Event`` and ``Events``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchsystem.domain.events import Event, Events

if TYPE_CHECKING:
    from torchsystem.domain.aggregate import Aggregate

__all__ = ["Aggregate", "Event", "Events"]


def __getattr__(name: str) -> Any:
    if name == "Aggregate":
        from torchsystem.domain.aggregate import Aggregate

        return Aggregate
    raise AttributeError(f"module 'torchsystem.domain' has no attribute {name!r}")
