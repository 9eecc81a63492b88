"""The process of one job: ``python -m torchsystem.interfaces.worker`` (started by
``ProcessExecutor``, never by hand).

Its first line of standard input is the job as JSON (id, command, arguments, device,
the application's ``module:attribute`` reference, the run database, the descriptor of
the pipe to report on, how much nicer than the server to run); a later line ``stop``
(or the end of the input: the server is gone) asks the job to stop after its current
step. It reports JSON lines on the pipe: ``event`` records while the handler runs,
then one of ``result``, ``stopped``, ``error``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from importlib import import_module
from typing import Any, TextIO

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.context import JobContext
from torchsystem.interfaces.events import jsonable
from torchsystem.interfaces.executors import describe_error
from torchsystem.interfaces.stopping import JobStopped

__all__ = ["load", "main"]

logger = logging.getLogger("torchsystem.interfaces")


def load(reference: str) -> Application:
    """The application at ``module:attribute``.

    Raises:
        ValueError: ``reference`` is not ``module:attribute``.
        ImportError: the module cannot be imported.
        TypeError: the attribute is not an ``Application``.
    """
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise ValueError(f"{reference!r} is not MODULE:ATTRIBUTE (e.g. src.app:app)")
    found: Any = import_module(module)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportError(f"module {module!r} has no attribute {attribute!r}") from None
    if not isinstance(found, Application):
        raise TypeError(f"{reference} is a {type(found).__name__}, not an Application")
    return found


class _Reporter:
    """JSON lines on the pipe to the server, one writer at a time."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.lock = stream, threading.Lock()

    def send(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"kind": kind, **fields}, allow_nan=False, default=str)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def event(self, record: dict[str, Any]) -> None:
        self.send("event", record=jsonable(record))


def _listen(stop: threading.Event) -> None:
    """Set ``stop`` at a ``stop`` line or at the end of the input (the server is gone)."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at the server: it stops the jobs
    spec = json.loads(sys.stdin.readline())
    if spec.get("nice") and hasattr(os, "nice"):
        os.nice(spec["nice"])  # before the application's imports: they are work too
    logging.basicConfig(level=logging.INFO, format=f"[job {spec['job']}] %(message)s")
    reporter = _Reporter(os.fdopen(spec["fd"], "w", encoding="utf-8"))
    stop = threading.Event()
    threading.Thread(target=_listen, args=(stop,), name="stop listener", daemon=True).start()
    sys.orig_argv = [*sys.orig_argv, spec["reference"], spec["command"],  # recorded with runs
                     json.dumps(spec["arguments"])]
    try:
        application = load(spec["reference"])
        if spec.get("database") is not None:
            application.database = spec["database"]
        command = application.spec(spec["command"]).build(spec["arguments"])
        job = JobContext(spec["job"], spec["command"], spec["device"],
                         database=application.database, sink=reporter.event, stop=stop)
        result = application.execute(command, job)
    except JobStopped as stopped:
        reporter.send("stopped", reason=str(stopped))
    except Exception as error:
        logger.exception("job %s (%s) failed", spec["job"], spec["command"])
        reporter.send("error", error=describe_error(error))
    else:
        reporter.send("result", value=jsonable(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
