"""``Registry``: classes by name, with their constructor signatures, to build them on demand."""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, overload

from torchsystem._inspect import qualified_name
from torchsystem.registry._capture import (
    capture,
    ensure_class,
    init_parameters,
    registered_options,
)

__all__ = ["NotRegisteredError", "Registry", "annotation_name"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


class NotRegisteredError(KeyError):
    """``registry[name]`` was given a name no class is registered under."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Classes registered by name, each with ``{parameter: annotation name}``.

    ``get(name)`` returns ``None`` for an unknown name (as in torchsystem 1.3);
    ``registry[name]`` raises ``NotRegisteredError`` naming the known ones.

    ``register`` also makes instances record their constructor arguments, exactly as the
    ``register`` function does (with the registry name as their custom name when one is
    given). It returns the class, so it works as a decorator with or without a name.

    Example:
        >>> models = Registry[object]()
        >>> @models.register("mlp")
        ... class MLP:
        ...     def __init__(self, width: int, dropout: float | None = None) -> None:
        ...         self.width = width
        >>> models.keys(), models.signature("mlp")
        (['mlp'], {'width': 'int', 'dropout': 'float | None'})
        >>> models["mlp"](32).width
        32
        >>> models.get("mpl") is None
        True
    """

    def __init__(self) -> None:
        self.types: dict[str, type[T]] = {}
        self.signatures: dict[str, dict[str, str]] = {}

    @overload
    def register(
        self,
        cls: C,
        excluded_args: Iterable[int] | None = None,
        excluded_kwargs: Iterable[str] | None = None,
        *,
        name: str | None = None,
    ) -> C: ...

    @overload
    def register(
        self,
        cls: str | None = None,
        excluded_args: Iterable[int] | None = None,
        excluded_kwargs: Iterable[str] | None = None,
        *,
        name: str | None = None,
    ) -> Callable[[C], C]: ...

    def register(
        self,
        cls: type | str | None = None,
        excluded_args: Iterable[int] | None = None,
        excluded_kwargs: Iterable[str] | None = None,
        *,
        name: str | None = None,
    ) -> Any:
        """Register a class under ``name`` (default: its ``__name__``) and return it.

        ``excluded_args`` (parameter indexes after ``self``) and ``excluded_kwargs``
        (parameter names) are neither recorded nor listed in ``signature``. Registering
        the same class again, or a redefinition of it (same module and qualified name),
        replaces the entry.

        Raises:
            TypeError: the target is not a class, or both a positional and a keyword name.
            ValueError: the name is taken by a different class, or an excluded index or
                name is not a parameter of ``__init__``.
        """
        if isinstance(cls, str) or cls is None:
            if isinstance(cls, str) and name is not None:
                raise TypeError(f"register got two names, {cls!r} and name={name!r}; pass one")
            label = cls if name is None else name
            return lambda target: self._add(target, label, excluded_args, excluded_kwargs)
        return self._add(cls, name, excluded_args, excluded_kwargs)

    def _add(
        self,
        cls: C,
        name: str | None,
        excluded_args: Iterable[int] | None,
        excluded_kwargs: Iterable[str] | None,
    ) -> C:
        ensure_class(cls)
        key = cls.__name__ if name is None else name
        current = self.types.get(key)
        if current is not None and not _same_class(current, cls):
            raise ValueError(
                f"{qualified_name(current)} is already registered as {key!r}; register "
                f"{qualified_name(cls)} under another name: register(cls, name=...)"
            )
        capture(cls, name, excluded_args, excluded_kwargs)
        self.types[key] = cls
        self.signatures[key] = _signature(cls)
        return cls

    def get(self, name: str) -> type[T] | None:
        """The class registered under ``name``, or ``None`` (``registry[name]`` raises)."""
        return self.types.get(name)

    def __getitem__(self, name: str) -> type[T]:
        """The class registered under ``name``.

        Raises:
            NotRegisteredError: no class has that name; the message lists the known ones.
        """
        try:
            return self.types[name]
        except KeyError:
            raise NotRegisteredError(self._unknown(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def _unknown(self, name: str) -> str:
        known = ", ".join(repr(key) for key in self.types) or "none registered"
        close = difflib.get_close_matches(str(name), list(self.types), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"no class registered as {name!r} in {self!r}; known: {known}{hint}"

    def keys(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self.types)

    def signature(self, name: str) -> dict[str, str] | None:
        """A copy of ``{parameter: annotation name}`` for ``name``, or ``None``."""
        found = self.signatures.get(name)
        return None if found is None else dict(found)

    def __repr__(self) -> str:
        return f"Registry({self.keys()})"


def _same_class(registered: type, new: type) -> bool:
    """The same class, or a redefinition of it (module reloaded, notebook cell re-run)."""
    return registered is new or (
        registered.__module__ == new.__module__ and registered.__qualname__ == new.__qualname__
    )


def _signature(cls: type) -> dict[str, str]:
    """``{parameter: annotation name}`` of a registered class, exclusions left out."""
    options = registered_options(cls)
    assert options is not None, "_signature is called right after capture"
    return {
        parameter.name: annotation_name(parameter.annotation)
        for index, parameter in enumerate(init_parameters(cls))
        if index not in options.excluded_args and parameter.name not in options.excluded_kwargs
    }


def annotation_name(annotation: Any) -> str:
    """A readable name for an annotation: ``int``, ``int | None`` (also for ``Optional``
    and ``Union``), ``list[str]``; strings as written; ``Any`` when missing."""
    if annotation is inspect.Parameter.empty:
        return "Any"
    if isinstance(annotation, str):
        return annotation
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(annotation_name(argument) for argument in arguments)
    if origin is typing.Annotated:
        return annotation_name(arguments[0])
    if isinstance(origin, type) and len(arguments) > 0:
        return f"{origin.__name__}[{', '.join(_argument_name(a) for a in arguments)}]"
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    return inspect.formatannotation(annotation)


def _argument_name(argument: Any) -> str:
    """A type argument: ``...`` and the parameter list of ``Callable`` included."""
    if argument is Ellipsis:
        return "..."
    if isinstance(argument, list):
        return f"[{', '.join(annotation_name(item) for item in argument)}]"
    return annotation_name(argument)
