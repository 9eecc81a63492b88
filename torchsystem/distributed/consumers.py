"""``RankZero``: a consumer that acts on rank 0 only, optionally in step with the others."""

from __future__ import annotations

from typing import Any

from torchsystem.distributed.world import barrier, rank
from torchsystem.services import Routable
from torchsystem.services._delivery import Listeners, RouteCache, Routes

__all__ = ["RankZero"]


class RankZero:
    """Deliver to ``consumer`` on rank 0 only: for consumers that write (TensorBoard,
    progress bars, logs, the run database, checkpoints).

    Register it with the producer in place of ``consumer``. On rank 0 its routes are the
    consumer's own (nothing is added to a dispatch; in one process it changes nothing);
    on any other rank it has none. With ``barrier`` (an event class or a tuple of
    them), every rank waits at each such event until all got there, rank 0 after its
    consumer handled it (``durable=True``: after ``consumer.flush()`` too, so the files
    are on disk); ``RankZero(checkpoints, barrier=Advanced)`` keeps every rank from
    running ahead of a checkpoint. ``close()`` and ``flush()`` go to ``consumer`` on
    every rank. ``rank`` defaults to this process's (``$RANK`` before the group is
    joined).

    Raises:
        TypeError: ``consumer`` does not implement ``Routable`` (``Consumer`` does).

    Example:
        >>> from torchsystem.services import Consumer, Producer
        >>> printer = Consumer()
        >>> @printer.handler
        ... def show(event: str) -> None:
        ...     print(event)
        >>> producer = Producer()
        >>> producer.register(RankZero(printer), RankZero(printer, rank=1))
        >>> producer.dispatch("printed once, by rank 0")
        printed once, by rank 0
    """

    def __init__(
        self, consumer: Routable[type], *, barrier: type | tuple[type, ...] = (),
        durable: bool = False, rank: int | None = None,
    ) -> None:
        if not isinstance(consumer, Routable):
            raise TypeError(
                "RankZero wraps a consumer (an object with routes(cls) and watch(router), "
                f"such as Consumer), got {consumer!r}"
            )
        self.consumer = consumer
        self.rank = _rank() if rank is None else rank
        self.barrier = barrier if isinstance(barrier, tuple) else (barrier,)
        self.durable = durable
        self._routes: dict[type, Routes] = {}
        self._listeners = Listeners()
        consumer.watch(self)

    @property
    def active(self) -> bool:
        """Whether this process delivers to the consumer (it is rank 0)."""
        return self.rank == 0

    def routes(self, cls: type) -> Routes:
        """The consumer's routes on rank 0 (none elsewhere), then the barrier for the
        ``barrier`` classes."""
        found = self._routes.get(cls)
        if found is None:
            found = tuple(self.consumer.routes(cls)) if self.active else ()
            if self.barrier and issubclass(cls, self.barrier):
                found = (*found, self._wait)
            self._routes[cls] = found
        return found

    def watch(self, router: RouteCache) -> None:
        """Tell ``router`` when the consumer's routes change."""
        self._listeners.add(router)

    def forget_routes(self) -> None:
        """The consumer changed: drop the cached routes and tell the producer."""
        self._routes.clear()
        self._listeners.notify()

    def _wait(self, message: Any) -> None:
        if self.active and self.durable:
            self.flush()
        barrier()

    def flush(self) -> None:
        """``consumer.flush()`` when it has one."""
        flush = getattr(self.consumer, "flush", None)
        if callable(flush):
            flush()

    def close(self) -> None:
        """``consumer.close()`` when it has one."""
        close = getattr(self.consumer, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"RankZero({self.consumer!r}, rank={self.rank})"


_rank = rank
