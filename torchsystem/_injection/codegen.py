"""Turn a ``Plan`` into the source of a function that resolves it with no inspection.

For ``def train(model, device=Depends(device))`` the generated code is, roughly::

    def train(model, device=__M):
        try:
            if device is __M:
                device = __c0()
        except NotImplementedError as __e:
            __missing(__e)
        return __fn(model, device)

Internal names start with two underscores so they cannot clash with parameters.
Shared dependencies become locals computed once; generator dependencies are entered
inline and finished by ``runtime.close_all`` / ``runtime.unwind``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from torchsystem._injection.plan import Node, Param, Plan

__all__ = ["Generated", "generate", "signature_source"]

_P = inspect.Parameter


@dataclass
class Generated:
    """Source text, the names it uses, and which source line runs which dependency."""

    source: str
    namespace: dict[str, Any]
    lines: dict[int, Node] = field(default_factory=dict)


@dataclass
class _Writer:
    plan: Plan
    is_async: bool
    out: list[str] = field(default_factory=list)
    lines: dict[int, Node] = field(default_factory=dict)
    names: dict[str, Any] = field(default_factory=dict)
    shared: set[int] = field(default_factory=set)

    def emit(self, depth: int, text: str, node: Node | None = None) -> None:
        self.out.append("    " * depth + text)
        if node is not None:
            self.lines[len(self.out)] = node

    def value(self, node: Node, depth: int, done: set[int]) -> str:
        """Emit what computes ``node`` (once per block) and return the name holding it."""
        var = f"__v{node.index}"
        if node.index in done:
            return var
        if node.index in self.shared:
            self.emit(depth, f"if {var} is __M:")
            self.compute(node, depth + 1, set(done))
        else:
            self.compute(node, depth, done)
        done.add(node.index)
        return var

    def compute(self, node: Node, depth: int, done: set[int], target: str = "") -> None:
        """Emit the call of ``node`` into ``target`` (default: its own local)."""
        values = [self.value(child, depth, done) for _, child in node.args]
        args = ", ".join(
            value if index < node.positional else f"{parameter.name}={value}"
            for index, ((parameter, _), value) in enumerate(zip(node.args, values, strict=True))
        )
        call, gen = f"__c{node.index}", f"__g{node.index}"
        var = target or f"__v{node.index}"
        self.names[call] = node.call
        aw = "await " if node.kind in ("async",) else ""
        if node.kind in ("sync", "async"):
            self.emit(depth, f"{var} = {aw}{call}({args})", node)
            return
        step, stop = (
            ("await {}.__anext__()", "StopAsyncIteration")
            if node.kind == "asyncgen" else ("next({})", "StopIteration")
        )
        self.emit(depth, f"{gen} = {call}({args})", node)
        self.emit(depth, "try:")
        self.emit(depth + 1, f"{var} = {step.format(gen)}", node)
        self.emit(depth, f"except {stop}:")
        self.emit(depth + 1, f"__noyield({gen})")
        self.emit(depth, f"__stack.append({gen})")


def _reach(node: Node) -> set[int]:
    found = {node.index}
    for _, child in node.args:
        found |= _reach(child)
    return found


def _shared(params: list[Param]) -> set[int]:
    """Cached nodes needed by two or more injected parameters: guarded by a sentinel."""
    seen: dict[int, int] = {}
    for param in params:
        if param.node is not None:
            for index in _reach(param.node):
                seen[index] = seen.get(index, 0) + 1
    return {index for index, count in seen.items() if count > 1}


def signature_source(params: list[Param], names: dict[str, Any]) -> tuple[str, str, list[str]]:
    """``(parameter list, call arguments, parameters that must be checked as required)``."""
    declared: list[str] = []
    passed: list[str] = []
    required: list[str] = []
    defaulted = positional_only = star = False
    for index, param in enumerate(params):
        p = param.parameter
        if p.kind is _P.VAR_POSITIONAL:
            declared.append(f"*{p.name}")
            passed.append(f"*{p.name}")
            star = True
            continue
        if p.kind is _P.VAR_KEYWORD:
            declared.append(f"**{p.name}")
            passed.append(f"**{p.name}")
            continue
        if p.kind is _P.KEYWORD_ONLY and not star:
            declared.append("*")
            star = True
        if positional_only and p.kind is not _P.POSITIONAL_ONLY:
            declared.append("/")
            positional_only = False
        positional_only = p.kind is _P.POSITIONAL_ONLY
        if param.node is not None:
            default = "=__M"
        elif p.default is not _P.empty:
            names[f"__d{index}"] = p.default
            default = f"=__d{index}"
        elif defaulted and p.kind is not _P.KEYWORD_ONLY:
            default = "=__R"
            required.append(p.name)
        else:
            default = ""
        defaulted = defaulted or bool(default)
        declared.append(p.name + default)
        passed.append(p.name if p.kind is not _P.KEYWORD_ONLY else f"{p.name}={p.name}")
    if positional_only:
        declared.append("/")
    return ", ".join(declared), ", ".join(passed), required


def generate(plan: Plan, name: str) -> Generated:
    """Source for the injected function ``name`` and for its stale twin ``__stale_<name>``.

    The stale twin has the same signature and only asks for a recompile; it is swapped in
    when overrides change, so the fast path never checks anything.
    """
    is_async = plan.kind == "async"
    writer = _Writer(plan, is_async, shared=_shared(plan.params))
    names = writer.names
    declared, passed, required = signature_source(plan.params, names)
    prefix = "async def" if is_async else "def"
    aw = "await " if is_async else ""
    writer.emit(0, f"{prefix} {name}({declared}):")
    for param_name in required:
        writer.emit(1, f"if {param_name} is __R:")
        writer.emit(2, f"__required({param_name!r})")
    body = _Body(writer, plan, aw, passed)
    body.write()
    writer.emit(0, f"{prefix} __stale_{name}({declared}):")
    writer.emit(1, f"return {aw}__refresh()({passed})")
    return Generated("\n".join(writer.out) + "\n", names, writer.lines)


@dataclass
class _Body:
    writer: _Writer
    plan: Plan
    aw: str
    passed: str

    def resolution(self, depth: int) -> None:
        w = self.writer
        for index in sorted(w.shared):
            w.emit(depth, f"__v{index} = __M")
        w.emit(depth, "try:")
        for param in self.plan.params:
            if param.node is None:
                continue
            name = param.parameter.name
            w.emit(depth + 1, f"if {name} is __M:")
            if param.node.index in w.shared:
                w.emit(depth + 2, f"{name} = {w.value(param.node, depth + 2, set())}")
            else:
                w.compute(param.node, depth + 2, set(), target=name)
        w.emit(depth, "except NotImplementedError as __e:")
        w.emit(depth + 1, "__missing(__e)")

    def write(self) -> None:
        w = self.writer
        call = f"{self.aw}__fn({self.passed})"
        if not any(node.kind in ("gen", "asyncgen") for node in self.plan.nodes):
            self.resolution(1)
            w.emit(1, f"return {call}")
            return
        closer, unwinder = ("__aclose", "__aunwind") if w.is_async else ("__close", "__unwind")
        w.emit(1, "__stack = []")
        w.emit(1, "try:")
        self.resolution(2)
        w.emit(2, f"__res = {call}")
        w.emit(1, "except BaseException as __exc:")
        w.emit(2, f"{self.aw}{unwinder}(__stack, __exc)")
        w.emit(2, "raise")
        w.emit(1, f"{self.aw}{closer}(__stack)")
        w.emit(1, "return __res")
