"""``Background``: a wrapped consumer's events delivered on a worker thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from torchsystem.consumers import Background
from torchsystem.services import Consumer, Producer, Routable

WAIT = 5.0  # seconds; only reached when something is broken
ROOT = Path(__file__).resolve().parents[2]


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


def _blocking(
    started: threading.Event, release: threading.Event, seen: list[int],
    inner: Consumer | None = None,
) -> Consumer:
    inner = Consumer("blocking") if inner is None else inner

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


def _blocked_in_wait(waiting: threading.Event) -> Any:
    """A trace function that sets ``waiting`` when the traced thread starts waiting on a
    condition (inside ``queue.Queue.put``): a real signal that the thread is blocked."""

    def trace(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == "wait" and (
            frame.f_code.co_filename == threading.__file__
        ):
            waiting.set()

    return trace


def test_a_full_queue_blocks_the_producer_instead_of_dropping() -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    waiting, returned = threading.Event(), threading.Event()
    background = Background(_blocking(started, release, seen), maxsize=1)
    producer = _wired(background)
    producer.dispatch(1)
    assert started.wait(WAIT)  # the worker holds 1, the queue is empty
    producer.dispatch(2)  # fills the queue

    def third() -> None:
        sys.settrace(_blocked_in_wait(waiting))
        try:
            producer.dispatch(3)
        finally:
            sys.settrace(None)
        returned.set()

    thread = threading.Thread(target=third)
    thread.start()
    assert waiting.wait(WAIT)  # the third dispatch waits for room in the queue
    blocked = not returned.is_set()
    release.set()
    thread.join(WAIT)
    background.close()

    assert blocked
    assert returned.is_set()
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


# --- follow-up events dispatched from the worker ----------------------------------------------


def _relaying(producer: Producer, seen: list[Any], inner: Consumer | None = None) -> Consumer:
    """For each int, dispatches a follow-up str through ``producer``."""
    relay = Consumer("relay") if inner is None else inner

    @relay.handler
    def follow_up(event: int) -> None:
        seen.append(event)
        producer.dispatch(f"after {event}")

    @relay.handler
    def collect(event: str) -> None:
        seen.append(event)

    return relay


def _finished_within(function: Any) -> bool:
    """Run ``function`` on a thread; whether it finished within ``WAIT`` (a hang fails)."""
    done = threading.Event()

    def run() -> None:
        function()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(WAIT)


@pytest.mark.parametrize(("maxsize", "events"), [(8, 100), (1024, 3000)])
def test_a_handler_dispatching_through_the_same_producer_never_deadlocks(
    maxsize: int, events: int
) -> None:
    seen: list[Any] = []
    producer = Producer()
    background = Background(_relaying(producer, seen), maxsize=maxsize)
    producer.register(background)

    def burst() -> None:
        for number in range(events):
            producer.dispatch(number)
        background.flush()
        background.close()

    assert _finished_within(burst)
    assert seen == [item for n in range(events) for item in (n, f"after {n}")]


def test_a_follow_up_reaches_the_synchronous_consumers_too() -> None:
    seen: list[Any] = []
    synchronous: list[Any] = []
    producer = Producer()
    background = Background(_relaying(producer, seen))
    other = Consumer()
    other.register(str, synchronous.append)
    producer.register(background, other)

    producer.dispatch(1)
    background.close()

    assert seen == [1, "after 1"]
    assert synchronous == ["after 1"]


def test_flush_or_close_from_a_handler_is_refused_instead_of_waiting_forever() -> None:
    inner = Consumer()
    background = Background(inner)

    @inner.handler
    def flush_from_the_worker(event: int) -> None:
        background.flush()

    @inner.handler
    def close_from_the_worker(event: str) -> None:
        background.close()

    producer = _wired(background)
    producer.dispatch(1)
    with pytest.raises(RuntimeError, match=r"flush\(\) of Background.* own worker"):
        background.flush()
    producer.dispatch("x")
    with pytest.raises(RuntimeError, match=r"close\(\) of Background.* own worker"):
        background.flush()
    background.close()
    assert background.closed


# --- close racing dispatch ------------------------------------------------------------------


def _produce_until_closed(producer: Producer, accepted: list[int], running: threading.Event,
                          warm_up: int) -> None:
    for number in range(1_000_000):
        try:
            producer.dispatch(number)
        except RuntimeError:
            return
        accepted.append(number)
        if number == warm_up:
            running.set()


def test_close_racing_dispatch_loses_no_accepted_event() -> None:
    for trial in range(200):
        seen: list[int] = []
        accepted: list[int] = []
        running = threading.Event()
        background = Background(_collecting(seen), maxsize=1024)
        producer = _wired(background)
        thread = threading.Thread(
            target=_produce_until_closed, args=(producer, accepted, running, trial % 50)
        )
        thread.start()
        assert running.wait(WAIT)
        background.close()  # while the producer is dispatching
        thread.join(WAIT)

        assert not thread.is_alive()
        assert seen == accepted


# --- close with a timeout -------------------------------------------------------------------


def test_close_with_a_timeout_raises_while_events_remain_and_can_wait_again() -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    inner = Closable()
    background = Background(_blocking(started, release, seen, inner))
    producer = _wired(background)
    producer.dispatch(1)
    producer.dispatch(2)
    assert started.wait(WAIT)

    with pytest.raises(TimeoutError, match=r"did not deliver its events within 0.01 s \(\d still"):
        background.close(timeout=0.01)

    assert inner.closed == 0  # the worker still uses it
    with pytest.raises(RuntimeError, match="closed"):
        producer.dispatch(3)
    release.set()
    background.close()
    assert seen == [1, 2]
    assert inner.closed == 1


def test_close_with_a_timeout_on_a_full_queue_raises() -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    background = Background(_blocking(started, release, seen), maxsize=1)
    producer = _wired(background)
    producer.dispatch(1)
    assert started.wait(WAIT)
    producer.dispatch(2)  # the queue is full: even the stop signal must wait

    with pytest.raises(TimeoutError, match=r"\(1 still queued\)"):
        background.close(timeout=0.01)

    release.set()
    background.close()
    assert seen == [1, 2]


def test_a_failure_carries_a_note_naming_the_background() -> None:
    background = Background(_failing(Failure("boom")))
    _wired(background).dispatch(0)

    with pytest.raises(Failure) as raised:
        background.close()

    assert raised.value.__notes__ == [
        "raised on the worker thread of Background(Consumer('failing', handlers=['fail']))"
    ]


# --- any consumer, through the protocol ---------------------------------------------------


def test_background_wraps_any_routable_and_is_one_itself() -> None:
    class Inbox:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def routes(self, cls: type) -> tuple[Any, ...]:
            return (self.items.append,)

        def watch(self, router: Any) -> None:
            pass

    inbox = Inbox()
    with Background(inbox, name="inbox") as background:
        _wired(background).dispatch("mail")

    assert inbox.items == ["mail"]
    assert isinstance(background, Routable)
    assert not isinstance(background, Consumer)
    assert background.name == "inbox"


def test_background_refuses_what_is_not_a_consumer() -> None:
    with pytest.raises(TypeError, match=r"Background wraps a consumer .* got 42"):
        Background(42)  # type: ignore[arg-type]


def test_a_removed_handler_stops_reaching_the_worker() -> None:
    seen: list[int] = []
    inner = Consumer()
    registration = inner.register(int, seen.append)
    background = Background(inner)
    producer = _wired(background)
    producer.dispatch(1)
    background.flush()

    registration.remove()
    producer.dispatch(2)
    background.close()

    assert seen == [1]
    assert producer.routes(int) == ()


def test_consume_queues_like_submit() -> None:
    seen: list[int] = []
    background = Background(_collecting(seen))

    background.consume(1)
    background.close()

    assert seen == [1]


# --- interpreter exit and fork (real processes) -------------------------------------------------


def _run(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


PRELUDE = """
    import sys, threading
    from torchsystem.consumers import Background
    from torchsystem.services import Consumer, Producer
    inner = Consumer("sink")
