"""Registry: record constructor arguments, derive stable hashes, look classes up by name.

``register`` makes each instance of a class remember the arguments it was built with;
``gethash`` turns name and arguments into an identifier that is the same in every
process, so a model can be treated as an entity. ``Registry`` keeps classes by name with
their signatures, to build them from configuration.

Example:
    >>> from torchsystem.registry import register, getarguments, gethash
    >>> @register
    ... class MLP:
    ...     def __init__(self, width: int, depth: int = 2) -> None:
    ...         self.width, self.depth = width, depth
    >>> getarguments(MLP(32))
    {'width': 32, 'depth': 2}
    >>> gethash(MLP(32)) == gethash(MLP(depth=2, width=32))
    True
"""

from torchsystem.registry.accessors import (
    getarguments,
    gethash,
    getmetadata,
    getname,
    register,
    sethash,
    setname,
)
from torchsystem.registry.catalog import NotRegisteredError, Registry

__all__ = [
    "NotRegisteredError",
    "Registry",
    "getarguments",
    "gethash",
    "getmetadata",
    "getname",
    "register",
    "sethash",
    "setname",
]
