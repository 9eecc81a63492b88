"""``async def`` handlers, async dependencies and async generators."""

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from torchsystem.depends import DependencyError, Depends, Provider, inject
from torchsystem.services import Service


def test_async_handler_returns_an_awaitable() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    async def where(device: str = Depends(device)) -> str:
        return device

    result = where()

    assert inspect.isawaitable(result)
    assert asyncio.run(result) == "cpu"


def test_async_handler_resolves_async_dependencies() -> None:
    async def device() -> str:
        await asyncio.sleep(0)
        return "cuda"

    async def loader(device: str = Depends(device)) -> str:
        return f"loader({device})"

    @inject(Provider())
    async def handler(loader: str = Depends(loader), device: str = Depends(device)) -> str:
        return f"{loader}+{device}"

    assert asyncio.run(handler()) == "loader(cuda)+cuda"


def test_async_handler_sets_up_and_cleans_up_async_generator_dependencies() -> None:
    log: list[str] = []

    async def connection() -> AsyncIterator[str]:
        log.append("connect")
        yield "connection"
        log.append("disconnect")

    async def session(conn: str = Depends(connection)) -> AsyncIterator[str]:
        log.append("open session")
        yield f"session({conn})"
        log.append("close session")

    @inject(Provider())
    async def handler(session: str = Depends(session)) -> str:
        log.append(f"handler uses {session}")
        return "done"

    assert asyncio.run(handler()) == "done"
    assert log == [
        "connect",
        "open session",
        "handler uses session(connection)",
        "close session",
        "disconnect",
    ]


def test_async_handler_mixes_sync_async_and_generator_dependencies() -> None:
    log: list[str] = []

    def sync_value() -> int:
        return 1

    async def async_value() -> int:
        return 2

    def sync_gen() -> Iterator[int]:
        log.append("open sync")
        yield 3
        log.append("close sync")

    async def async_gen() -> AsyncIterator[int]:
        log.append("open async")
        yield 4
        log.append("close async")

    @inject(Provider())
    async def handler(
        a: int = Depends(sync_value),
        b: int = Depends(async_value),
        c: int = Depends(sync_gen),
        d: int = Depends(async_gen),
    ) -> int:
        return a + b + c + d

    assert asyncio.run(handler()) == 10
    assert log == ["open sync", "open async", "close async", "close sync"]


def test_async_handler_exception_is_thrown_into_async_generator_and_reaches_caller() -> None:
    error = ValueError("async failure")
    seen: list[BaseException] = []
    log: list[str] = []

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        except ValueError as caught:
            seen.append(caught)
            raise
        finally:
            log.append("closed")

    @inject(Provider())
    async def handler(session: str = Depends(session)) -> None:
        raise error

    with pytest.raises(ValueError, match="async failure") as excinfo:
        asyncio.run(handler())
    assert excinfo.value is error
    assert seen == [error]
    assert seen[0] is error
    assert log == ["closed"]


def test_async_generator_dependency_that_does_not_yield_raises_a_clear_error() -> None:
    async def empty_stream() -> AsyncIterator[str]:
        return
        yield "never"

    @inject(Provider())
    async def handler(stream: str = Depends(empty_stream)) -> str:
        return stream

    with pytest.raises(
        DependencyError,
        match=r"generator dependency .*empty_stream\(\) of .*handler finished without "
        r"yielding; it must yield once",
    ):
        asyncio.run(handler())


def test_async_handler_explicit_argument_skips_its_async_dependency() -> None:
    calls: list[str] = []

    async def device() -> str:
        calls.append("device")
        return "cuda"

    @inject(Provider())
    async def where(device: str = Depends(device)) -> str:
        return device

    assert asyncio.run(where("cpu")) == "cpu"
    assert calls == []


def test_sync_handler_with_async_dependency_is_rejected_at_decoration() -> None:
    async def remote_device() -> str:
        return "cuda"

    def handler(device: str = Depends(remote_device)) -> str:
        return device

    with pytest.raises(
        TypeError,
        match=r"^\S+<locals>\.handler is synchronous but its dependency \S+<locals>\.remote_device "
        r"is async; declare the handler with 'async def' or use a synchronous dependency$",
    ):
        inject(Provider())(handler)


