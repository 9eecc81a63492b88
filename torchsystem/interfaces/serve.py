"""``torchsystem serve MODULE:APP``: the HTTP server of an application (uvicorn).

    torchsystem serve src.app:app [--host 127.0.0.1] [--port 8000] [--database URL]
                                  [--devices cpu,cuda:0] [--per-device 1] [--in-process]
                                  [--job-nice 10] [--readers N]

It listens on 127.0.0.1 unless told otherwise, and refuses any other address unless a
token is set in ``$TORCHSYSTEM_TOKEN`` (every request must then carry it). Each job runs
in a process of its own (``--in-process``: in a thread of the server), ``--job-nice``
steps nicer than the server, so that queries stay fast while a job trains; at most
``--readers`` reads of the run database run at once (default: 2 for SQLite, 8 for a
database server).
"""

import argparse
import os
import sys
from collections.abc import Sequence

from torchsystem.interfaces.application import Application

__all__ = ["UnsafeAddress", "add_arguments", "check_address", "locate", "main", "serve",
           "serve_from"]

TOKEN = "TORCHSYSTEM_TOKEN"


class UnsafeAddress(ValueError):
    """The server would listen beyond this machine without a token."""


def check_address(host: str, token: str | None) -> None:
    """Refuse to listen on anything but loopback without a token.

    Raises:
        UnsafeAddress: ``host`` is not a loopback address and ``token`` is ``None``.
    """
    from torchsystem.interfaces.http.security import is_loopback

    if token is None and not is_loopback(host):
        raise UnsafeAddress(
            f"refusing to listen on {host} without a token: anyone who reaches it could run "
            f"commands; set ${TOKEN} to a secret (every request must then send "
            "'Authorization: Bearer TOKEN'), or listen on 127.0.0.1"
        )


def locate(application: Application) -> str:
    """``module:attribute`` where ``application`` can be imported from (for the job
    processes).

    Raises:
        LookupError: no imported module other than ``__main__`` holds it.
    """
    for name, module in list(sys.modules.items()):
        if name in ("__main__", "__mp_main__") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if value is application:
                return f"{name}:{attribute}"
    raise LookupError(f"{application!r} is not an attribute of any imported module: define "
                      "it in a module and serve it as MODULE:APP")


def serve(
    application: Application, *, host: str = "127.0.0.1", port: int = 8000,
    reference: str | None = None, in_process: bool = False,
    devices: Sequence[str] | None = None, per_device: int = 1, database: str | None = None,
    log_level: str = "info", app_dir: str | None = None, job_nice: int | None = None,
    readers: int | None = None,
) -> None:
    """Serve ``application`` until interrupted (Ctrl-C stops the jobs, then the server).
    ``job_nice``: how much nicer than the server each job's process runs (0 to 19;
    default ``JOB_NICE``, 10; unused with ``in_process``); ``readers``: how many reads
    of the run database run at once (``create_app``).

    Raises:
        UnsafeAddress: ``host`` is not loopback and no token is set.
        ValueError: ``job_nice`` is out of range, ``readers`` under 1.
    """
    import uvicorn

    from torchsystem.interfaces.executors import JOB_NICE, ProcessExecutor, ThreadExecutor
    from torchsystem.interfaces.http.app import create_app

    token = os.environ.get(TOKEN) or None
    check_address(host, token)
    if in_process:
        executor: ThreadExecutor | ProcessExecutor = ThreadExecutor(application)
    else:
        executor = ProcessExecutor(application, reference or locate(application), app_dir,
                                   nice=JOB_NICE if job_nice is None else job_nice)
    app = create_app(application, executor=executor, devices=devices, per_device=per_device,
                     database=database, token=token, readers=readers)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {application.name} on http://{shown}:{port} (the page of runs at /, the "
          f"API at /docs){'; token required' if token else ''}", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's options (shared by ``torchsystem serve`` and an application's
    ``serve`` subcommand)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; any other needs "
                             f"${TOKEN})")
    parser.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    parser.add_argument("--database", help="run database URL or SQLite path (default: "
                        "$TORCHSYSTEM_DATABASE, else runs/runs.db)")
    parser.add_argument("--devices", type=lambda text: [d for d in text.split(",") if d],
                        help="comma-separated devices jobs run on (default: every GPU, else "
                             "cpu)")
    parser.add_argument("--per-device", type=int, default=1,
                        help="jobs running at once on each device (default: %(default)s)")
    parser.add_argument("--in-process", action="store_true",
                        help="run jobs in threads of the server instead of their own "
                             "processes")
    parser.add_argument("--job-nice", type=_niceness, default=None, metavar="N",
                        help="run each job's process N steps nicer than the server, 0 to 19 "
                             "(default: 10): training yields the CPU to the server's "
                             "requests; 0 keeps the server's priority")
    parser.add_argument("--readers", type=_readers, default=None, metavar="N",
                        help="reads of the run database at once (default: 2 for SQLite, 8 "
                             "for a database server); the others wait their turn")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])


def _niceness(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise argparse.ArgumentTypeError(f"{text!r} is not a niceness from 0 to 19")
    return value


def _readers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of readers (1 or more)")
    return value


def serve_from(args: argparse.Namespace, application: Application,
               reference: str | None = None, app_dir: str | None = None) -> int:
    """Serve with the options ``add_arguments`` parsed; the exit status."""
    try:
        serve(application, host=args.host, port=args.port, reference=reference,
              in_process=args.in_process, devices=args.devices, per_device=args.per_device,
              database=args.database, log_level=args.log_level, app_dir=app_dir,
              job_nice=args.job_nice, readers=args.readers)
    except (UnsafeAddress, LookupError) as error:
        print(f"serve: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "torchsystem serve") -> int:
    """``torchsystem serve MODULE:APP [options]``; the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("app", metavar="MODULE:APP",
                        help="the Application to serve, e.g. src.app:app")
    parser.add_argument("--app-dir", default=".", help="folder to import MODULE from "
                        "(default: the current folder)")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2), already printed
        return done.code if isinstance(done.code, int) else 2
    path = os.path.abspath(args.app_dir)
    sys.path.insert(0, path)
    from torchsystem.interfaces.worker import load

    try:
        application = load(args.app)
    except (ValueError, ImportError, TypeError) as error:
        print(f"{prog}: cannot load {args.app}: {error}", file=sys.stderr)
        return 1
    return serve_from(args, application, reference=args.app, app_dir=path)
