"""``Background``: a wrapped consumer's events delivered on a worker thread."""

from __future__ import annotations

import threading

import pytest

from torchsystem.consumers import Background
from torchsystem.services import Consumer, Producer

WAIT = 5.0  # seconds; only reached when something is broken


class Failure(Exception):
    pass


class Closable(Consumer):
    def __init__(self) -> None:
        super().__init__("closable")
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _collecting(seen: list[int], consumer: Consumer | None = None) -> Consumer:
    inner = Consumer("inner") if consumer is None else consumer

    @inner.handler
    def collect(event: int) -> None:
        seen.append(event)

    return inner


def _failing(error: BaseException, reached: threading.Event | None = None) -> Consumer:
    """Raises ``error`` on the event 0; sets ``reached`` on any later event."""
    inner = Consumer("failing")

    @inner.handler
    def fail(event: int) -> None:
        if event == 0:
            raise error
        if reached is not None:
            reached.set()

    return inner


def _blocking(started: threading.Event, release: threading.Event, seen: list[int]) -> Consumer:
    inner = Consumer("blocking")

    @inner.handler
    def wait(event: int) -> None:
        started.set()
        assert release.wait(WAIT)
        seen.append(event)

    return inner


def _wired(background: Background) -> Producer:
    producer = Producer()
    producer.register(background)
    return producer


def test_events_are_delivered_in_order() -> None:
    seen: list[int] = []
    background = Background(_collecting(seen))
    producer = _wired(background)

    for number in range(2000):
        producer.dispatch(number)
    background.flush()

    assert seen == list(range(2000))
    background.close()


def test_events_are_delivered_on_another_thread() -> None:
    threads: list[threading.Thread] = []
    inner = Consumer()

    @inner.handler
    def where(event: int) -> None:
        threads.append(threading.current_thread())

    with Background(inner) as background:
        _wired(background).dispatch(1)

    assert threads
    assert threads[0] is not threading.current_thread()


def test_events_the_inner_consumer_ignores_are_not_queued() -> None:
    seen: list[int] = []
    background = Background(_collecting(seen))

    _wired(background).dispatch("text")

    assert background.routes(str) == ()
    background.close()


def test_a_handler_added_later_to_the_inner_consumer_is_routed() -> None:
    seen: list[int] = []
    inner = Consumer()
    background = Background(inner)
    producer = _wired(background)
    producer.dispatch(1)
    _collecting(seen, inner)

    producer.dispatch(2)
    background.close()

    assert seen == [2]


def test_a_failure_is_raised_at_the_next_dispatch() -> None:
    error, reached = Failure("boom"), threading.Event()
    background = Background(_failing(error, reached))
    producer = _wired(background)
    producer.dispatch(0)
    producer.dispatch(1)
    assert reached.wait(WAIT)  # the worker delivered 1, so it recorded the failure of 0

    with pytest.raises(Failure) as raised:
        producer.dispatch(2)

    assert raised.value is error


def test_a_failure_is_raised_at_flush() -> None:
    error = Failure("boom")
    background = Background(_failing(error))
    _wired(background).dispatch(0)

    with pytest.raises(Failure) as raised:
        background.flush()

    assert raised.value is error


def test_a_failure_is_raised_at_close() -> None:
    error = Failure("boom")
    background = Background(_failing(error))
    _wired(background).dispatch(0)

    with pytest.raises(Failure) as raised:
        background.close()

    assert raised.value is error


def test_a_failure_is_raised_only_once() -> None:
    background = Background(_failing(Failure("boom")))
    _wired(background).dispatch(0)
    with pytest.raises(Failure):
        background.flush()

    background.flush()
    background.close()


def test_later_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    inner = Consumer()

    @inner.handler
    def fail(event: int) -> None:
        raise Failure(f"failure {event}")

    background = Background(inner)
    producer = _wired(background)
    producer.dispatch(1)
    producer.dispatch(2)

    with pytest.raises(Failure, match="failure 1"):
        background.flush()
    assert "failure 2" in caplog.text


def test_a_full_queue_blocks_the_producer_instead_of_dropping() -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    background = Background(_blocking(started, release, seen), maxsize=1)
    producer = _wired(background)
    producer.dispatch(1)
    assert started.wait(WAIT)  # the worker holds 1, the queue is empty
    producer.dispatch(2)  # fills the queue
    third = threading.Thread(target=producer.dispatch, args=(3,))
    third.start()

    third.join(0.05)
    blocked = third.is_alive()
    release.set()
    third.join(WAIT)
    background.close()

    assert blocked
    assert seen == [1, 2, 3]


def test_close_delivers_everything_queued() -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    background = Background(_blocking(started, release, seen))
    producer = _wired(background)
    for number in range(50):
        producer.dispatch(number)
    assert started.wait(WAIT)

    release.set()
    background.close()

    assert seen == list(range(50))


def test_close_closes_the_inner_consumer() -> None:
    inner = Closable()
    background = Background(_collecting([], inner))
    _wired(background).dispatch(1)

    background.close()

    assert inner.closed == 1


def test_close_without_any_event_closes_the_inner_consumer() -> None:
    inner = Closable()

    Background(inner).close()

    assert inner.closed == 1


def test_the_context_manager_closes() -> None:
    seen: list[int] = []

    with Background(_collecting(seen)) as background:
        _wired(background).dispatch(1)

    assert seen == [1]


def test_a_dispatch_after_close_raises_a_clear_error() -> None:
    background = Background(_collecting([]))
    producer = _wired(background)
    producer.dispatch(1)
    background.close()

    with pytest.raises(RuntimeError, match="closed"):
        producer.dispatch(2)


def test_a_dispatch_to_a_background_closed_before_use_raises() -> None:
    background = Background(_collecting([]))
    producer = _wired(background)
    background.close()

    with pytest.raises(RuntimeError, match="closed"):
        producer.dispatch(1)


def test_maxsize_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="maxsize must be at least 1, got 0"):
        Background(Consumer(), maxsize=0)


def test_the_name_follows_the_inner_consumer() -> None:
    assert Background(Consumer("tensorboard")).name == "background-tensorboard"


def test_per_step_events_never_reach_the_worker_of_a_metrics_consumer(tmp_path) -> None:
    from torchsystem.consumers import TensorBoard
    from torchsystem.training import Iterated, Stepped, Trained

    background = Background(TensorBoard(tmp_path))

    assert background.routes(Stepped) == ()
    assert background.routes(Iterated) == ()
    assert background.routes(Trained) == (background.submit,)
    background.close()
