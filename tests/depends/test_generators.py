"""Generator dependencies: set-up, clean-up, exceptions thrown in at ``yield``."""

from collections.abc import Iterator
from typing import Annotated

import pytest

from torchsystem.depends import DependencyError, Depends, Provider, inject


def test_generator_dependency_is_set_up_before_and_cleaned_up_after_the_handler() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        log.append("set up")
        yield "session"
        log.append("clean up")

    @inject(Provider())
    def handler(session: str = Depends(session)) -> str:
        log.append(f"handler uses {session}")
        return "done"

    assert handler() == "done"
    assert log == ["set up", "handler uses session", "clean up"]


def test_generator_dependencies_are_cleaned_up_in_reverse_order_of_set_up() -> None:
    log: list[str] = []

    def first() -> Iterator[str]:
        log.append("open first")
        yield "first"
        log.append("close first")

    def second() -> Iterator[str]:
        log.append("open second")
        yield "second"
        log.append("close second")

    @inject(Provider())
    def handler(a: str = Depends(first), b: str = Depends(second)) -> None:
        log.append("handler")

    handler()

    assert log == ["open first", "open second", "handler", "close second", "close first"]


def test_sub_dependency_stays_open_until_its_dependant_has_finished() -> None:
    log: list[str] = []

    def connection() -> Iterator[dict[str, bool]]:
        state = {"open": True}
        log.append("connect")
        yield state
        state["open"] = False
        log.append("disconnect")

    def transaction(conn: Annotated[dict[str, bool], Depends(connection)]) -> Iterator[str]:
        log.append("begin")
        yield "tx"
        log.append(f"commit while connection open={conn['open']}")

    @inject(Provider())
    def handler(tx: str = Depends(transaction)) -> None:
        log.append("handler")

    handler()

    assert log == [
        "connect",
        "begin",
        "handler",
        "commit while connection open=True",
        "disconnect",
    ]


def test_handler_exception_is_thrown_into_the_generator_at_its_yield() -> None:
    seen: list[BaseException] = []
    error = ValueError("training diverged")

    def session() -> Iterator[str]:
        try:
            yield "session"
        except ValueError as caught:
            seen.append(caught)  # rollback
            raise

    @inject(Provider())
    def handler(session: str = Depends(session)) -> None:
        raise error

    with pytest.raises(ValueError, match="training diverged"):
        handler()
    assert seen == [error]
    assert seen[0] is error


def test_generator_finally_block_runs_when_the_handler_raises() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        try:
            yield "session"
        finally:
            log.append("closed")

    @inject(Provider())
    def handler(session: str = Depends(session)) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        handler()
    assert log == ["closed"]


def test_original_exception_object_reaches_the_caller_through_generators() -> None:
    error = RuntimeError("original")

    def outer() -> Iterator[str]:
        try:
            yield "outer"
        finally:
            pass

    def inner(value: str = Depends(outer)) -> Iterator[str]:
        yield value

    @inject(Provider())
    def handler(value: str = Depends(inner)) -> None:
        raise error

    with pytest.raises(RuntimeError) as excinfo:
        handler()
    assert excinfo.value is error


def test_exception_reaches_the_caller_when_a_generator_swallows_it_in_except() -> None:
    error = ValueError("not reraised by the dependency")
    log: list[str] = []

    def session() -> Iterator[str]:
        try:
            yield "session"
        except ValueError:
            log.append("rollback")

    @inject(Provider())
    def handler(session: str = Depends(session)) -> None:
        raise error

    with pytest.raises(ValueError, match="not reraised") as excinfo:
        handler()
    assert excinfo.value is error
    assert log == ["rollback"]


def test_stop_iteration_reaches_the_caller_through_a_generator_dependency() -> None:
    stop = StopIteration("early stopping")
    log: list[str] = []

    def writer() -> Iterator[str]:
        try:
            yield "writer"
        finally:
            log.append("writer closed")

    @inject(Provider())
    def handler(writer: str = Depends(writer)) -> None:
        raise stop

    with pytest.raises(StopIteration) as excinfo:
        handler()
    assert excinfo.value is stop
    assert log == ["writer closed"]


