"""Executors: where a job's handler runs. Both block the calling worker until it ends.

``ThreadExecutor`` calls the handler in the worker thread: dependency overrides made in
this process apply, and nothing is started. ``ProcessExecutor`` runs each job in a
fresh Python process (``python -m torchsystem.interfaces.worker``) that imports the
application by reference (``module:attribute``): training then never competes with the
server for the interpreter, a crash or an out-of-memory kill fails only that job, and
the device's memory is returned when it ends. Events come back as JSON lines on a pipe;
a stop request goes to the process's standard input. The process runs at a lower
scheduling priority than the server (``nice``, ``JOB_NICE`` by default): training is
batch work and the API is interactive, so where they compete for a CPU the server's
requests go first and the job takes what is left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from typing import Any, Protocol

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.context import JobContext
from torchsystem.interfaces.events import jsonable
from torchsystem.interfaces.job import Job
from torchsystem.interfaces.stopping import JobStopped

__all__ = ["JOB_NICE", "Executor", "ProcessExecutor", "ThreadExecutor", "describe_error"]

logger = logging.getLogger("torchsystem.interfaces")
LINGER = 30.0
JOB_NICE = 10  # a job's process: this much nicer than the server (0 to 19)


class Executor(Protocol):
    """Runs ``job`` (already begun on ``device``) to its end, updating its status."""

    def run(self, job: Job, device: str) -> None: ...


def describe_error(error: BaseException) -> str:
    """``Type: message``: how a job reports what its handler raised."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ThreadExecutor:
    """Run jobs in the worker thread that picked them (see the module's docstring).

    Example:
        >>> ThreadExecutor(Application()).application.name
        'torchsystem'
    """

    def __init__(self, application: Application) -> None:
        self.application = application

    def run(self, job: Job, device: str) -> None:
        if not job.begin(device):
            return  # cancelled while queued
        spec = self.application.spec(job.command)
        context = JobContext(job.id, job.command, device, database=self.application.database,
                             sink=job.events.append, stop=job.stop_signal)
        try:
            result = self.application.execute(spec.build(job.arguments), context)
        except JobStopped as stop:
            job.halt(str(stop))
        except Exception as error:
            logger.exception("job %s (%s) failed", job.id, job.command)
            job.fail(describe_error(error))
        else:
            job.finish(jsonable(result))


class ProcessExecutor:
    """Run each job in a process of its own (see the module's docstring).

    ``reference`` is the ``module:attribute`` the worker imports the application from;
    ``path`` is put first on the worker's ``sys.path`` (the folder the server imported
    it from). ``nice`` is added to the process's niceness before it imports anything
    (``os.nice``; 0 keeps the server's priority, 19 is the lowest; ignored where the
    platform has no niceness, Windows).

    Raises:
        ValueError: ``nice`` is not an int from 0 to 19.

    Example:
        >>> ProcessExecutor(Application(), "src.app:app").nice
        10
    """

    def __init__(self, application: Application, reference: str, path: str | None = None,
                 *, nice: int = JOB_NICE) -> None:
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise ValueError(f"nice must be an int from 0 (the server's priority) to 19 (the "
                             f"lowest), got {nice!r}")
        self.application, self.reference, self.nice = application, reference, nice
        self.path = os.getcwd() if path is None else path

    def run(self, job: Job, device: str) -> None:
        read, write = os.pipe()
        spec = {"job": job.id, "command": job.command, "arguments": job.arguments,
                "device": device, "reference": self.reference,
                "database": self.application.database, "fd": write, "nice": self.nice}
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [self.path, *filter(None, [os.environ.get("PYTHONPATH")])])}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "torchsystem.interfaces.worker"], stdin=subprocess.PIPE,
                pass_fds=(write,), env=environment, cwd=os.getcwd(), text=True, bufsize=1,
            )
        finally:
            os.close(write)
        stdin = process.stdin
        assert stdin is not None
        with os.fdopen(read, encoding="utf-8") as messages:
            if not job.begin(device, on_stop=lambda: _tell(stdin, "stop")):
                process.kill()  # cancelled while the process started
                process.wait()
                return
            _tell(stdin, json.dumps(spec))
            ended = self._pump(job, messages)
        status = self._wait(process)
        _close(stdin)
        if not ended:
            job.fail(f"the job's process exited with status {status} before it reported "
                     "an end (killed, out of memory, or a crash: see the server's log)")

    @staticmethod
    def _wait(process: subprocess.Popen[str]) -> int:
        """The worker's exit status; one that lingers after its end message (a thread
        left running) is killed after ``LINGER`` seconds."""
        try:
            return process.wait(timeout=LINGER)
        except subprocess.TimeoutExpired:
            logger.warning("the process of a job lingered %s s after its end: killed", LINGER)
            process.kill()
            return process.wait()

    def _pump(self, job: Job, messages: Any) -> bool:
        """Apply the worker's messages to ``job`` until the pipe closes; whether the
        worker reported the job's end."""
        for line in messages:
            message = json.loads(line)
            kind = message.pop("kind")
            if kind == "event":
                job.events.append(message["record"])
            elif kind == "result":
                job.finish(message["value"])
                return True
            elif kind == "stopped":
                job.halt(message["reason"])
                return True
            elif kind == "error":
                job.fail(message["error"])
                return True
        return False


def _tell(stdin: Any, text: str) -> None:
    try:
        stdin.write(text + "\n")
        stdin.flush()
    except (OSError, ValueError):  # the process has ended, or its input was closed
        pass


def _close(stdin: Any) -> None:
    with contextlib.suppress(OSError):
        stdin.close()
