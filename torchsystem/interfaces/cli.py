"""The command line of an application: one subcommand per command, plus ``serve``.

Typer's idea with the standard library: each field of a command becomes an option
(``batch_size: int = 32`` is ``--batch-size INT``, default shown; a ``bool`` is
``--flag/--no-flag``; a ``Literal`` lists its choices; a ``list`` takes several values;
a field without a default is a positional argument), the command's docstring becomes its
help and each field's line of the docstring's ``Attributes:`` section the option's. The
handler runs in the foreground; its result is printed as a table, or as JSON with
``--json``. Ctrl-C (or SIGTERM) stops it as ``DELETE /jobs/{id}`` stops a job: after the
current step, with the newest checkpoint written; a second one stops it at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Literal, get_args, get_origin

from torchsystem.interfaces.application import Application
from torchsystem.interfaces.commands import CommandSpec, Field, scalar
from torchsystem.interfaces.context import JobContext

__all__ = ["main", "parser", "render"]


def _option(field: Field) -> tuple[list[str], dict[str, Any]]:
    """The argparse names and keywords of ``field``."""
    annotation, _ = scalar(field.annotation)
    origin = get_origin(annotation)
    options: dict[str, Any] = {"dest": field.name, "help": field.help or None}
    if origin is Literal:
        choices = get_args(annotation)
        options.update(choices=choices, type=type(choices[0]), metavar="{" + ",".join(
            map(str, choices)) + "}")
    elif annotation is bool:
        options["action"] = argparse.BooleanOptionalAction
    elif origin is list:
        item, _ = scalar(get_args(annotation)[0])
        options.update(nargs="*", type=item if item in (int, float, str) else json.loads)
    elif annotation in (int, float, str):
        options.update(type=annotation, metavar=annotation.__name__.upper())
    else:  # dict, or a union of several types: the value is JSON text
        options.update(type=json.loads, metavar="JSON")
    if field.required:  # a positional argument, shown by its name
        options.pop("dest")
        options.pop("metavar", None)
        return [field.name], options
    options["default"] = field.default
    if options["help"] is None:
        options["help"] = " "
    options["help"] += " (default: %(default)s)"
    return [f"--{field.name.replace('_', '-')}"], options


def parser(application: Application, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``application``'s command line."""
    made = argparse.ArgumentParser(prog=prog, description=application.description or None)
    made.add_argument("--json", action="store_true", help="print the result as JSON")
    commands = made.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for spec in application.commands.values():
        sub = commands.add_parser(spec.name, help=spec.summary, description=spec.description)
        for field in spec.fields:
            names, options = _option(field)
            sub.add_argument(*names, **options)
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print the result as JSON")
        sub.set_defaults(spec=spec)
    from torchsystem.interfaces.serve import add_arguments

    serve = commands.add_parser("serve", help="start the HTTP server: the commands as jobs, "
                                "the run database's queries, the page of runs")
    add_arguments(serve)
    serve.set_defaults(spec=None)
    return made


def render(result: Any) -> str:
    """``result`` for a person: a mapping as a two-column table, a list of mappings as a
    table, anything else as text."""
    from torchsystem.runs.table import table

    if result is None:
        return ""
    if isinstance(result, Mapping):  # no header line
        rows = [[key, _text(value)] for key, value in result.items()]
        return "\n".join(table(["", ""], rows).splitlines()[1:])
    if isinstance(result, list) and result and all(isinstance(r, Mapping) for r in result):
        headers = list(dict.fromkeys(key for row in result for key in row))
        return table(headers, [[_text(row.get(key)) for key in headers] for row in result])
    return str(result)


def _text(value: Any) -> Any:
    if isinstance(value, (Mapping, list)):
        return json.dumps(value)
    return value


def _run(application: Application, spec: CommandSpec, args: argparse.Namespace,
         stop: threading.Event) -> Any:
    arguments = {field.name: getattr(args, field.name) for field in spec.fields}
    job = JobContext(secrets.token_hex(6), spec.name, application.default_device(),
                     database=application.database, foreground=True, stop=stop)
    return application.execute(spec.build(arguments), job)


class _Signals:
    """While in the main thread, SIGINT and SIGTERM set ``stop`` (the foreground job's
    stop signal: training stops after the current step); a second one raises
    ``KeyboardInterrupt`` at once. ``received`` is the number of the first one."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.received: int | None = None

    def __call__(self, number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if self.received is not None:
            raise KeyboardInterrupt(f"{name} again: stopped at once")
        self.received = number
        self.stop.set()
        os.write(2, f"\n{name}: stopping after the current step (again to exit at once)\n"
                 .encode())

    @contextmanager
    def installed(self) -> Iterator[_Signals]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.signal(number, self)
                    for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def main(application: Application, argv: Sequence[str] | None = None,
         prog: str | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command; the exit status (the
    handler's exceptions propagate; Ctrl-C stops training after the current step, a
    second Ctrl-C at once, and exits with 130, SIGTERM with 143)."""
    args = parser(application, prog).parse_args(argv)
    if args.spec is None:
        from torchsystem.interfaces.serve import serve_from

        return serve_from(args, application)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signals = _Signals()
    try:
        with signals.installed():
            result = _run(application, args.spec, args, signals.stop)
    except KeyboardInterrupt as interrupt:  # JobStopped too: Ctrl-C or SIGTERM
        print(f"{args.command}: {interrupt or 'interrupted'}", file=sys.stderr)
        return 128 + (signals.received or signal.SIGINT)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif result is not None:
        print(render(result))
    return 0