def test_stop_iteration_reaches_the_caller_through_nested_generator_dependencies() -> None:
    log: list[str] = []

    def connection() -> Iterator[str]:
        try:
            yield "connection"
        finally:
            log.append("connection closed")

    def session(conn: str = Depends(connection)) -> Iterator[str]:
        try:
            yield f"session({conn})"
        except StopIteration:
            log.append("session saw StopIteration")
            raise

    @inject(Provider())
    def handler(session: str = Depends(session)) -> None:
        raise StopIteration

    with pytest.raises(StopIteration):
        handler()
    assert log == ["session saw StopIteration", "connection closed"]


def test_stop_iteration_reaches_the_caller_without_generator_dependencies() -> None:
    def threshold() -> float:
        return 0.5

    @inject(Provider())
    def handler(loss: float, threshold: float = Depends(threshold)) -> None:
        if loss < threshold:
            raise StopIteration

    with pytest.raises(StopIteration):
        handler(0.1)


def test_generator_dependency_that_does_not_yield_raises_a_clear_error() -> None:
    def empty_session() -> Iterator[str]:
        return
        yield "never"

    @inject(Provider())
    def handler(session: str = Depends(empty_session)) -> str:
        return session

    with pytest.raises(
        DependencyError,
        match=r"generator dependency .*empty_session\(\) of .*handler finished without "
        r"yielding; it must yield once",
    ):
        handler()


def test_dependency_set_up_failure_cleans_up_generators_already_opened() -> None:
    log: list[str] = []
    error = ConnectionError("database unreachable")

    def session() -> Iterator[str]:
        log.append("open session")
        try:
            yield "session"
        finally:
            log.append("close session")

    def database() -> str:
        raise error

    @inject(Provider())
    def handler(session: str = Depends(session), db: str = Depends(database)) -> None:
        log.append("handler")

    with pytest.raises(ConnectionError) as excinfo:
        handler()
    assert excinfo.value is error
    assert log == ["open session", "close session"]


def test_generator_set_up_failure_cleans_up_its_opened_sub_dependency() -> None:
    log: list[str] = []

    def connection() -> Iterator[str]:
        log.append("connect")
        try:
            yield "connection"
        finally:
            log.append("disconnect")

    def session(conn: str = Depends(connection)) -> Iterator[str]:
        raise PermissionError("denied")
        yield conn

    @inject(Provider())
    def handler(session: str = Depends(session)) -> None:
        log.append("handler")

    with pytest.raises(PermissionError, match="denied"):
        handler()
    assert log == ["connect", "disconnect"]


# --- clean-up that fails, dependencies that yield twice ---------------------------------------


def test_a_clean_up_error_after_a_normal_return_still_finishes_the_other_generators() -> None:
    log: list[str] = []
    error = OSError("disk full while flushing")

    def zeroth() -> Iterator[str]:
        try:
            yield "zeroth"
        finally:
            log.append("close zeroth")

    def first() -> Iterator[str]:
        log.append("open first")
        try:
            yield "first"
        except OSError as caught:
            log.append(f"first saw {caught}")
            raise
        finally:
            log.append("close first")

    def second() -> Iterator[str]:
        log.append("open second")
        yield "second"
        raise error

    def third() -> Iterator[str]:
        log.append("open third")
        yield "third"
        log.append("close third")

    @inject(Provider())
    def handler(
        z: str = Depends(zeroth),
        a: str = Depends(first),
        b: str = Depends(second),
        c: str = Depends(third),
    ) -> str:
        log.append("handler")
        return "result"

    with pytest.raises(OSError, match="disk full") as excinfo:
        handler()
    assert excinfo.value is error
    assert log == [
        "open first", "open second", "open third", "handler",
        "close third", "first saw disk full while flushing", "close first", "close zeroth",
    ]


