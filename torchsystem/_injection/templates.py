"""Fixed pieces of generated code: names, the signature, the call, async forwarding."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from torchsystem._injection.plan import Param

__all__ = ["GLOBALS", "Names", "Lines", "call_lines", "forward_lines", "signature_source"]

_P = inspect.Parameter

Lines = list[str]  # statements, indented relative to the block they go in


# Names the generated code reads as globals; the injector binds each (prefixed) once.
GLOBALS = (
    "fn", "M", "R", "close", "unwind", "aclose", "aunwind", "refresh", "required", "noyield",
    "next", "StopIteration", "StopAsyncIteration", "NotImplementedError", "BaseException",
    "GeneratorExit",
)


class Names:
    """Generated names: one prefix that none of ``taken`` starts with, so none collides."""

    def __init__(self, taken: Iterable[str]) -> None:
        taken = list(taken)
        prefix, count = "_di_", 0
        while any(name.startswith(prefix) for name in taken):
            count += 1
            prefix = f"_di{count}_"
        self.prefix = prefix

    def __call__(self, suffix: str) -> str:
        return self.prefix + suffix


_FORWARD = """\
try:
    {out} = await {it}.__anext__()
except {StopAsyncIteration}:
    pass
else:
    while True:
        try:
            {sent} = yield {out}
        except {GeneratorExit}:
            await {it}.aclose()
            raise
        except {BaseException} as {thrown}:
            try:
                {out} = await {it}.athrow({thrown})
            except {StopAsyncIteration}:
                break
        else:
            try:
                {out} = await {it}.asend({sent})
            except {StopAsyncIteration}:
                break
"""


class _Prefixed(dict[str, str]):
    def __init__(self, names: Names) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, key: str) -> str:
        return self.names(key)


def forward_lines(names: Names) -> Lines:
    """Drive the async generator ``it``: pass values out and sent values, throws, close in."""
    return _FORWARD.format_map(_Prefixed(names)).splitlines()


def call_lines(names: Names, kind: str, call: str, store: bool) -> Lines:
    """Statements that call the function and return (or, when ``store``, keep in ``res``)
    its result; an async generator is driven by ``forward_lines``."""
    n = names
    if kind == "asyncgen":
        return [f"{n('it')} = {call}", *forward_lines(names)]
    head = {"sync": "", "async": "await ", "gen": "yield from "}[kind] + call
    if store:
        return [f"{n('res')} = {head}"]
    return [f"return {head}" if kind != "gen" else f"return ({head})"]


def signature_source(
    params: list[Param], names: Names, defaults: dict[str, Any]
) -> tuple[str, str, list[str]]:
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
        positional_only = p.kind is _P.POSITIONAL_ONLY
        if param.node is not None:
            default = f"={names('M')}"
        elif p.default is not _P.empty:
            defaults[names(f"d{index}")] = p.default
            default = f"={names(f'd{index}')}"
        elif defaulted and p.kind is not _P.KEYWORD_ONLY:
            default = f"={names('R')}"
            required.append(p.name)
        else:
            default = ""
        defaulted = defaulted or bool(default)
        declared.append(p.name + default)
        passed.append(p.name if p.kind is not _P.KEYWORD_ONLY else f"{p.name}={p.name}")
    if positional_only:
        declared.append("/")
    hidden = f"{names('V')}={names('M')}"  # this version's objects: see ``codegen``
    at = len(declared) - (params[-1].parameter.kind is _P.VAR_KEYWORD)
    declared.insert(at, hidden if star else f"*, {hidden}")
    return ", ".join(declared), ", ".join(passed), required
