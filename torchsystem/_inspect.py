"""Signature and annotation helpers, used once per function at registration time."""

from __future__ import annotations

import builtins
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "CallKind",
    "Unresolved",
    "call_kind",
    "event_classes",
    "qualified_name",
    "signature",
    "type_hints",
]

CallKind = Literal["sync", "async", "gen", "asyncgen"]


def qualified_name(obj: object) -> str:
    """``module.qualname`` of a function or class, or the repr of anything else."""
    target = obj.func if isinstance(obj, functools.partial) else obj
    name = getattr(target, "__qualname__", None)
    if name is None:
        return repr(obj)
    module = getattr(target, "__module__", None)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def signature(obj: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature`` with an error that names the object when it has none."""
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError) as error:
        raise TypeError(f"cannot read the signature of {qualified_name(obj)}: {error}") from error


def call_kind(obj: Callable[..., Any]) -> CallKind:
    """How calling ``obj`` produces its value: directly, awaited, or from a generator."""
    if inspect.isclass(obj):
        return "sync"
    candidates: list[Any] = [obj]
    if not inspect.isfunction(obj) and not inspect.ismethod(obj):
        candidates.append(getattr(obj, "__call__", None))  # noqa: B004 - the method itself
    for candidate in candidates:
        if inspect.isasyncgenfunction(candidate):
            return "asyncgen"
        if inspect.iscoroutinefunction(candidate):
            return "async"
        if inspect.isgeneratorfunction(candidate):
            return "gen"
    return "sync"


def _hint_target(obj: Callable[..., Any]) -> Any:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.isclass(obj):
        return obj.__init__
    if not (inspect.isfunction(obj) or inspect.ismethod(obj)):
        return getattr(type(obj), "__call__", obj)  # noqa: B004 - the method itself
    return obj


_WRAPPERS = ("torchsystem", "mutmut")


def _caller_locals() -> dict[str, Any]:
    """Local names of the nearest frame outside torchsystem (where a decorator was used).

    Frames of mutmut's trampolines are skipped too: mutation testing (``make mutation``)
    wraps every function of the package in one.
    """
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.partition(".")[0] not in _WRAPPERS:
            return dict(frame.f_locals)
        frame = frame.f_back
    return {}


def type_hints(obj: Callable[..., Any], keep_markers: bool = False) -> dict[str, Any]:
    """Resolved parameter annotations of ``obj`` (``Annotated`` kept).

    String annotations (``from __future__ import annotations``) are resolved against the
    function's module and, failing that, against the locals of the frame that registered
    it, so classes defined inside a function work too. An annotation that still cannot be
    resolved is left as a string for the caller to report; with ``keep_markers``, an
    ``Annotated[...]`` one is evaluated with its unknown names as ``Unresolved`` instead,
    so that its metadata (a ``Depends`` marker) is kept.
    """
    target = _hint_target(obj)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    localns = _caller_locals()
    try:
        return typing.get_type_hints(target, localns=localns, include_extras=True)
    except Exception:
        return _hints_one_by_one(target, localns, keep_markers)


def _hints_one_by_one(target: Any, localns: dict[str, Any], keep_markers: bool) -> dict[str, Any]:
    raw = dict(getattr(target, "__annotations__", {}) or {})
    globalns = getattr(target, "__globals__", {})
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                raw[name] = eval(value, globalns, localns)
            except Exception:
                if keep_markers:
                    raw[name] = _leniently(value, globalns, localns)
    return raw


class Unresolved:
    """Stands for a name an annotation uses that does not exist at run time.

    ``Annotated[Session, Depends(get_db)]`` under ``from __future__ import annotations``,
    with ``Session`` imported only for type checkers, still yields its ``Depends`` marker;
    a marker whose dependency is ``Unresolved`` is refused by the caller.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Unresolved:
        if attribute.startswith("__"):  # protocols typing probes for: not there
            raise AttributeError(attribute)
        return Unresolved(f"{self.name}.{attribute}")

    def __getitem__(self, _: object) -> Unresolved:
        return self

    def __or__(self, _: object) -> Unresolved:
        return self

    __ror__ = __or__

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise TypeError(f"{self.name!r} cannot be resolved at run time")

    def __repr__(self) -> str:
        return self.name


class _Lenient(dict[str, Any]):
    """Locals for ``eval`` in which any unknown name is an ``Unresolved``."""

    def __init__(self, globalns: dict[str, Any], localns: dict[str, Any]) -> None:
        super().__init__()
        self.namespaces = (localns, globalns, vars(builtins))

    def __missing__(self, name: str) -> Any:
        for namespace in self.namespaces:
            if name in namespace:
                return namespace[name]
        return Unresolved(name)


def _leniently(text: str, globalns: dict[str, Any], localns: dict[str, Any]) -> Any:
    """``Annotated[...]`` evaluated with unknown names as ``Unresolved``; else ``text``."""
    try:
        value = eval(text, globalns, _Lenient(globalns, localns))
    except Exception:
        return text
    return value if typing.get_origin(value) is typing.Annotated else text


def event_classes(annotation: Any) -> tuple[type, ...]:
    """The classes an annotation names: ``A``, ``A | B``, ``Union``, ``Optional`` (``None``
    dropped), ``Annotated[A, ...]`` and generic aliases (``list[int]`` -> ``list``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return event_classes(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found: list[type] = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            for cls in event_classes(arg):
                if cls not in found:
                    found.append(cls)
        return tuple(found)
    if origin is not None and inspect.isclass(origin):
        return (origin,)
    if annotation is typing.Any:
        return ()
    if inspect.isclass(annotation) and annotation is not type(None):
        return (annotation,)
    return ()
