"""``Jobs``: accepted commands waiting for a device, and the workers that run them.

Each device gets ``per_device`` worker threads (one by default: one job per device at a
time); jobs wait in one first-in, first-out queue of at most ``max_queued``, and the
first free worker takes the next. Ended jobs are kept (the latest ``keep``) so that
their status and events can still be read.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.executors import Executor, describe_error
from torchsystem.interfaces.job import ENDED, Job

__all__ = ["Jobs", "QueueFull", "UnknownJob"]

logger = logging.getLogger("torchsystem.interfaces")


class UnknownJob(LookupError):
    """No job has the id asked for (or it was forgotten)."""


class QueueFull(RuntimeError):
    """As many jobs as allowed are already waiting."""


class Jobs:
    """Run commands of ``application`` as jobs with ``executor`` on ``devices``.

    ``start()`` starts the workers; ``close()`` cancels queued jobs, asks running ones
    to stop and waits for them (``with`` does both).

    Raises:
        ValueError: no devices, or ``per_device`` / ``max_queued`` below 1.

    Example:
        >>> from dataclasses import dataclass
        >>> from torchsystem.interfaces.executors import ThreadExecutor
        >>> app = Application()
        >>> @dataclass
        ... class Add:
        ...     a: int
        ...     b: int = 1
        >>> @app.command
        ... def add(command: Add) -> int:
        ...     return command.a + command.b
        >>> with Jobs(app, ThreadExecutor(app), devices=["cpu"]) as jobs:
        ...     job = jobs.submit("add", {"a": 2})
        ...     jobs.wait(job.id, timeout=10).result
        3
    """

    def __init__(
        self, application: Application, executor: Executor, *,
        devices: Sequence[str] | None = None, per_device: int = 1, max_queued: int = 100,
        keep: int = 1000,
    ) -> None:
        self.application, self.executor = application, executor
        self.devices = tuple(application.available_devices() if devices is None else devices)
        if not self.devices:
            raise ValueError("Jobs needs at least one device, e.g. devices=['cpu']")
        if per_device < 1 or max_queued < 1:
            raise ValueError(f"per_device and max_queued must be >= 1, got {per_device} and "
                             f"{max_queued}")
        self.per_device, self.max_queued, self.keep = per_device, max_queued, keep
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        """Start one worker thread per device slot (once)."""
        if self._workers:
            return
        for device in self.devices:
            for slot in range(self.per_device):
                worker = threading.Thread(target=self._work, args=(device,), daemon=True,
                                          name=f"job worker {device}#{slot}")
                worker.start()
                self._workers.append(worker)

    def submit(self, command: str, arguments: dict[str, Any]) -> Job:
        """Queue ``command`` with ``arguments`` (already validated); the job.

        Raises:
            UnknownCommand: no such command.
            QueueFull: ``max_queued`` jobs already wait.
        """
        self.application.spec(command)
        with self._lock:
            waiting = sum(job.status == "queued" for job in self._jobs.values())
            if waiting >= self.max_queued:
                raise QueueFull(f"{waiting} jobs already wait for a device (max_queued="
                                f"{self.max_queued}); try again when one has started")
            job = Job(self._new_id(), command, arguments)
            self._jobs[job.id] = job
            self._forget_ended()
        self._queue.put(job)
        return job

    def _new_id(self) -> str:
        while True:
            key = secrets.token_hex(6)
            if key not in self._jobs:
                return key

    def _forget_ended(self) -> None:
        ended = [key for key, job in self._jobs.items() if job.status in ENDED]
        for key in ended[: max(0, len(ended) - self.keep)]:
            del self._jobs[key]

    def get(self, key: str) -> Job:
        """The job with id ``key``.

        Raises:
            UnknownJob: there is none.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                latest = ", ".join(list(self._jobs)[-5:]) or "none yet"
                raise UnknownJob(f"no job {key!r}; the latest jobs: {latest}")
            return job

    def list(self) -> list[Job]:
        """Every job kept, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def stop(self, key: str) -> Job:
        """Cancel the job if queued, else ask it to stop after its current step.

        Raises:
            UnknownJob: there is none.
        """
        job = self.get(key)
        job.request_stop()
        return job

    def wait(self, key: str, timeout: float) -> Job:
        """The job once it has ended.

        Raises:
            UnknownJob: there is none.
            TimeoutError: it has not ended within ``timeout`` seconds.
        """
        job = self.get(key)
        seen = 0
        while job.status not in ENDED:
            if not job.events.wait(seen, timeout):
                raise TimeoutError(f"job {key} is still {job.status} after {timeout} s")
            seen = max([seen, *(number for number, _ in job.events.since(seen))])
        return job

    def _work(self, device: str) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self.executor.run(job, device)
            except Exception as error:  # the executor itself failed (no process, say)
                logger.exception("cannot run job %s (%s)", job.id, job.command)
                job.fail(describe_error(error))

    def close(self, timeout: float = 60.0) -> None:
        """Cancel queued jobs, stop running ones, wait up to ``timeout`` s for them."""
        for job in self.list():
            job.request_stop()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout)
        self._workers.clear()

    def __enter__(self) -> Jobs:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
