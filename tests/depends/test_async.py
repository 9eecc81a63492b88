"""``async def`` handlers, async dependencies and async generators."""

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from torchsystem.depends import Depends, Provider, inject
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

    with pytest.raises(Exception, match=r"(?s)(?=.*empty_stream)(?=.*yield)"):
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

    with pytest.raises(TypeError, match=r"(?s)(?=.*remote_device)(?=.*async)"):
        inject(Provider())(handler)


def test_sync_handler_with_nested_async_generator_dependency_is_rejected_at_decoration() -> None:
    async def remote_stream() -> AsyncIterator[str]:
        yield "stream"

    def reader(stream: str = Depends(remote_stream)) -> str:
        return stream

    def handler(value: str = Depends(reader)) -> str:
        return value

    with pytest.raises(TypeError, match=r"(?s)(?=.*remote_stream)(?=.*async)"):
        inject(Provider())(handler)


def test_service_rejects_sync_handler_with_async_dependency_at_decoration() -> None:
    service = Service()

    async def remote_device() -> str:
        return "cuda"

    with pytest.raises(TypeError, match="async"):

        @service.handler
        def train(device: str = Depends(remote_device)) -> str:
            return device
