"""Build the dependency tree of a function against the overrides in force."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchsystem._injection.analysis import Analyses, Markers
from torchsystem._injection.markers import DependsMarker
from torchsystem._inspect import CallKind, qualified_name

__all__ = ["Arg", "Node", "Param", "Plan", "build_plan"]

_EMPTY = inspect.Parameter.empty
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(eq=False)
class Node:
    """One dependency call: ``call`` (the override, if any) standing in for ``original``.

    Nodes are numbered in the order they finish (post-order): a node's arguments always
    come from nodes with smaller indices.
    """

    index: int
    call: Callable[..., Any]
    original: Callable[..., Any]
    kind: CallKind
    args: list[Arg] = field(default_factory=list)
    cached: bool = True

    @property
    def children(self) -> list[Node]:
        """The dependencies this call needs, in argument order."""
        return [arg.node for arg in self.args if arg.node is not None]


@dataclass(frozen=True, eq=False)
class Arg:
    """One argument of a dependency call: by position (``keyword`` is None) or keyword.

    Its value comes from ``node``, or, with no node, is ``default`` (a parameter that is
    not injected but must be filled in to reach a positional-only one after it).
    """

    keyword: str | None
    node: Node | None
    default: Any = None


@dataclass(eq=False)
class Param:
    """A parameter of the injected function, with its dependency when it has one."""

    parameter: inspect.Parameter
    node: Node | None = None


@dataclass(eq=False)
class Plan:
    """Everything code generation needs, computed once from signatures."""

    kind: CallKind
    params: list[Param]
    nodes: list[Node]


@dataclass(eq=False)
class _Frame:
    """A dependency being built: its resolvable parameters and the nodes found so far."""

    marker: DependsMarker
    original: Callable[..., Any]
    call: Callable[..., Any]
    kind: CallKind
    markers: Markers
    todo: list[tuple[int, DependsMarker]]
    found: dict[int, Node] = field(default_factory=dict)


class _Builder:
    """Depth-first over the dependency tree with an explicit stack: any depth works."""

    def __init__(
        self, overrides: Mapping[Any, Callable[..., Any]], analyses: Analyses, owner: str
    ) -> None:
        self.overrides = overrides
        self.analyses = analyses
        self.owner = owner
        self.nodes: list[Node] = []
        self.cache: dict[int, Node] = {}
        self.path: list[Callable[..., Any]] = []
        self.on_path: set[int] = set()

    def node(self, marker: DependsMarker) -> Node:
        stack: list[_Frame] = []
        value = self.enter(marker, stack)
        while stack:
            top = stack[-1]
            if value is not None:
                top.found[top.todo[len(top.found)][0]] = value
            if len(top.found) < len(top.todo):
                value = self.enter(top.todo[len(top.found)][1], stack)
                continue
            stack.pop()
            self.path.pop()
            self.on_path.discard(id(top.call))
            value = self.finish(top)
        assert value is not None
        return value

    def enter(self, marker: DependsMarker, stack: list[_Frame]) -> Node | None:
        """The cached node for ``marker``, or None after pushing a frame to build it."""
        original = marker.dependency
        assert original is not None  # filled in by _marker
        try:
            call = self.overrides.get(original, original)
        except TypeError:  # unhashable: cannot be a key of the overrides
            call = original
        if marker.use_cache and id(call) in self.cache:
            return self.cache[id(call)]
        if id(call) in self.on_path:
            cycle = " -> ".join(qualified_name(c) for c in [*self.path, call])
            raise TypeError(f"dependency cycle in {self.owner}: {cycle}")
        markers, kind = self.analyses.of(call)
        todo = self.resolvable(call, markers)
        self.path.append(call)
        self.on_path.add(id(call))
        stack.append(_Frame(marker, original, call, kind, markers, todo))
        return None

    def finish(self, frame: _Frame) -> Node:
        args = _arguments(frame.markers, frame.found)
        node = Node(len(self.nodes), frame.call, frame.original, frame.kind, args)
        node.cached = frame.marker.use_cache
        self.nodes.append(node)
        if node.cached:
            self.cache[id(frame.call)] = node
        return node

    def resolvable(
        self, call: Callable[..., Any], markers: Markers
    ) -> list[tuple[int, DependsMarker]]:
        """``(position, marker)`` of each parameter to inject; refuse what cannot be filled."""
        resolved = []
        for position, (parameter, marker) in enumerate(markers):
            if marker is not None:
                resolved.append((position, marker))
            elif parameter.default is _EMPTY and parameter.kind not in _VARIADIC:
                raise TypeError(
                    f"cannot resolve parameter {parameter.name!r} of dependency "
                    f"{qualified_name(call)} (used by {self.owner}): give it a default or "
                    "declare it with Depends(...)"
                )
        return resolved


def _arguments(markers: Markers, found: dict[int, Node]) -> list[Arg]:
    """How to pass each injected parameter: by position while that works, else by keyword.

    A positional-only injected parameter after one that is not injected gets the skipped
    parameters' defaults passed before it, as Python would fill them in.
    """
    last_positional_only = max(
        (i for i, (p, _) in enumerate(markers) if i in found and p.kind is p.POSITIONAL_ONLY),
        default=-1,
    )
    args: list[Arg] = []
    by_position = True
    for position, (parameter, _) in enumerate(markers):
        node = found.get(position)
        if position <= last_positional_only:
            args.append(Arg(None, node, parameter.default))  # the default if no node
        elif node is None:
            by_position = False
        elif by_position and parameter.kind in _POSITIONAL:
            args.append(Arg(None, node))
        else:
            args.append(Arg(parameter.name, node))
            by_position = False
    return args


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
    return Plan(kind, params, builder.nodes)
