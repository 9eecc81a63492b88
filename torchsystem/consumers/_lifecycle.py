"""Process-wide duties of ``Background``: drain at interpreter exit, stand aside after a fork.

Process-wide by nature, like ``atexit`` itself: the instances alive in this process, and
whether one of them failed while draining at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from torchsystem.services._delivery import one_line

__all__ = ["drain_at_exit", "track"]

logger = logging.getLogger("torchsystem.consumers")


class Drained(Protocol):
    """What is drained at exit: a ``close`` with a timeout, and a mark for forked copies."""

    exit_timeout: float | None
    _forked: bool

    def close(self, timeout: float | None = None) -> None: ...


class _Process:
    def __init__(self) -> None:
        self.instances: weakref.WeakSet[Any] = weakref.WeakSet()
        self.failed_at_exit = False

    def forked(self) -> None:
        """In a forked child: every inherited instance belongs to the parent."""
        for instance in list(self.instances):
            instance._forked = True
        self.failed_at_exit = False

    def exit_status(self) -> None:
        """The last exit handler (registered first): a failure while draining at exit
        makes the process exit with status 1 instead of 0."""
        if self.failed_at_exit:
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(AttributeError, OSError, ValueError):
                    stream.flush()
            os._exit(1)


_PROCESS = _Process()
atexit.register(_PROCESS.exit_status)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PROCESS.forked)


def track(instance: Drained) -> None:
    """Mark ``instance`` as forked in the children of this process."""
    _PROCESS.instances.add(instance)


def drain_at_exit(instance: Drained) -> Callable[[], None]:
    """Close ``instance`` at interpreter exit (held weakly); return the hook, for
    ``atexit.unregister`` once it was closed."""
    reference = weakref.ref(instance)

    def hook() -> None:
        _close_at_exit(reference)

    atexit.register(hook)
    return hook


def _close_at_exit(reference: weakref.ReferenceType[Drained]) -> None:
    instance = reference()
    if instance is None or instance._forked:
        return
    try:
        instance.close(instance.exit_timeout)
    except BaseException as error:  # the program has ended: report it, exit with status 1
        _PROCESS.failed_at_exit = True
        logger.critical(
            "%r failed while delivering its last events at interpreter exit (%s); events may "
            "be lost and the process exits with status 1. Call close() (or use `with "
            "Background(...)`) before the program ends to handle failures yourself.",
            instance, one_line(error), exc_info=error,
        )
