"""``register`` a class, then read an instance's name, arguments, hash and metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from torchsystem._inspect import qualified_name
from torchsystem.registry._canonical import UnencodableError, canonical, dumps
from torchsystem.registry._capture import capture
from torchsystem.registry._instance import ARGUMENTS, HASH, NAME, name_of, nest, read, write

__all__ = ["getarguments", "gethash", "getmetadata", "getname", "register", "sethash", "setname"]

C = TypeVar("C", bound=type)


@overload
def register(
    cls: C,
    excluded_args: Iterable[int] | None = None,
    excluded_kwargs: Iterable[str] | None = None,
    *,
    name: str | None = None,
) -> C: ...


@overload
def register(
    cls: str | None = None,
    excluded_args: Iterable[int] | None = None,
    excluded_kwargs: Iterable[str] | None = None,
    *,
    name: str | None = None,
) -> Callable[[C], C]: ...


def register(
    cls: type | str | None = None,
    excluded_args: Iterable[int] | None = None,
    excluded_kwargs: Iterable[str] | None = None,
    *,
    name: str | None = None,
) -> Any:
    """Make each instance of a class record its constructor arguments; return the class.

    Use it as ``@register``, ``@register('name')``, ``@register(name='name')`` or
    ``register(cls, excluded_args=[0], excluded_kwargs={'z'})``. The call is bound to the
    signature of ``__init__`` and defaults are filled in, so ``Foo(1, y=2)``,
    ``Foo(y=2, x=1)`` and ``Foo(1)`` (``y`` defaulting to 2) record the same
    ``{'x': 1, 'y': 2}``. ``excluded_args`` are indexes of parameters after ``self``,
    ``excluded_kwargs`` their names (or names passed through ``**kwargs``). ``*args`` is
    recorded as a list under its own name; ``**kwargs`` entries are merged by name.
    Registered objects among the arguments are recorded as ``{'name', 'arguments'}``.

    Raises:
        TypeError: the target is not a class, or both a positional and a keyword name.
        ValueError: an excluded index or name is not a parameter of ``__init__``.
    """
    if isinstance(cls, str) or cls is None:
        if isinstance(cls, str) and name is not None:
            raise TypeError(f"register got two names, {cls!r} and name={name!r}; pass one")
        label = cls if name is None else name
        return lambda target: capture(target, label, excluded_args, excluded_kwargs)
    return capture(cls, name, excluded_args, excluded_kwargs)


def getarguments(obj: object) -> dict[str, Any]:
    """A copy of the constructor arguments ``obj`` recorded.

    Raises:
        AttributeError: the class of ``obj`` is not registered.
    """
    arguments = read(obj, ARGUMENTS)
    if not isinstance(arguments, dict):
        raise AttributeError(
            f"{_described(obj)} has no recorded arguments: decorate "
            f"{type(obj).__name__} with @register (or call register({type(obj).__name__}))"
        )
    copied: dict[str, Any] = nest(arguments)
    return copied


def getname(obj: object) -> str:
    """The custom name of ``obj`` (from ``register`` or ``setname``), else its class name."""
    return name_of(obj)


def gethash(obj: object) -> str:
    """The hash set with ``sethash``, else the md5 hex digest of the name and the canonical
    JSON of the arguments; the same in every process and on every machine.

    Raises:
        AttributeError: ``obj`` is not registered and no hash was set.
        TypeError: an argument has no canonical encoding; the message names it.
    """
    stored = read(obj, HASH)
    if stored is not None:
        return str(stored)
    if not isinstance(read(obj, ARGUMENTS), dict):
        raise AttributeError(
            f"{_described(obj)} has no hash: decorate {type(obj).__name__} with @register "
            "or set one with sethash(obj, '...')"
        )
    text = getname(obj) + _encoded(obj, dumps)
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def sethash(obj: object, hash: str | None = None) -> None:  # noqa: A002 - the original API
    """Store ``hash`` on ``obj`` (computed from its arguments now when ``None``).

    Raises:
        AttributeError, TypeError: as ``gethash`` when the hash must be computed.
    """
    write(obj, HASH, gethash(obj) if hash is None else hash)


def setname(obj: object, name: str | None = None) -> None:
    """Store ``name`` on ``obj`` as its custom name (its class name when ``None``)."""
    write(obj, NAME, type(obj).__name__ if name is None else name)


def getmetadata(obj: object) -> dict[str, Any]:
    """``name``, ``arguments`` (when recorded) and ``hash`` (when recorded or set) of
    ``obj``, as new JSON data: arguments in their canonical encoding (``json.dumps``
    writes a ``nan`` or ``inf`` argument as ``NaN`` or ``Infinity``).

    Raises:
        TypeError: an argument has no canonical encoding; the message names it.
    """
    metadata: dict[str, Any] = {"name": getname(obj)}
    if isinstance(read(obj, ARGUMENTS), dict):
        metadata["arguments"] = _encoded(obj, lambda arguments: canonical(arguments, ""))
    if read(obj, HASH) is not None or "arguments" in metadata:
        metadata["hash"] = gethash(obj)
    return metadata


def _encoded(obj: object, encode: Callable[[dict[str, Any]], Any]) -> Any:
    """``encode`` applied to the recorded arguments, with an error naming the culprit."""
    try:
        return encode(read(obj, ARGUMENTS))
    except UnencodableError as error:
        cls = type(obj).__name__
        parameter = error.path.split("[", 1)[0].split("{", 1)[0]
        fix = " or decorate its class with @register" if error.registrable else ""
        raise TypeError(
            f"argument {error.path!r} of {cls} cannot be hashed: {error.reason}; leave it out "
            f"with register({cls}, excluded_kwargs={{{parameter!r}}}){fix}"
        ) from error


def _described(obj: object) -> str:
    return f"{qualified_name(type(obj))} instance"
