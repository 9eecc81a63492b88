"""``inject``: compile a function's dependency resolution and keep it current."""

from __future__ import annotations

import builtins
import dis
import functools
import inspect
import keyword
import linecache
import threading
import weakref
from collections.abc import Callable
from types import CodeType, FunctionType, TracebackType
from typing import Any, NoReturn, TypeVar, cast

from torchsystem._injection import runtime
from torchsystem._injection.codegen import GLOBALS, Generated, Names, generate
from torchsystem._injection.plan import Node, build_plan
from torchsystem._injection.provider import Provider
from torchsystem._inspect import qualified_name

__all__ = ["generated_source", "inject"]

F = TypeVar("F", bound=Callable[..., Any])

_RAISE = dis.opmap["RAISE_VARARGS"]
_KEPT_SOURCES = 2  # line-cache entries kept per function: the current version and the last


class _Version:
    """One compiled resolution: code whose constants hold this version's dependencies."""

    __slots__ = ("code", "source")

    def __init__(self, code: CodeType, source: str) -> None:
        self.code = code
        self.source = source


def _function_code(module: CodeType, name: str) -> CodeType:
    return next(c for c in module.co_consts if isinstance(c, CodeType) and c.co_name == name)


def _forget(filenames: list[str]) -> None:
    for filename in filenames:
        linecache.cache.pop(filename, None)


def _raised_by(call: Callable[..., Any], below: TracebackType | None) -> bool:
    """Whether a ``raise`` statement in ``call``'s own body raised the exception.

    ``below`` is the traceback entry under the generated frame: the frame that
    the generated code called. The exception must end there (or in the body of the
    function ``call`` wraps, for decorated placeholders), at a ``raise`` statement,
    not in code it called nor in an operation implemented natively.
    """
    if below is None:
        return False
    last = below
    while last.tb_next is not None:
        last = last.tb_next
    code = last.tb_frame.f_code
    if code.co_code[last.tb_lasti] != _RAISE:
        return False
    if last is below:
        return True
    try:
        inner = inspect.unwrap(call)
    except ValueError:  # a cycle of __wrapped__
        return False
    return code is getattr(inner, "__code__", None)


class _Injected:
    """Owns the generated wrapper of one function; recompiles it when overrides change.

    Each compiled version is a code object whose constants are that version's
    dependencies; the wrapper's ``__code__`` is swapped whole, so a call keeps the
    version it started with. The globals are fixed at construction and never change.
    """

    def __init__(self, function: Callable[..., Any], provider: Provider, owner: object) -> None:
        self.function = function
        self.provider = provider
        self.owner = owner
        self.lock = threading.RLock()
        self.count = 0
        self.filenames: list[str] = []
        name = getattr(function, "__name__", "")
        valid = isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
        self.name = name if valid else "injected"
        markers, _ = provider.analyses.of(function)
        self.names = Names([self.name, *(parameter.name for parameter, _ in markers)])
        generation, overrides = provider.dependency_overrides.snapshot()
        generated = generate(build_plan(function, overrides, provider.analyses), *self.naming)
        self.namespace = self.globals(generated.defaults)
        stale_module = self.compile_source(generated.stale, "stale")
        self.stale = _function_code(stale_module, self.names("stale"))
        module = self.compile_source(generated.source)
        exec(module, self.namespace)  # evaluates the defaults once; later versions only swap code
        self.wrapper: Any = self.namespace[self.name]
        self.current: Callable[..., Any] | None = None
        self.install(self.version(generated, module))
        functools.update_wrapper(self.wrapper, function)
        self.wrapper.__injection__ = self
        weakref.finalize(self, _forget, self.filenames)
        provider.dependency_overrides.watch(self)
        if provider.dependency_overrides.generation != generation:
            self.invalidate()  # changed while this was being compiled

    @property
    def naming(self) -> tuple[str, Names]:
        return self.name, self.names

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

    def compile_source(self, source: str, label: str = "") -> CodeType:
        """Compile ``source`` under a file name the line cache knows (for tracebacks).

        The cache keeps the stale twin and the latest versions of this function only,
        and forgets them all when the function is garbage collected.
        """
        self.count += 1
        label = label or f"#{self.count}"
        filename = f"<torchsystem inject {qualified_name(self.function)} {id(self):#x} {label}>"
        code = compile(source, filename, "exec", dont_inherit=True)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        self.filenames.append(filename)
        while len(self.filenames) > 1 + _KEPT_SOURCES:  # filenames[0] is the stale twin's
            linecache.cache.pop(self.filenames.pop(1), None)
        return code

    def version(self, generated: Generated, module: CodeType) -> _Version:
        """The function's code with this version's objects put into its constants."""
        constants = dict(generated.constants)
        constants[generated.reporter] = functools.partial(self.missing, generated.lines)
        code = _function_code(module, self.name)
        filled = tuple(
            constants.get(c, c) if type(c) is str else c for c in code.co_consts
        )
        return _Version(code.replace(co_consts=filled), generated.source)

    def install(self, version: _Version) -> None:
        self.current_version = version
        self.wrapper.__code__ = version.code
        current = FunctionType(version.code, self.namespace, self.name, self.wrapper.__defaults__)
        current.__kwdefaults__ = self.wrapper.__kwdefaults__
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
                plan = build_plan(self.function, overrides, self.provider.analyses)
                generated = generate(plan, *self.naming)
                self.install(self.version(generated, self.compile_source(generated.source)))
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
            f"generator dependency {getattr(gen, '__qualname__', gen)}() of "
            f"{qualified_name(self.function)} finished without yielding; it must yield once"
        ) from None

    def missing(self, lines: dict[int, Node], error: NotImplementedError) -> None:
        """Raise ``MissingDependencyError`` if a placeholder dependency itself raised
        ``error``; return (the generated code re-raises it unchanged) otherwise."""
        trace = error.__traceback__
        node = None if trace is None else lines.get(trace.tb_lineno)
        if node is None or trace is None or isinstance(error, runtime.MissingDependencyError):
            return
        if _raised_by(node.call, trace.tb_next):
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


