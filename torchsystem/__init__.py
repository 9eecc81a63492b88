"""torchsystem: PyTorch training systems built the domain-driven way.

``Aggregate`` and ``Compiler`` import PyTorch; they are loaded on first use so that the
messaging and dependency-injection layers import without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchsystem.depends import Depends
from torchsystem.domain.events import Event, Events

if TYPE_CHECKING:
    from torchsystem.compiler import Compiler
    from torchsystem.domain.aggregate import Aggregate

__all__ = ["Aggregate", "Compiler", "Depends", "Event", "Events", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Aggregate":
        from torchsystem.domain.aggregate import Aggregate

        return Aggregate
    if name == "Compiler":
        from torchsystem.compiler import Compiler

        return Compiler
    raise AttributeError(f"module 'torchsystem' has no attribute {name!r}")
