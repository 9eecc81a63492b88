"""Handlers that are generators: their dependencies stay open while they are iterated."""

import asyncio
import inspect
from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from torchsystem.depends import DependencyError, Depends, Provider, inject


def _session(log: list[str]) -> object:
    def session() -> Iterator[dict[str, bool]]:
        state = {"open": True}
        log.append("open")
        try:
            yield state
        except BaseException as error:
            log.append(f"rollback {type(error).__name__}")
            raise
        finally:
            state["open"] = False
            log.append("close")

    return session


def test_a_generator_handler_iterates_with_its_dependency_open() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def rows(count: int, session: dict[str, bool] = Depends(session)) -> Iterator[str]:
        for index in range(count):
            log.append(f"row {index} open={session['open']}")
            yield f"row {index}"

    assert list(rows(2)) == ["row 0", "row 1"]
    assert log == ["open", "row 0 open=True", "row 1 open=True", "close"]


def test_a_generator_handler_is_still_a_generator_function() -> None:
    @inject(Provider())
    def rows(session: object = Depends(_session([]))) -> Iterator[int]:
        yield 1

    assert inspect.isgeneratorfunction(rows)


def test_a_generator_handler_resolves_dependencies_when_iteration_starts() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def rows(session: dict[str, bool] = Depends(session)) -> Iterator[int]:
        yield 1

    stream = rows()
    assert log == []
    assert next(stream) == 1
    assert log == ["open"]
    stream.close()
    assert log == ["open", "rollback GeneratorExit", "close"]


def test_closing_a_generator_handler_early_closes_its_dependencies() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def rows(session: dict[str, bool] = Depends(session)) -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            log.append("handler finally")

    stream = rows()
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()

    assert log == ["open", "handler finally", "rollback GeneratorExit", "close"]


def test_an_error_in_a_generator_handler_is_thrown_into_its_dependencies() -> None:
    log: list[str] = []
    session = _session(log)
    error = ValueError("bad row")

    @inject(Provider())
    def rows(session: dict[str, bool] = Depends(session)) -> Iterator[int]:
        yield 1
        raise error

    stream = rows()
    assert next(stream) == 1
    with pytest.raises(ValueError, match="bad row") as excinfo:
        next(stream)
    assert excinfo.value is error
    assert log == ["open", "rollback ValueError", "close"]


def test_send_throw_and_return_value_are_forwarded_to_a_generator_handler() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def echo(session: dict[str, bool] = Depends(session)) -> Generator[str, str, str]:
        received = yield f"ready open={session['open']}"
        try:
            yield f"got {received}"
        except KeyError:
            yield "handled KeyError"
        return "finished"

    stream = echo()
    assert next(stream) == "ready open=True"
    assert stream.send("ping") == "got ping"
    assert stream.throw(KeyError("k")) == "handled KeyError"
    with pytest.raises(StopIteration) as excinfo:
        next(stream)
    assert excinfo.value.value == "finished"
    assert log == ["open", "close"]


def test_a_generator_handler_with_plain_dependencies_only() -> None:
    calls: list[str] = []

    def device() -> str:
        calls.append("device")
        return "cpu"

    @inject(Provider())
    def batches(count: int, device: str = Depends(device)) -> Iterator[str]:
        for index in range(count):
            yield f"{index}@{device}"

    stream = batches(2)
    assert calls == []
    assert list(stream) == ["0@cpu", "1@cpu"]
    assert calls == ["device"]
    assert list(batches(1, "cuda")) == ["0@cuda"]
    assert calls == ["device"]


def test_a_generator_handler_garbage_collected_unfinished_closes_its_dependencies() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def rows(session: dict[str, bool] = Depends(session)) -> Iterator[int]:
        yield from range(3)

    stream = rows()
    next(stream)
    del stream  # CPython finalises the generator now: GeneratorExit at its yield

    assert log == ["open", "rollback GeneratorExit", "close"]


def test_a_generator_handler_with_a_dependency_that_yields_twice() -> None:
    def twice() -> Iterator[int]:
        yield 1
        yield 2

    @inject(Provider())
    def rows(value: int = Depends(twice)) -> Iterator[int]:
        yield value

    with pytest.raises(DependencyError, match=r"twice\(\) yielded more than once"):
        list(rows())


# --- async generator handlers --------------------------------------------------------------


def _async_session(log: list[str]) -> object:
    async def session() -> AsyncIterator[dict[str, bool]]:
        state = {"open": True}
        log.append("open")
        try:
            yield state
        except BaseException as error:
            log.append(f"rollback {type(error).__name__}")
            raise
        finally:
            state["open"] = False
            log.append("close")

    return session


def test_an_async_generator_handler_with_an_async_dependency_streams_with_it_open() -> None:
    log: list[str] = []
    session = _async_session(log)

    async def scale() -> int:
        await asyncio.sleep(0)
        return 10

    @inject(Provider())
    async def rows(
        count: int, session: dict[str, bool] = Depends(session), scale: int = Depends(scale)
    ) -> AsyncIterator[int]:
        for index in range(count):
            log.append(f"row {index} open={session['open']}")
            yield index * scale

    async def collect() -> list[int]:
        return [row async for row in rows(2)]

    assert inspect.isasyncgenfunction(rows)
    assert asyncio.run(collect()) == [0, 10]
    assert log == ["open", "row 0 open=True", "row 1 open=True", "close"]


