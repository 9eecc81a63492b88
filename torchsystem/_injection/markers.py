"""The ``Depends`` marker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

__all__ = ["Depends", "DependsMarker"]


@dataclass(frozen=True)
class DependsMarker:
    """Mark a parameter as provided by calling ``dependency``.

    Use it as a default (``device: str = Depends(device)``) or inside ``Annotated``
    (``device: Annotated[str, Depends(device)]``). Within one call every dependency runs
    at most once and its value is shared; ``use_cache=False`` runs it for each parameter
    that asks for it. With no ``dependency``, the parameter's annotation is called.

    ``Depends`` is this class at run time (``isinstance(value, Depends)`` works). Type
    checkers see ``Depends(...)`` as a call that returns ``Any``, as FastAPI's, so the
    default form type-checks whatever the parameter's type; annotate with
    ``DependsMarker`` where a marker itself is meant.

    Example:
        >>> def device() -> str:
        ...     return "cpu"
        >>> Depends(device).dependency is device
        True
        >>> Depends is DependsMarker
        True
    """

    dependency: Callable[..., Any] | None = None
    use_cache: bool = field(default=True, kw_only=True)

    @property
    def callable(self) -> Callable[..., Any] | None:
        """The dependency function (the original project's name for ``dependency``)."""
        return self.dependency

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        cache = "" if self.use_cache else ", use_cache=False"
        return f"Depends({name}{cache})"


if TYPE_CHECKING:

    def Depends(  # a class at run time
        dependency: Callable[..., Any] | None = None, *, use_cache: bool = True,
    ) -> Any:
        """``DependsMarker(dependency, use_cache=use_cache)``, typed as ``Any``."""

else:
    Depends = DependsMarker
