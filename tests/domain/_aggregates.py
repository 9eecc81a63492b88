"""Aggregates at module level, so pickles can import them."""

from __future__ import annotations

from typing import Any

from torch import nn

from torchsystem.domain import Aggregate


class Tracked(Aggregate):
    """Records the values of the ``Measured`` events it handles."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.seen: list[Any] = []
        from tests.domain.test_events import Measured

        self.events.handlers[Measured] = self.remember

    @property
    def id(self) -> str:
        return "tracked"

    def remember(self, event: Any) -> None:
        self.seen.append(event.value)
