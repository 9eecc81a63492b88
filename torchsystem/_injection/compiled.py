"""``Injected``: the compiled versions of one function's dependency resolution."""

from __future__ import annotations

import builtins
import functools
import itertools
import keyword
import linecache
import threading
import weakref
from collections.abc import Callable
from types import CodeType, FunctionType, MethodType
from typing import Any, NoReturn

from torchsystem._injection import runtime
from torchsystem._injection.codegen import Generated, generate
from torchsystem._injection.plan import Node, build_plan
from torchsystem._injection.provider import Provider
from torchsystem._injection.templates import GLOBALS, Names
from torchsystem._inspect import qualified_name

__all__ = ["Injected"]

_KEPT_SOURCES = 2  # line-cache entries kept per function: the current version and the last


class _Version:
    """One compiled resolution: its code, source, and the objects its calls read."""

    __slots__ = ("code", "source", "values")

    def __init__(self, code: CodeType, source: str, values: tuple[Any, ...]) -> None:
        self.code = code
        self.source = source
        self.values = values


class _Template:
    """The first compiled version of a method, shared by its bound methods.

    Every instance of a class binds the same function with the same dependencies: while
    no override is set, their plan, source and code are the same, so ``Training()``
    compiles its handlers once per class, not once per instance. The line-cache entries
    live as long as the template (as long as the function).
    """

    __slots__ = ("__weakref__", "generated", "lines", "module", "stale")

    def __init__(
        self, generated: Generated, module: CodeType, stale: CodeType,
        lines: dict[str, tuple[int, None, list[str], str]],
    ) -> None:
        self.generated = generated
        self.module = module
        self.stale = stale
        self.lines = lines  # line-cache entries, put back if the cache was cleared

    def remember(self) -> None:
        """Make sure the line cache knows the sources (``linecache.clearcache()``)."""
        for filename, entry in self.lines.items():
            linecache.cache.setdefault(filename, entry)


_TEMPLATES: weakref.WeakKeyDictionary[FunctionType, _Template] = weakref.WeakKeyDictionary()
_numbers = itertools.count(1)  # numbers the line-cache file names of templates


def _function_code(module: CodeType, name: str) -> CodeType:
    return next(c for c in module.co_consts if isinstance(c, CodeType) and c.co_name == name)


def _forget(*groups: list[str]) -> None:
    for filenames in groups:
        for filename in filenames:
            linecache.cache.pop(filename, None)


