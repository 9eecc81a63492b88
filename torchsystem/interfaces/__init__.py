"""Interfaces: one application definition run as a command line, an HTTP API that
starts, watches and stops training, and a page of runs in the browser.

``Application`` holds the commands (``@app.command``); ``app.main()`` is its command
line; ``torchsystem serve MODULE:APP`` (or ``create_app`` in
``torchsystem.interfaces.http``) its HTTP server. A handler learns its job through
``Depends(current_job)`` and records runs linked to it through ``Depends(run_recorder)``.

Optional battery: the core never imports it. The command line needs nothing more than
the run records' SQLAlchemy (its table printer); the server needs the ``http`` extra.
"""

from torchsystem.interfaces.application import Application, UnknownCommand
from torchsystem.interfaces.context import JobContext, current_job
from torchsystem.interfaces.recording import run_recorder
from torchsystem.interfaces.stopping import JobStopped

__all__ = [
    "Application",
    "JobContext",
    "JobStopped",
    "UnknownCommand",
    "current_job",
    "run_recorder",
]
