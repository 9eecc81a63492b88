"""Build the dependency tree of a function against the overrides in force."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchsystem._injection.markers import Depends
from torchsystem._inspect import CallKind, call_kind, qualified_name, signature, type_hints

__all__ = ["Analyses", "Node", "Param", "Plan", "build_plan", "dependency_params"]

_EMPTY = inspect.Parameter.empty
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(eq=False)
class Node:
    """One dependency call: ``call`` (the override, if any) standing in for ``original``."""

    index: int
    call: Callable[..., Any]
    original: Callable[..., Any]
    kind: CallKind
    args: list[tuple[inspect.Parameter, Node]] = field(default_factory=list)
    cached: bool = True
    positional: int = 0  # how many leading ``args`` can be passed by position


@dataclass(eq=False)
class Param:
    """A parameter of the injected function, with its dependency when it has one."""

    parameter: inspect.Parameter
    node: Node | None = None


@dataclass(eq=False)
class Plan:
    """Everything code generation needs, computed once from signatures."""

    function: Callable[..., Any]
    kind: CallKind
    params: list[Param]
    nodes: list[Node]


def _marker(parameter: inspect.Parameter, hint: Any) -> Depends | None:
    found: Depends | None = None
    if typing.get_origin(hint) is typing.Annotated:
        for extra in reversed(typing.get_args(hint)[1:]):
            if isinstance(extra, Depends):
                found = extra
                break
    if isinstance(parameter.default, Depends):
        found = parameter.default
    if found is None or found.dependency is not None:
        return found
    target = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    if not callable(target) or target is _EMPTY:
        raise TypeError(
            f"parameter {parameter.name!r} uses Depends() without a dependency and has no "
            "callable annotation to call instead; write Depends(some_function)"
        )
    return Depends(target, use_cache=found.use_cache)


def dependency_params(
    function: Callable[..., Any],
) -> list[tuple[inspect.Parameter, Depends | None]]:
    """Each parameter of ``function`` with its ``Depends`` marker (default or Annotated)."""
    parameters = list(signature(function).parameters.values())
    needs_hints = any(
        isinstance(p.annotation, str) or typing.get_origin(p.annotation) is typing.Annotated
        or isinstance(p.default, Depends)
        for p in parameters
    )
    hints = type_hints(function) if needs_hints else {}
    return [(p, _marker(p, hints.get(p.name, p.annotation))) for p in parameters]


Markers = list[tuple[inspect.Parameter, Depends | None]]


class Analyses:
    """What each callable's signature says (markers and call kind), read once per callable.

    A ``Provider`` keeps one: functions are read when decorated, replacements when their
    override is set, so recompiling after an override change inspects nothing.
    """

    def __init__(self) -> None:
        self._known: dict[Any, tuple[Markers, CallKind]] = {}
        self._unhashable: dict[int, tuple[Any, Markers, CallKind]] = {}

    def of(self, call: Callable[..., Any]) -> tuple[Markers, CallKind]:
        """``(markers, kind)`` of ``call``, read now if never seen."""
        try:
            return self._known[call]
        except KeyError:
            found = self._known[call] = (dependency_params(call), call_kind(call))
            return found
        except TypeError:  # unhashable callable object: remembered by identity
            known = self._unhashable.get(id(call))
            if known is None or known[0] is not call:
                known = (call, dependency_params(call), call_kind(call))
                self._unhashable[id(call)] = known
            return known[1], known[2]

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


class _Builder:
    def __init__(
        self, overrides: Mapping[Any, Callable[..., Any]], analyses: Analyses, owner: str
    ) -> None:
        self.overrides = overrides
        self.analyses = analyses
        self.owner = owner
        self.nodes: list[Node] = []
        self.cache: dict[Any, Node] = {}
        self.path: list[Callable[..., Any]] = []

    def node(self, marker: Depends) -> Node:
        original = marker.dependency
        assert original is not None  # filled in by _marker
        call = self.overrides.get(original, original)
        if marker.use_cache and call in self.cache:
            return self.cache[call]
        if call in self.path:
            cycle = " -> ".join(qualified_name(c) for c in [*self.path, call])
            raise TypeError(f"dependency cycle in {self.owner}: {cycle}")
        self.path.append(call)
        markers, kind = self.analyses.of(call)
        args = [(p, self.node(m)) for p, m in self._resolvable(call, markers)]
        self.path.pop()
        node = Node(len(self.nodes), call, original, kind, args, marker.use_cache)
        node.positional = _leading_positional(markers)
        self.nodes.append(node)
        if marker.use_cache:
            self.cache[call] = node
        return node

    def _resolvable(
        self, call: Callable[..., Any], markers: list[tuple[inspect.Parameter, Depends | None]]
    ) -> list[tuple[inspect.Parameter, Depends]]:
        resolved = []
        for parameter, marker in markers:
            if marker is not None:
                resolved.append((parameter, marker))
            elif parameter.default is _EMPTY and parameter.kind not in _VARIADIC:
                raise TypeError(
                    f"cannot resolve parameter {parameter.name!r} of dependency "
                    f"{qualified_name(call)} (used by {self.owner}): give it a default or "
                    "declare it with Depends(...)"
                )
        return resolved


def _leading_positional(markers: list[tuple[inspect.Parameter, Depends | None]]) -> int:
    count = 0
    for parameter, marker in markers:
        if marker is None or parameter.kind not in _POSITIONAL:
            break
        count += 1
    return count


def build_plan(
    function: Callable[..., Any],
    overrides: Mapping[Any, Callable[..., Any]],
    analyses: Analyses,
) -> Plan:
    """Resolve ``function``'s dependency tree with ``overrides`` applied at every level.

    Raises:
        TypeError: a cycle, an unresolvable parameter, or a synchronous ``function`` that
            would need an ``async`` dependency.
    """
    owner = qualified_name(function)
    builder = _Builder(overrides, analyses, owner)
    markers, kind = analyses.of(function)
    params = [Param(p, None if m is None else builder.node(m)) for p, m in markers]
    if kind in ("sync", "gen"):
        for node in builder.nodes:
            if node.kind in ("async", "asyncgen"):
                via = "" if node.call is node.original else (
                    f" (the override of {qualified_name(node.original)})"
                )
                raise TypeError(
                    f"{owner} is synchronous but its dependency {qualified_name(node.call)}"
                    f"{via} is async; declare the handler with 'async def' or use a "
                    "synchronous dependency"
                )
    return Plan(function, kind, params, builder.nodes)