def test_sync_handler_with_nested_async_generator_dependency_is_rejected_at_decoration() -> None:
    async def remote_stream() -> AsyncIterator[str]:
        yield "stream"

    def reader(stream: str = Depends(remote_stream)) -> str:
        return stream

    def handler(value: str = Depends(reader)) -> str:
        return value

    with pytest.raises(
        TypeError, match=r"handler is synchronous but its dependency \S+\.remote_stream is async;"
    ):
        inject(Provider())(handler)


def test_service_rejects_sync_handler_with_async_dependency_at_decoration() -> None:
    service = Service()

    async def remote_device() -> str:
        return "cuda"

    with pytest.raises(TypeError, match=r"train is synchronous but its dependency \S+ is async"):

        @service.handler
        def train(device: str = Depends(remote_device)) -> str:
            return device


def test_an_async_dependency_that_yields_twice_is_closed_and_reported() -> None:
    log: list[str] = []

    async def twice() -> AsyncIterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            log.append("closed")

    @inject(Provider())
    async def handler(value: str = Depends(twice)) -> str:
        return value

    with pytest.raises(
        DependencyError,
        match=r"generator dependency .*twice\(\) yielded more than once; "
        r"a dependency must yield exactly one value",
    ):
        asyncio.run(handler())
    assert log == ["closed"]


def test_an_async_dependency_that_yields_again_after_the_handler_error_is_reported() -> None:
    log: list[str] = []

    async def stubborn() -> AsyncIterator[str]:
        try:
            yield "first"
        except ValueError:
            log.append("caught")
        try:
            yield "again"
        finally:
            log.append("closed")

    def outer() -> Iterator[str]:
        try:
            yield "outer"
        except DependencyError:
            log.append("outer saw DependencyError")
            raise

    @inject(Provider())
    async def handler(a: str = Depends(outer), b: str = Depends(stubborn)) -> None:
        raise ValueError("handler failed")

    with pytest.raises(DependencyError, match=r"stubborn\(\) yielded more than once"):
        asyncio.run(handler())
    assert log == ["caught", "closed", "outer saw DependencyError"]


def test_a_sync_dependency_of_an_async_handler_that_yields_twice_is_reported() -> None:
    log: list[str] = []

    def twice() -> Iterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            log.append("closed")

    def stubborn() -> Iterator[str]:
        try:
            yield "first"
        except ValueError:
            log.append("sync caught")
        try:
            yield "again"
        finally:
            log.append("stubborn closed")

    @inject(Provider())
    async def returns(value: str = Depends(twice)) -> str:
        return value

    @inject(Provider())
    async def raises(value: str = Depends(stubborn)) -> None:
        raise ValueError("handler failed")

    with pytest.raises(DependencyError, match=r"twice\(\) yielded more than once"):
        asyncio.run(returns())
    with pytest.raises(DependencyError, match=r"stubborn\(\) yielded more than once"):
        asyncio.run(raises())
    assert log == ["closed", "sync caught", "stubborn closed"]


def test_an_async_clean_up_error_after_a_normal_return_still_finishes_the_others() -> None:
    log: list[str] = []
    error = OSError("flush failed")

    async def first() -> AsyncIterator[str]:
        try:
            yield "first"
        except OSError as caught:
            log.append(f"first saw {caught}")
            raise

    def second() -> Iterator[str]:
        try:
            yield "second"
        except OSError:
            log.append("second saw it")
            raise

    async def third() -> AsyncIterator[str]:
        yield "third"
        raise error

    @inject(Provider())
    async def handler(
        a: str = Depends(first), b: str = Depends(second), c: str = Depends(third)
    ) -> str:
        return "result"

    with pytest.raises(OSError, match="flush failed") as excinfo:
        asyncio.run(handler())
    assert excinfo.value is error
    assert log == ["second saw it", "first saw flush failed"]


def test_an_async_clean_up_error_replaces_the_handler_error() -> None:
    replacement = ConnectionError("rollback failed")

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        except ValueError:
            raise replacement from None

    @inject(Provider())
    async def handler(value: str = Depends(session)) -> None:
        raise ValueError("handler failed")

    with pytest.raises(ConnectionError, match="rollback failed") as excinfo:
        asyncio.run(handler())
    assert excinfo.value is replacement
    assert isinstance(excinfo.value.__context__, ValueError)


