"""``torchsystem runs``: list, show, compare and plot recorded runs.

    torchsystem runs list [--name TEXT] [--status STATUS] [--metric 'accuracy/validation>0.9']
    torchsystem runs show RUN|MODEL
    torchsystem runs compare RUN|MODEL ...
    torchsystem runs plot RUN|MODEL ... [--metric loss] [-o curves.png]

Every command takes ``--database URL`` (a SQLAlchemy URL or a SQLite file; default:
``$TORCHSYSTEM_DATABASE``, else ``runs/runs.db`` under the current folder) and ``--json``.
The database is only read (a run whose process died is marked interrupted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from torchsystem.runs.database import ENVIRONMENT, Database
from torchsystem.runs.errors import RunDatabaseError
from torchsystem.runs.schema import STATUSES
from torchsystem.runs.views import (
    MetricFilter,
    compare,
    list_models,
    listing,
    render_compare,
    render_listing,
    render_models,
    render_show,
    resolve_runs,
    show,
)

__all__ = ["main"]

Command = Callable[[Database, argparse.Namespace], tuple[dict[str, Any], str]]


def _list(database: Database, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.models:
        payload = list_models(database, name=args.name)
        return payload, render_models(payload)
    payload = listing(database, name=args.name, status=args.status, metrics=args.metric,
                      limit=None if args.limit == 0 else args.limit)
    return payload, render_listing(payload)


def _show(database: Database, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    payload = show(database, args.key)
    return payload, render_show(payload)


def _compare(database: Database, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    payload = compare(database, args.keys)
    return payload, render_compare(payload)


def _plot(database: Database, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from torchsystem.runs.plot import plot

    runs = resolve_runs(database, args.keys)
    metrics = args.metric or ["loss"]
    written = plot(database, runs, metrics, args.output, phases=args.phase)
    ids = ", ".join(str(run.id) for run in runs)
    payload = {"output": str(written), "runs": [run.id for run in runs], "metrics": metrics}
    return payload, f"wrote {written} ({', '.join(metrics)} of runs {ids})"


def _metric(text: str) -> MetricFilter:
    try:
        return MetricFilter.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser(prog: str) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="URL", default=argparse.SUPPRESS, help=(
        f"SQLAlchemy URL or SQLite file (default: ${ENVIRONMENT}, else runs/runs.db)"))
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON for scripts instead of tables")
    parser = argparse.ArgumentParser(prog=prog, parents=[common], description=(
        "List, show, compare and plot the runs recorded by torchsystem.runs.RunRecorder."))
    commands = parser.add_subparsers(dest="name", metavar="COMMAND", required=True)

    found = commands.add_parser("list", parents=[common], help="runs (or models) as a table")
    found.add_argument("--name", help="models whose name contains this (or hash starts so)")
    found.add_argument("--status", choices=STATUSES, help="runs with this status")
    found.add_argument("--metric", type=_metric, action="append", default=[], help=(
        "NAME[/PHASE][OP VALUE]: runs that recorded it (and whose latest value compares); "
        "its columns are shown; repeat to combine"))
    found.add_argument("--limit", type=int, default=50, help="most runs shown (0: all)")
    found.add_argument("--models", action="store_true", help="list models instead of runs")
    found.set_defaults(command=_list)

    shown = commands.add_parser("show", parents=[common], help="a run or a model in full")
    shown.add_argument("key", metavar="RUN|MODEL", help="run id, or model hash (or prefix)")
    shown.set_defaults(command=_show)

    compared = commands.add_parser("compare", parents=[common], help="runs side by side")
    compared.add_argument("keys", metavar="RUN|MODEL", nargs="+")
    compared.set_defaults(command=_compare)

    plotted = commands.add_parser("plot", parents=[common], help="learning curves to a file")
    plotted.add_argument("keys", metavar="RUN|MODEL", nargs="+")
    plotted.add_argument("--metric", action="append", help="metric to draw (repeat; "
                         "default: loss)")
    plotted.add_argument("--phase", action="append", help="only these phases (repeat)")
    plotted.add_argument("-o", "--output", default="curves.png",
                         help="image file (.png, .svg, .pdf; default: curves.png)")
    plotted.set_defaults(command=_plot)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "torchsystem runs") -> int:
    """Run the command line; the exit status (1: an error explained on stderr, or the
    reader of the output stopped reading)."""
    args = _parser(prog).parse_args(argv)
    command: Command = args.command
    try:
        with Database(getattr(args, "database", None), create=False) as database:
            payload, text = command(database, args)
    except (RunDatabaseError, ValueError, ImportError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    shown = json.dumps(payload, indent=2, allow_nan=False) if getattr(args, "json", False) \
        else text
    try:
        print(shown, flush=True)
    except BrokenPipeError:  # the reader stopped reading (`| head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
