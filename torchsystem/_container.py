"""What every container shares: a provider and the ways to override dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchsystem._injection.provider import Overrides
from torchsystem.depends import Provider

__all__ = ["Container"]


class Container:
    """Holds a ``Provider``; ``dependency_overrides`` and ``override`` act on it.

    Several containers built with the same ``provider`` share their overrides.
    """

    def __init__(self, provider: Provider | None = None) -> None:
        self.provider = Provider() if provider is None else provider

    @property
    def dependency_overrides(self) -> Overrides:
        """Original dependency -> replacement; changes take effect on the next call."""
        return self.provider.dependency_overrides

    @dependency_overrides.setter
    def dependency_overrides(self, value: dict[Callable[..., Any], Callable[..., Any]]) -> None:
        self.provider.dependency_overrides = value

    def override(self, dependency: Callable[..., Any], implementation: Callable[..., Any]) -> None:
        """Use ``implementation`` wherever ``dependency`` is asked for."""
        self.provider.override(dependency, implementation)
