"""Dependency injection: ``Depends``, ``Provider`` and ``inject``.

A function names what it needs as ``Depends(...)`` parameters; whoever owns the function
(a ``Service``, ``Consumer``, ``Subscriber`` or ``Compiler``, or a ``Provider`` given to
``inject``) plugs in implementations through ``dependency_overrides``.

Example:
    >>> from torchsystem.depends import Depends, Provider, inject
    >>> provider = Provider()
    >>> def device() -> str:
    ...     raise NotImplementedError("set by the application")
    >>> @inject(provider)
    ... def train(model: str, device: str = Depends(device)) -> str:
    ...     return f"{model} on {device}"
    >>> provider.override(device, lambda: "cpu")
    >>> train("mlp")
    'mlp on cpu'
"""

from torchsystem._injection.injector import generated_source, inject
from torchsystem._injection.markers import Depends, DependsMarker
from torchsystem._injection.provider import Provider
from torchsystem._injection.runtime import DependencyError, MissingDependencyError

__all__ = [
    "DependencyError",
    "Depends",
    "DependsMarker",
    "MissingDependencyError",
    "Provider",
    "generated_source",
    "inject",
]