def test_closing_an_async_generator_handler_early_closes_its_dependencies() -> None:
    log: list[str] = []
    session = _async_session(log)

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[int]:
        for index in range(10):
            yield index

    async def first_then_close() -> int:
        stream = rows()
        value = await stream.__anext__()
        await stream.aclose()
        return value

    assert asyncio.run(first_then_close()) == 0
    assert log == ["open", "rollback GeneratorExit", "close"]


def test_an_error_in_an_async_generator_handler_is_thrown_into_its_dependencies() -> None:
    log: list[str] = []
    session = _async_session(log)
    error = ValueError("bad row")

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[int]:
        yield 1
        raise error

    async def consume() -> list[int]:
        return [row async for row in rows()]

    with pytest.raises(ValueError, match="bad row") as excinfo:
        asyncio.run(consume())
    assert excinfo.value is error
    assert log == ["open", "rollback ValueError", "close"]


def test_asend_and_athrow_are_forwarded_to_an_async_generator_handler() -> None:
    log: list[str] = []
    session = _async_session(log)

    @inject(Provider())
    async def echo(session: dict[str, bool] = Depends(session)) -> AsyncIterator[str]:
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "handled KeyError"

    async def drive() -> list[str]:
        stream = echo()
        seen = [await stream.__anext__(), await stream.asend("ping")]
        seen.append(await stream.athrow(KeyError("k")))
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        return seen

    assert asyncio.run(drive()) == ["ready", "got ping", "handled KeyError"]
    assert log == ["open", "close"]


def test_an_async_generator_handler_with_a_sync_generator_dependency() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[bool]:
        yield session["open"]

    async def collect() -> list[bool]:
        return [row async for row in rows()]

    assert asyncio.run(collect()) == [True]
    assert log == ["open", "close"]


def test_an_async_generator_handler_that_yields_nothing_still_cleans_up() -> None:
    log: list[str] = []
    session = _async_session(log)

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[int]:
        log.append("handler ran")
        return
        yield 0

    async def collect() -> list[int]:
        return [row async for row in rows()]

    assert asyncio.run(collect()) == []
    assert log == ["open", "handler ran", "close"]


def test_athrow_that_finishes_an_async_generator_handler_ends_the_stream() -> None:
    log: list[str] = []
    session = _async_session(log)

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[int]:
        try:
            yield 1
        except KeyError:
            log.append("handler stopped")

    async def drive() -> None:
        stream = rows()
        assert await stream.__anext__() == 1
        with pytest.raises(StopAsyncIteration):
            await stream.athrow(KeyError("stop"))
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    asyncio.run(drive())
    assert log == ["open", "handler stopped", "close"]


def test_athrow_that_the_handler_lets_through_reaches_its_dependencies() -> None:
    log: list[str] = []
    session = _async_session(log)

    @inject(Provider())
    async def rows(session: dict[str, bool] = Depends(session)) -> AsyncIterator[int]:
        yield 1
        yield 2

    async def drive() -> None:
        stream = rows()
        assert await stream.__anext__() == 1
        with pytest.raises(KeyError, match="from the consumer"):
            await stream.athrow(KeyError("from the consumer"))

    asyncio.run(drive())
    assert log == ["open", "rollback KeyError", "close"]


def test_closing_a_generator_handler_that_never_started_opens_nothing() -> None:
    log: list[str] = []
    session = _session(log)

    @inject(Provider())
    def rows(session: dict[str, bool] = Depends(session)) -> Iterator[int]:
        yield 1

    stream = rows()
    stream.close()

    assert log == []


def test_a_generator_handler_uses_explicit_arguments_and_overrides() -> None:
    provider = Provider()
    log: list[str] = []
    session = _session(log)

    @inject(provider)
    def rows(session: object = Depends(session)) -> Iterator[object]:
        yield session

    assert list(rows("given")) == ["given"]
    assert log == []
    provider.override(session, lambda: "overridden")  # type: ignore[arg-type]
    assert list(rows()) == ["overridden"]
    assert inspect.isgeneratorfunction(rows)  # also while the override was being applied


def test_an_async_generator_handler_stays_one_across_override_changes() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    async def rows(device: str = Depends(device)) -> AsyncIterator[str]:
        received = yield device
        yield f"got {received}"

    async def drive() -> list[str]:
        stream = rows()
        return [await stream.__anext__(), await stream.asend("ping")]

    provider.override(device, lambda: "cuda")
    assert inspect.isasyncgenfunction(rows)
    assert asyncio.run(drive()) == ["cuda", "got ping"]
    provider.override(device, lambda: "mps")
    assert asyncio.run(drive()) == ["mps", "got ping"]


def test_a_generator_handler_stays_one_across_override_changes() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def rows(device: str = Depends(device)) -> Generator[str, str, str]:
        received = yield device
        return f"got {received}"

    provider.override(device, lambda: "cuda")
    assert inspect.isgeneratorfunction(rows)
    stream = rows()
    assert next(stream) == "cuda"
    with pytest.raises(StopIteration) as excinfo:
        stream.send("ping")
    assert excinfo.value.value == "got ping"
