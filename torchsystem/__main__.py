"""The ``torchsystem`` command (also ``python -m torchsystem``): one subcommand per battery.

Each subcommand is a module with ``main(argv, prog) -> int``, imported only when it
runs, so the command starts fast and the core never imports a battery.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

__all__ = ["COMMANDS", "main"]

# name -> (module with main(argv, prog), one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "runs": ("torchsystem.runs.cli", "list, show, compare and plot recorded runs"),
    "serve": ("torchsystem.interfaces.serve", "serve an application over HTTP: serve MODULE:APP"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(["usage: torchsystem COMMAND [ARGS...]", "", "commands:", *lines,
                      "", "torchsystem COMMAND --help tells more."])


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the subcommand ``argv[0]``; the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "--version":
        from torchsystem import __version__

        print(f"torchsystem {__version__}")
        return 0
    found = COMMANDS.get(args[0])
    if found is None:
        print(f"torchsystem: unknown command {args[0]!r}; known: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    try:
        module = import_module(found[0])
    except ImportError as missing:  # an optional dependency of that battery
        print(f"torchsystem {args[0]}: {missing}", file=sys.stderr)
        return 1
    status: int = module.main(args[1:], prog=f"torchsystem {args[0]}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
