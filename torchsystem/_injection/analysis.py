"""What a callable's signature says about injection: its markers and call kind."""

from __future__ import annotations

import inspect
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

from torchsystem._injection.markers import DependsMarker
from torchsystem._inspect import (
    CallKind,
    Unresolved,
    call_kind,
    qualified_name,
    signature,
    type_hints,
)

__all__ = ["Analyses", "Markers", "dependency_params"]

_EMPTY = inspect.Parameter.empty
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)

Markers = list[tuple[inspect.Parameter, DependsMarker | None]]


def _annotated_marker(hint: Any) -> DependsMarker | None:
    """The last ``Depends`` in ``Annotated[T, ...]`` (the outermost of nested aliases)."""
    if typing.get_origin(hint) is typing.Annotated:
        for extra in reversed(typing.get_args(hint)[1:]):
            if isinstance(extra, DependsMarker):
                return extra
    return None


def _marker(function: Any, parameter: inspect.Parameter, hint: Any) -> DependsMarker | None:
    """The marker of ``parameter``: its default wins over one inside ``Annotated``."""
    where = f"parameter {parameter.name!r} of {qualified_name(function)}"
    found = parameter.default if isinstance(parameter.default, DependsMarker) else None
    found = _annotated_marker(hint) if found is None else found
    if found is None:
        if isinstance(hint, str) and "Depends" in hint:
            raise TypeError(
                f"{where}: its annotation {hint!r} cannot be evaluated, so its Depends marker "
                "would be lost; make every name it uses importable at run time"
            )
        return None
    if parameter.kind in _VARIADIC:
        raise TypeError(
            f"{where}: Depends cannot fill *args or **kwargs; give the value its own parameter"
        )
    if isinstance(found.dependency, Unresolved):
        raise TypeError(
            f"{where}: its dependency {found.dependency.name!r} cannot be resolved at run time "
            "(imported only for type checkers?); import it at run time"
        )
    if found.dependency is not None:
        return found
    target = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    if target is _EMPTY or isinstance(target, Unresolved) or not callable(target):
        raise TypeError(
            f"{where} uses Depends() without a dependency and has no callable annotation "
            "to call instead; write Depends(some_function)"
        )
    return DependsMarker(target, use_cache=found.use_cache)


def dependency_params(function: Callable[..., Any]) -> Markers:
    """Each parameter of ``function`` with its ``Depends`` marker (default or Annotated).

    Raises:
        TypeError: a bare ``Depends()`` with nothing to call, or a marker that names
            something that does not exist at run time.
    """
    parameters = list(signature(function).parameters.values())
    needs_hints = any(  # strings, also inside Annotated["Session", Depends()]
        isinstance(p.annotation, str) or typing.get_origin(p.annotation) is typing.Annotated
        for p in parameters
    )
    hints = type_hints(function, keep_markers=True) if needs_hints else {}
    return [(p, _marker(function, p, hints.get(p.name, p.annotation))) for p in parameters]


# Bound methods: what a method says does not depend on the instance it is bound to, so
# every instance's bound method shares one reading, kept as long as the function lives.
_METHODS: weakref.WeakKeyDictionary[types.FunctionType, tuple[Markers, CallKind]] = (
    weakref.WeakKeyDictionary()
)


def _method_analysis(
    call: types.MethodType, function: types.FunctionType
) -> tuple[Markers, CallKind]:
    found = _METHODS.get(function)
    if found is None:
        found = (dependency_params(call), call_kind(call))
        _METHODS[function] = found
    return found


class Analyses:
    """What each callable's signature says (markers and call kind), read once per callable.

    A ``Provider`` keeps one: functions are read when decorated, replacements when their
    override is set, so recompiling after an override change inspects nothing. A method
    bound to an instance is read once for all instances (``Training()`` does not read
    its handlers' signatures again).
    """

    def __init__(self) -> None:
        self._known: dict[Any, tuple[Markers, CallKind]] = {}
        self._unhashable: dict[int, tuple[Any, Markers, CallKind]] = {}

    def of(self, call: Callable[..., Any]) -> tuple[Markers, CallKind]:
        """``(markers, kind)`` of ``call``, read now if never seen."""
        try:
            hash(call)
        except TypeError:  # unhashable callable object: remembered by identity
            known = self._unhashable.get(id(call))
            if known is None or known[0] is not call:
                known = (call, dependency_params(call), call_kind(call))
                self._unhashable[id(call)] = known
            return known[1], known[2]
        found = self._known.get(call)
        if found is None:
            function = getattr(call, "__func__", None)
            if type(call) is types.MethodType and type(function) is types.FunctionType:
                found = _method_analysis(call, function)
            else:
                found = (dependency_params(call), call_kind(call))
            self._known[call] = found
        return found

    def preload(self, call: Callable[..., Any]) -> None:
        """Read ``call`` and, recursively, every dependency it names."""
        pending, seen = [call], set()
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            markers, _ = self.of(current)
            pending.extend(m.dependency for _, m in markers if m is not None and m.dependency)
