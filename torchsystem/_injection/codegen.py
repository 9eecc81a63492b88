"""Turn a ``Plan`` into the source of a function that resolves it with no inspection.

For ``def train(model, device=Depends(device))`` the generated code is::

    def train(model, device=_di_M, *, _di_V=_di_M):
        try:
            if device is _di_M:
                device = _di_V[1]()  # device
        except _di_NotImplementedError as _di_e:
            _di_V[0](_di_e)
            raise
        return _di_fn(model, device)

``_di_V`` is a hidden keyword-only parameter whose default is the tuple of this
version's objects (the error reporter, then the dependencies); Python binds it when the
call starts, together with the code, so a call keeps the version it started with. Every
generated name starts with a prefix that no parameter of the function starts with. The
statements are flat: each dependency is computed once, in a block guarded by "is any
parameter that needs it missing", so graphs of any depth compile. Generator dependencies
are entered inline and finished by ``runtime.close_all`` / ``runtime.unwind`` (their
async twins for coroutines and async generators).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchsystem._injection.plan import Arg, Node, Param, Plan
from torchsystem._injection.templates import Names, call_lines, signature_source
from torchsystem._inspect import qualified_name

__all__ = ["Generated", "generate"]


@dataclass
class Generated:
    """The source of one version, its objects, and which line runs which dependency.

    ``values`` is the tuple the hidden parameter holds, except its first item: the error
    reporter, which the injector puts there. ``defaults`` are the globals that the
    ``def`` line's defaults name; ``stale`` is a twin with the same signature that only
    asks for a recompile.
    """

    source: str
    stale: str
    values: list[Any] = field(default_factory=list)
    lines: dict[int, Node] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _needers(params: list[Param], count: int) -> list[frozenset[int]]:
    """For each node, the positions of the injected parameters whose tree contains it."""
    found: list[set[int]] = [set() for _ in range(count)]
    for position, param in enumerate(params):
        pending = [] if param.node is None else [param.node]
        while pending:
            node = pending.pop()
            if position not in found[node.index]:
                found[node.index].add(position)
                pending.extend(node.children)
    return [frozenset(f) for f in found]


@dataclass
class _Writer:
    names: Names
    out: list[str] = field(default_factory=list)
    lines: dict[int, Node] = field(default_factory=dict)
    values: list[Any] = field(default_factory=lambda: [None])  # [0]: the error reporter

    def emit(self, depth: int, text: str, node: Node | None = None) -> None:
        self.out.append("    " * depth + text)
        if node is not None:
            self.lines[len(self.out)] = node

    def constant(self, value: Any) -> str:
        """The expression that reads ``value`` from this version's objects."""
        self.values.append(value)
        return f"{self.names('V')}[{len(self.values) - 1}]"

    def argument(self, arg: Arg) -> str:
        value = self.constant(arg.default) if arg.node is None else self.names(f"v{arg.node.index}")
        return value if arg.keyword is None else f"{arg.keyword}={value}"

    def call(self, node: Node, depth: int, target: str) -> None:
        """Emit the statements that call ``node`` and leave its value in ``target``."""
        n = self.names
        callee = self.constant(node.call)
        args = ", ".join(self.argument(arg) for arg in node.args)
        note = qualified_name(node.call)
        if node.call is not node.original:
            note += f" (override of {qualified_name(node.original)})"
        note = f"  # {_printable(note)}"
        if node.kind in ("sync", "async"):
            wait = "await " if node.kind == "async" else ""
            self.emit(depth, f"{target} = {wait}{callee}({args}){note}", node)
            return
        gen = n(f"g{node.index}")
        step, stop = (
            (f"await {gen}.__anext__()", n("StopAsyncIteration")) if node.kind == "asyncgen"
            else (f"{n('next')}({gen})", n("StopIteration"))
        )
        self.emit(depth, f"{gen} = {callee}({args}){note}")  # runs none of its code yet
        self.emit(depth, "try:")
        self.emit(depth + 1, f"{target} = {step}", node)
        self.emit(depth, f"except {stop}:")
        self.emit(depth + 1, f"{n('noyield')}({gen})")
        self.emit(depth, f"{n('stack')}.append({gen})")

    def body(self, plan: Plan, call: str) -> None:
        """Resolve, call, and (with generator dependencies) clean up in every case."""
        n = self.names
        stacked = any(node.kind in ("gen", "asyncgen") for node in plan.nodes)
        depth = 2 if stacked else 1
        if stacked:
            self.emit(1, f"{n('stack')} = []")
            self.emit(1, "try:")
        self.resolution(plan, depth)
        for line in call_lines(n, plan.kind, call, stacked):
            self.emit(depth, line)
        if not stacked:
            return
        wait, prefix = ("await ", "a") if plan.kind in ("async", "asyncgen") else ("", "")
        self.emit(1, f"except {n('BaseException')} as {n('exc')}:")
        self.emit(2, f"{wait}{n(prefix + 'unwind')}({n('stack')}, {n('exc')})")
        self.emit(2, "raise")
        self.emit(1, f"{wait}{n(prefix + 'close')}({n('stack')})")
        if plan.kind != "asyncgen":
            self.emit(1, f"return {n('res')}")

    def resolution(self, plan: Plan, depth: int) -> None:
        """Flat blocks, one per run of dependencies needed by the same parameters."""
        n = self.names
        self.emit(depth, "try:")
        condition: frozenset[int] | None = None
        for needed, node, target in _steps(plan, n):
            if needed != condition:
                condition = needed
                missing = (f"{plan.params[p].parameter.name} is {n('M')}" for p in sorted(needed))
                self.emit(depth + 1, f"if {' or '.join(missing)}:")
            if node is None:
                self.emit(depth + 2, target)
            else:
                self.call(node, depth + 2, target)
        self.emit(depth, f"except {n('NotImplementedError')} as {n('e')}:")
        self.emit(depth + 1, f"{n('V')}[0]({n('e')})")
        self.emit(depth + 1, "raise")