"""


def test_events_left_at_exit_are_delivered() -> None:
    completed = _run(PRELUDE + """
    @inner.handler
    def write(event: int) -> None:
        print("delivered", event, flush=True)

    producer = Producer()
    producer.register(Background(inner))
    for number in range(3):
        producer.dispatch(number)
    """)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n")[:3] == ["delivered 0", "delivered 1", "delivered 2"]


def test_a_failure_at_exit_without_close_fails_the_process() -> None:
    completed = _run(PRELUDE + """
    import atexit
    atexit.register(lambda: print("an earlier exit handler ran", flush=True))

    @inner.handler
    def write(event: int) -> None:
        if event == 2:
            raise OSError("disk full")

    producer = Producer()
    producer.register(Background(inner))
    for number in range(3):
        producer.dispatch(number)
    print("main done", flush=True)
    """)

    assert completed.returncode == 1
    assert "Exception ignored" not in completed.stderr
    assert (
        "Background(Consumer('sink', handlers=['write'])) failed while delivering its last "
        "events at interpreter exit (OSError: disk full); events may be lost and the process "
        "exits with status 1"
    ) in completed.stderr
    assert completed.stdout.split("\n")[:1] == ["main done"]


def test_the_drain_at_exit_gives_up_after_exit_timeout() -> None:
    completed = _run(PRELUDE + """
    never = threading.Event()

    @inner.handler
    def hang(event: int) -> None:
        never.wait()

    producer = Producer()
    producer.register(Background(inner, exit_timeout=0.2))
    producer.dispatch(1)
    producer.dispatch(2)
    """)

    assert completed.returncode == 1
    assert "TimeoutError: Background(Consumer('sink', handlers=['hang'])) did not deliver" in (
        completed.stderr
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_dispatching_through_an_inherited_background_fails_clearly() -> None:
    completed = _run(PRELUDE + """
    import os, warnings
    warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on purpose
    seen = []
    inner.register(int, seen.append)
    background = Background(inner)
    producer = Producer()
    producer.register(background)
    producer.dispatch(1)
    background.flush()
    pid = os.fork()
    if pid == 0:
        try:
            producer.dispatch(2)
        except RuntimeError as error:
            print("child:", error, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    producer.dispatch(3)
    background.close()
    print("parent:", seen, flush=True)
    """)

    assert completed.returncode == 0, completed.stderr
    child, parent = completed.stdout.splitlines()
    assert child.startswith("child: cannot dispatch through Background(")
    assert "it was made by the parent process" in child
    assert parent == "parent: [1, 3]"


def test_after_close_no_thread_counts_as_the_worker() -> None:
    seen: list[int] = []
    background = Background(_collecting(seen))
    background.submit(1)
    worker = background._worker
    background.close()

    assert worker is not None
    assert worker.ident is None  # a new thread with the same ident is not the worker
    with pytest.raises(RuntimeError, match="closed"):
        background.submit(2)