def test_a_clean_up_error_after_a_normal_return_is_raised_even_if_handled_later() -> None:
    log: list[str] = []

    def outer() -> Iterator[str]:
        try:
            yield "outer"
        except KeyError:
            log.append("outer swallowed it")

    def inner() -> Iterator[str]:
        yield "inner"
        raise KeyError("flush failed")

    @inject(Provider())
    def handler(a: str = Depends(outer), b: str = Depends(inner)) -> str:
        return "result"

    with pytest.raises(KeyError, match="flush failed"):
        handler()
    assert log == ["outer swallowed it"]


def test_a_clean_up_error_replaces_the_handler_error_and_chains_it() -> None:
    log: list[str] = []
    original = ValueError("handler failed")
    replacement = ConnectionError("rollback failed")

    def outer() -> Iterator[str]:
        try:
            yield "outer"
        except ConnectionError as caught:
            log.append(f"outer saw {caught}")
            raise

    def inner() -> Iterator[str]:
        try:
            yield "inner"
        except ValueError:
            raise replacement from None

    @inject(Provider())
    def handler(a: str = Depends(outer), b: str = Depends(inner)) -> None:
        raise original

    with pytest.raises(ConnectionError, match="rollback failed") as excinfo:
        handler()
    assert excinfo.value is replacement
    assert excinfo.value.__context__ is original
    assert log == ["outer saw rollback failed"]


def test_a_dependency_that_yields_twice_is_closed_and_reported() -> None:
    log: list[str] = []

    def twice() -> Iterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            log.append("closed")

    @inject(Provider())
    def handler(value: str = Depends(twice)) -> str:
        return value

    with pytest.raises(
        DependencyError,
        match=r"generator dependency .*twice\(\) yielded more than once; "
        r"a dependency must yield exactly one value",
    ):
        handler()
    assert log == ["closed"]


def test_a_dependency_that_yields_again_after_the_handler_error_is_closed_and_reported() -> None:
    log: list[str] = []

    def stubborn() -> Iterator[str]:
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
    def handler(a: str = Depends(outer), b: str = Depends(stubborn)) -> None:
        raise ValueError("handler failed")

    with pytest.raises(DependencyError, match=r"stubborn\(\) yielded more than once"):
        handler()
    assert log == ["caught", "closed", "outer saw DependencyError"]


def test_after_a_dependency_yields_twice_the_earlier_ones_still_close() -> None:
    log: list[str] = []

    def first() -> Iterator[str]:
        try:
            yield "first"
        finally:
            log.append("close first")

    def twice() -> Iterator[str]:
        yield "a"
        yield "b"

    @inject(Provider())
    def handler(a: str = Depends(first), b: str = Depends(twice)) -> str:
        return a + b

    with pytest.raises(DependencyError, match="yielded more than once"):
        handler()
    assert log == ["close first"]


def test_a_clean_up_error_raised_from_the_handler_error_replaces_it() -> None:
    original = ValueError("handler failed")

    def session() -> Iterator[str]:
        try:
            yield "session"
        except ValueError as caught:
            raise ConnectionError("rollback failed") from caught

    @inject(Provider())
    def handler(value: str = Depends(session)) -> None:
        raise original

    with pytest.raises(ConnectionError, match="rollback failed") as excinfo:
        handler()
    assert excinfo.value.__cause__ is original


def test_stop_iteration_a_generator_lets_through_reaches_the_caller_unchanged() -> None:
    stop = StopIteration("early stopping")

    def passive() -> Iterator[str]:
        yield "passive"  # no try: StopIteration leaves it as RuntimeError (PEP 479)

    @inject(Provider())
    def handler(value: str = Depends(passive)) -> None:
        raise stop

    with pytest.raises(StopIteration) as excinfo:
        handler()
    assert excinfo.value is stop


def test_a_generator_that_wraps_stop_iteration_in_its_own_runtime_error_replaces_it() -> None:
    def wrapping() -> Iterator[str]:
        try:
            yield "wrapping"
        except StopIteration as caught:
            raise RuntimeError("wrapped on purpose") from caught

    @inject(Provider())
    def handler(value: str = Depends(wrapping)) -> None:
        raise StopIteration

    with pytest.raises(RuntimeError, match="wrapped on purpose"):
        handler()