def test_async_handler_exception_reaches_the_caller_when_the_generator_swallows_it() -> None:
    error = KeyError("swallowed by the dependency")
    log: list[str] = []

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        except KeyError:
            log.append("rollback")

    def sync_session() -> Iterator[str]:
        try:
            yield "sync"
        except KeyError:
            log.append("sync rollback")

    @inject(Provider())
    async def handler(a: str = Depends(sync_session), b: str = Depends(session)) -> None:
        raise error

    with pytest.raises(KeyError) as excinfo:
        asyncio.run(handler())
    assert excinfo.value is error
    assert log == ["rollback", "sync rollback"]


def test_stop_async_iteration_an_async_generator_lets_through_reaches_the_caller() -> None:
    # (a coroutine cannot raise StopIteration: Python turns it into RuntimeError)
    stop = StopAsyncIteration("early stopping")
    log: list[str] = []

    async def passive() -> AsyncIterator[str]:
        yield "passive"  # no try: the exception leaves it as RuntimeError (PEP 479)

    def sync_passive() -> Iterator[str]:
        try:
            yield "sync"
        finally:
            log.append("sync closed")

    @inject(Provider())
    async def handler(a: str = Depends(sync_passive), b: str = Depends(passive)) -> None:
        raise stop

    with pytest.raises(StopAsyncIteration) as excinfo:
        asyncio.run(handler())
    assert excinfo.value is stop
    assert log == ["sync closed"]


def test_an_async_generator_that_raises_its_own_runtime_error_replaces_the_error() -> None:
    async def wrapping() -> AsyncIterator[str]:
        try:
            yield "wrapping"
        except StopAsyncIteration as caught:
            raise RuntimeError() from caught

    @inject(Provider())
    async def handler(value: str = Depends(wrapping)) -> None:
        raise StopAsyncIteration

    with pytest.raises(RuntimeError) as excinfo:
        asyncio.run(handler())
    assert excinfo.value.args == ()


def test_an_async_handler_after_an_override_change_awaits_the_new_dependency() -> None:
    provider = Provider()

    async def device() -> str:
        return "cpu"

    async def accelerator() -> str:
        return "cuda"

    @inject(provider)
    async def where(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert asyncio.run(where("mlp")) == "mlp on cpu"
    provider.override(device, accelerator)
    assert inspect.iscoroutinefunction(where)
    assert asyncio.run(where("mlp")) == "mlp on cuda"


def test_callable_objects_with_async_call_are_awaited() -> None:
    class Remote:
        async def __call__(self) -> str:
            return "remote"

    class Stream:
        async def __call__(self) -> AsyncIterator[str]:
            yield "stream"

    @inject(Provider())
    async def handler(a: str = Depends(Remote()), b: str = Depends(Stream())) -> str:
        return a + b

    assert asyncio.run(handler()) == "remotestream"


def test_a_sync_handler_refuses_an_async_override_on_its_next_call() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    async def remote() -> str:
        return "cuda"

    @inject(provider)
    def where(device: str = Depends(device)) -> str:
        return device

    provider.override(device, remote)
    with pytest.raises(
        TypeError,
        match=r"where is synchronous but its dependency .*remote \(the override of .*device\) "
        r"is async; declare the handler with 'async def' or use a synchronous dependency",
    ):
        where()
    del provider.dependency_overrides[device]
    assert where() == "cpu"


def test_a_generator_handler_with_an_async_dependency_is_rejected_at_decoration() -> None:
    async def remote() -> str:
        return "cuda"

    def rows(device: str = Depends(remote)) -> Iterator[str]:
        yield device

    with pytest.raises(
        TypeError,
        match=r"rows is synchronous but its dependency \S+<locals>\.remote is async; declare",
    ):
        inject(Provider())(rows)


def test_an_unhashable_async_callable_object_is_awaited() -> None:
    class Remote:
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Remote)

        async def __call__(self) -> str:
            return "remote"

    @inject(Provider())
    async def handler(value: str = Depends(Remote())) -> str:
        return value

    assert asyncio.run(handler()) == "remote"
