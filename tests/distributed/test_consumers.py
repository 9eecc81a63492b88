"""``RankZero``: rank 0 delivers, the others do not; the barrier is reached by all."""

from __future__ import annotations

from typing import Any

import pytest

from torchsystem.distributed import RankZero
from torchsystem.services import Consumer, Producer


class Closing(Consumer):
    def __init__(self) -> None:
        super().__init__("closing")
        self.seen: list[Any] = []
        self.closed = self.flushed = 0
        self.register(int, self.seen.append)

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed += 1


def test_rank_zero_gets_the_consumer_routes_and_other_ranks_none() -> None:
    inner = Closing()
    zero, one = RankZero(inner, rank=0), RankZero(inner, rank=1)

    assert zero.routes(int) == inner.routes(int)  # nothing added on rank 0
    assert one.routes(int) == ()
    assert (zero.active, one.active) == (True, False)


def test_only_rank_zero_delivers_and_every_rank_closes() -> None:
    inner = Closing()
    producer = Producer()
    producer.register(RankZero(inner, rank=0))
    other = Producer()
    silent = RankZero(inner, rank=2)
    other.register(silent)

    producer.dispatch(1)
    other.dispatch(2)
    silent.close()
    silent.flush()

    assert inner.seen == [1]
    assert (inner.closed, inner.flushed) == (1, 1)


def test_the_barrier_runs_after_the_consumer_on_every_rank() -> None:
    inner = Closing()
    durable = RankZero(inner, barrier=int, durable=True, rank=0)
    elsewhere = RankZero(inner, barrier=(int,), rank=1)

    for handler in durable.routes(int):
        handler(7)  # one process: the barrier returns at once
    for handler in elsewhere.routes(int):
        handler(8)

    assert len(durable.routes(int)) == 2
    assert len(elsewhere.routes(int)) == 1
    assert inner.seen == [7]
    assert inner.flushed == 1  # durable: rank 0 flushed before waiting
    assert durable.routes(str) == ()


def test_a_change_of_the_consumer_reaches_the_producer() -> None:
    inner = Closing()
    producer = Producer()
    producer.register(RankZero(inner, rank=0))
    producer.dispatch(1)
    seen: list[str] = []
    inner.register(str, seen.append)

    producer.dispatch("after")

    assert seen == ["after"]


def test_what_is_not_a_consumer_is_refused() -> None:
    with pytest.raises(TypeError, match=r"RankZero wraps a consumer .* got 42"):
        RankZero(42)  # type: ignore[arg-type]