def inject(provider: Provider | None = None, *, owner: object = None) -> Callable[[F], F]:
    """Decorate a function so its ``Depends`` parameters are resolved on each call.

    The resolution code is generated once, here; calls do no inspection. Arguments
    passed explicitly are used as given and their dependency is not run. Overrides are
    read from ``provider`` (a new one when omitted); changing them recompiles lazily on
    the next call, and a call already running keeps the overrides it started with.
    A generator (or async generator) function keeps its dependencies open until it
    finishes or is closed. A ``staticmethod`` or ``classmethod`` is injected inside
    and returned as the same kind of method. A function without dependencies is
    returned unchanged. ``owner`` is the container named in error messages.

    Raises:
        TypeError: at decoration, for a synchronous function with an async dependency, a
            cycle, or a dependency parameter that cannot be resolved.

    Example:
        >>> from torchsystem.depends import Depends, Provider, inject
        >>> provider = Provider()
        >>> def device() -> str:
        ...     return "cpu"
        >>> @inject(provider)
        ... def where(device: str = Depends(device)) -> str:
        ...     return device
        >>> where(), where("cuda")
        ('cpu', 'cuda')
    """
    chosen = Provider() if provider is None else provider

    def decorate(function: F) -> F:
        if isinstance(function, (staticmethod, classmethod)):
            method: Any = type(function)(decorate(function.__func__))
            return cast(F, method)
        if not callable(function):
            raise TypeError(f"inject expects a function, got {function!r}")
        markers, _ = chosen.analyses.of(function)
        if all(marker is None for _, marker in markers):
            return function
        wrapper: F = _Injected(function, chosen, owner).wrapper
        return wrapper

    return decorate


def generated_source(function: Callable[..., Any]) -> str:
    """The Python source that resolves ``function``'s dependencies, for debugging.

    ``function`` is what ``inject`` (or a container's decorator) returned; the source is
    that of the overrides in force now (compiled first if they changed). Each line that
    calls a dependency ends with a comment naming it; tracebacks show these lines too.

    Raises:
        TypeError: ``function`` was not injected (``inject`` returns a function that has
            no ``Depends`` parameter unchanged).
    """
    target = getattr(function, "__func__", function)
    injection = getattr(target, "__injection__", None)
    if not isinstance(injection, _Injected):
        raise TypeError(
            f"{qualified_name(target)} is not an injected function (inject returns a "
            "function without Depends parameters unchanged)"
        )
    return injection.source()