class Injected:
    """Owns the generated wrapper of one function; recompiles it when overrides change.

    Each compiled version is a code object and a tuple of that version's objects, which
    the code reads from a hidden keyword-only parameter: Python binds the code and the
    tuple together when a call starts, so a call keeps the version it started with.
    Changing overrides installs the stale twin first; the next call compiles a new
    version and installs its tuple, then its code. The globals never change.
    """

    current: Callable[..., Any] | None  # the newest version, None while stale

    def __init__(self, function: Callable[..., Any], provider: Provider, owner: object) -> None:
        self.function = function
        self.provider = provider
        self.owner = owner
        self.lock = threading.RLock()
        self.count = 0
        self.sources: list[str] = []  # line-cache file names: the latest versions
        self.pinned: list[str] = []  # and the stale twin's
        name = getattr(function, "__name__", "")
        valid = isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
        self.name = name if valid else "injected"
        markers, _ = provider.analyses.of(function)
        self.names = Names([self.name, *(parameter.name for parameter, _ in markers)])
        generation, overrides = provider.dependency_overrides.snapshot()
        template = self.template() if not overrides else None
        if template is None:
            generated, module = self.build(overrides)
            stale_module = self.compile_source(generated.stale, pinned=True)
            self.stale = _function_code(stale_module, self.names("stale"))
        else:
            generated, module, self.stale = template.generated, template.module, template.stale
        self.namespace = self.globals(generated.defaults)
        exec(module, self.namespace)  # evaluates the defaults once; later versions only swap code
        self.wrapper: Any = self.namespace[self.name]
        self.install(self.version(generated, module))
        functools.update_wrapper(self.wrapper, function)
        self.wrapper.__injection__ = self
        weakref.finalize(self, _forget, self.sources, self.pinned)
        provider.dependency_overrides.watch(self)
        if provider.dependency_overrides.generation != generation:
            self.invalidate()  # changed while this was being compiled

    def globals(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """The names every version reads: fixed objects only, set once."""
        values: dict[str, Any] = {
            "fn": self.function,
            "M": runtime.MISSING,
            "R": runtime.REQUIRED,
            "close": runtime.close_all,
            "unwind": runtime.unwind,
            "aclose": runtime.aclose_all,
            "aunwind": runtime.aunwind,
            "refresh": self.refresh,
            "required": self.required,
            "noyield": self.no_yield,
        }
        for name in GLOBALS[len(values):]:  # builtins: a parameter may shadow the bare name
            values[name] = getattr(builtins, name)
        namespace = {self.names(key): value for key, value in values.items()}
        namespace.update(defaults)
        return namespace

    def template(self) -> _Template | None:
        """The shared first version of a bound method (made now if this is the first)."""
        function = self.function
        if type(function) is not MethodType or type(function.__func__) is not FunctionType:
            return None
        found = _TEMPLATES.get(function.__func__)
        if found is None:
            generated = generate(build_plan(function, {}, self.provider.analyses), self.name,
                                 self.names)
            compiled, lines = [], {}
            for source in (generated.source, generated.stale):
                number = next(_numbers)
                filename = f"<torchsystem inject {qualified_name(function)} shared #{number}>"
                compiled.append(compile(source, filename, "exec"))
                lines[filename] = (len(source), None, source.splitlines(True), filename)
            found = _Template(generated, compiled[0],
                              _function_code(compiled[1], self.names("stale")), lines)
            weakref.finalize(found, _forget, list(lines))
            found = _TEMPLATES.setdefault(function.__func__, found)
        found.remember()
        return found

    def build(self, overrides: dict[Any, Callable[..., Any]]) -> tuple[Generated, CodeType]:
        """Plan, generate and compile the resolution for ``overrides``."""
        plan = build_plan(self.function, overrides, self.provider.analyses)
        generated = generate(plan, self.name, self.names)
        return generated, self.compile_source(generated.source)

    def compile_source(self, source: str, pinned: bool = False) -> CodeType:
        """Compile ``source`` under a file name the line cache knows (for tracebacks).

        The cache keeps the stale twin (``pinned``) and the latest versions of this
        function only, and forgets them all when the function is garbage collected.
        """
        self.count += 1
        label = "stale" if pinned else f"#{self.count}"
        filename = f"<torchsystem inject {qualified_name(self.function)} {id(self):#x} {label}>"
        code = compile(source, filename, "exec")
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        (self.pinned if pinned else self.sources).append(filename)
        while len(self.sources) > _KEPT_SOURCES:
            linecache.cache.pop(self.sources.pop(0), None)
        return code

    def version(self, generated: Generated, module: CodeType) -> _Version:
        """This version's code, and its objects with the error reporter first."""
        reporter = functools.partial(self.missing, generated.lines)
        values = (reporter, *generated.values[1:])
        return _Version(_function_code(module, self.name), generated.source, values)

    def install(self, version: _Version) -> None:
        """Make ``version`` the one new calls run (callers hold the lock or own ``self``).

        The objects go in first, while the stale twin (which ignores them) is installed:
        a call binds code and objects together, so it never pairs one version's code
        with another's objects.
        """
        self.current_version = version
        defaults = {**(self.wrapper.__kwdefaults__ or {}), self.names("V"): version.values}
        self.wrapper.__kwdefaults__ = defaults
        self.wrapper.__code__ = version.code
        current = FunctionType(version.code, self.namespace)  # called with every argument
        current.__kwdefaults__ = defaults
        self.current = current

    def invalidate(self) -> None:
        """Overrides changed: the next call recompiles before resolving anything."""
        with self.lock:
            self.current = None
            self.wrapper.__code__ = self.stale

    def refresh(self) -> Callable[..., Any]:
        """The function compiled against the overrides in force (compiled now if stale)."""
        with self.lock:
            if self.current is None:
                _, overrides = self.provider.dependency_overrides.snapshot()
                self.install(self.version(*self.build(overrides)))
            assert self.current is not None
            return self.current

    def source(self) -> str:
        with self.lock:
            self.refresh()
            return self.current_version.source

    def required(self, name: str) -> NoReturn:
        raise TypeError(f"{qualified_name(self.function)}() missing required argument: {name!r}")

    def no_yield(self, gen: Any) -> NoReturn:
        raise runtime.DependencyError(
            f"generator dependency {gen.__qualname__}() of "
            f"{qualified_name(self.function)} finished without yielding; it must yield once"
        ) from None

    def missing(self, lines: dict[int, Node], error: NotImplementedError) -> None:
        """Raise ``MissingDependencyError`` if a placeholder dependency itself raised
        ``error``; return (the generated code re-raises it unchanged) otherwise.

        ``error`` was caught in the generated frame, so its traceback starts there, at
        the line that called the dependency (``lines`` says which).
        """
        trace = error.__traceback__
        assert trace is not None
        node = lines.get(trace.tb_lineno)
        if (
            node is not None
            and not isinstance(error, runtime.MissingDependencyError)
            and runtime.raised_by(node.call, trace.tb_next)
        ):
            raise runtime.MissingDependencyError(self.describe_missing(node, error)) from error

    def describe_missing(self, node: Node, error: NotImplementedError) -> str:
        original = getattr(node.original, "__name__", qualified_name(node.original))
        culprit = qualified_name(node.original)
        if node.call is not node.original:
            culprit += f" (overridden by {qualified_name(node.call)})"
        reason = f": {error}" if str(error) else ""
        return (
            f"dependency {culprit} of {qualified_name(self.function)} is not implemented "
            f"(it raised NotImplementedError{reason}). Provide it on {self.owner_label()}: "
            f".dependency_overrides[{original}] = your_implementation, "
            f"or .override({original}, your_implementation)"
        )

    def owner_label(self) -> str:
        if self.owner is None:
            return f"the provider passed to inject ({self.provider!r})"
        return f"the {type(self.owner).__name__} that owns it, {self.owner!r}"