def _steps(plan: Plan, names: Names) -> list[tuple[frozenset[int], Node | None, str]]:
    """``(parameters that need it, node, target)`` for each call, in set-up order.

    A node that only one parameter needs, as its own dependency, is computed straight into
    that parameter; any other value goes to a local first, and a step with no node
    (``target`` is then a statement) copies it into each parameter that asked for it.
    """
    needers = _needers(plan.params, len(plan.nodes))
    roots: dict[int, list[int]] = {}
    for position, param in enumerate(plan.params):
        if param.node is not None:
            roots.setdefault(param.node.index, []).append(position)
    steps: list[tuple[frozenset[int], Node | None, str]] = []
    for node in plan.nodes:
        owners = roots.get(node.index, [])
        if len(owners) == 1 and needers[node.index] == {owners[0]}:
            steps.append((needers[node.index], node, plan.params[owners[0]].parameter.name))
            continue
        value = names(f"v{node.index}")
        steps.append((needers[node.index], node, value))
        for position in owners:
            name = plan.params[position].parameter.name
            steps.append((frozenset({position}), None, f"{name} = {value}"))
    return steps


def generate(plan: Plan, name: str, names: Names) -> Generated:
    """Source for the injected function ``name`` and for its stale twin.

    The stale twin has the same signature and kind (function, coroutine, generator or
    async generator) and only asks for a recompile; it is swapped in when overrides
    change, so the fast path never checks anything.
    """
    n = names
    writer = _Writer(names)
    defaults: dict[str, Any] = {}
    declared, passed, required = signature_source(plan.params, names, defaults)
    head = f"{'async def' if plan.kind in ('async', 'asyncgen') else 'def'} {{}}({declared}):"
    writer.emit(0, head.format(name))
    for param_name in required:
        writer.emit(1, f"if {param_name} is {n('R')}:")
        writer.emit(2, f"{n('required')}({param_name!r})")
    writer.body(plan, f"{n('fn')}({passed})")
    refresh = f"{n('refresh')}()({passed})"
    stale = [head.format(n("stale"))]
    stale += ["    " + line for line in call_lines(names, plan.kind, refresh, store=False)]
    return Generated(
        "\n".join(writer.out) + "\n", "\n".join(stale) + "\n", writer.values, writer.lines,
        defaults,
    )
