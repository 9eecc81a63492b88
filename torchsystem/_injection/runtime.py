"""Helpers that generated injection code calls: sentinels, clean-up, error reports."""

from __future__ import annotations

import dis
import inspect
import types
from collections.abc import Callable, Generator
from typing import Any

__all__ = [
    "MISSING",
    "REQUIRED",
    "DependencyError",
    "MissingDependencyError",
    "aclose_all",
    "aunwind",
    "close_all",
    "raised_by",
    "unwind",
]

_RAISE = dis.opmap["RAISE_VARARGS"]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Sentinel("<resolved by dependency injection>")
REQUIRED: Any = _Sentinel("<required>")


class DependencyError(RuntimeError):
    """A dependency misbehaved: it did not yield, or yielded more than once."""


class MissingDependencyError(NotImplementedError):
    """A dependency raised ``NotImplementedError``: it is a placeholder to override."""


def _yielded_twice(gen: Any) -> DependencyError:
    return DependencyError(
        f"generator dependency {gen.__qualname__}() yielded more than once; "
        "a dependency must yield exactly one value"
    )


# PEP 479: a StopIteration (StopAsyncIteration) that leaves a generator becomes this.
_PEP_479 = frozenset(
    f"{kind} raised {stop}"
    for kind in ("generator", "async generator")
    for stop in ("StopIteration", "StopAsyncIteration")
)


def _passed_through(raised: BaseException, error: BaseException) -> bool:
    """Whether ``raised`` is ``error`` leaving the generator, as is or as PEP 479 wraps it."""
    return raised is error or (
        type(raised) is RuntimeError and raised.__cause__ is error and str(raised) in _PEP_479
    )


def _throw(gen: Generator[Any, None, None], error: BaseException) -> BaseException:
    """Deliver ``error`` at the generator's yield; return what propagates from here."""
    try:
        gen.throw(error)
    except StopIteration:
        return error  # the generator handled it; the caller still sees the original
    except BaseException as raised:
        return error if _passed_through(raised, error) else raised
    gen.close()
    return _yielded_twice(gen)


def close_all(stack: list[Generator[Any, None, None]]) -> None:
    """Finish generator dependencies in reverse order of set-up after a normal return."""
    error: BaseException | None = None
    while stack:
        gen = stack.pop()
        if error is not None:
            error = _throw(gen, error)
            continue
        try:
            next(gen)
        except StopIteration:
            continue
        except BaseException as raised:
            error = raised
            continue
        gen.close()
        error = _yielded_twice(gen)
    if error is not None:
        raise error


def unwind(stack: list[Generator[Any, None, None]], error: BaseException) -> None:
    """Throw the handler's ``error`` into each open generator, last opened first.

    Returns normally when ``error`` is still the exception to propagate (the caller
    re-raises it unchanged); raises whatever a clean-up raised instead.
    """
    current = error
    while stack:
        current = _throw(stack.pop(), current)
    if current is not error:
        raise current


async def _athrow(gen: Any, error: BaseException) -> BaseException:
    if not isinstance(gen, types.AsyncGeneratorType):
        return _throw(gen, error)
    try:
        await gen.athrow(error)
    except StopAsyncIteration:
        return error
    except BaseException as raised:
        return error if _passed_through(raised, error) else raised
    await gen.aclose()
    return _yielded_twice(gen)


async def _afinish(gen: Any) -> BaseException | None:
    try:
        if isinstance(gen, types.AsyncGeneratorType):
            await gen.__anext__()
        else:
            next(gen)
    except (StopIteration, StopAsyncIteration):
        return None
    except BaseException as raised:
        return raised
    await gen.aclose() if isinstance(gen, types.AsyncGeneratorType) else gen.close()
    return _yielded_twice(gen)


async def aclose_all(stack: list[Any]) -> None:
    """``close_all`` for async handlers: sync and async generators alike."""
    error: BaseException | None = None
    while stack:
        gen = stack.pop()
        error = await _athrow(gen, error) if error is not None else await _afinish(gen)
    if error is not None:
        raise error


async def aunwind(stack: list[Any], error: BaseException) -> None:
    """``unwind`` for async handlers."""
    current = error
    while stack:
        current = await _athrow(stack.pop(), current)
    if current is not error:
        raise current


def raised_by(call: Callable[..., Any], below: types.TracebackType | None) -> bool:
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
