"""``Application``: one definition of a training system's commands, run as a command
line (``main``), as an HTTP server (``torchsystem serve MODULE:APP``) or from Python
(``execute``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from torchsystem._container import Container
from torchsystem.depends import Provider, inject
from torchsystem.interfaces.commands import CommandSpec, describe
from torchsystem.interfaces.context import JobContext, running

__all__ = ["Application", "UnknownCommand"]

F = TypeVar("F", bound=Callable[..., Any])


class UnknownCommand(KeyError):
    """No command is registered under a name; the message lists those that are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Application(Container):
    """The commands of a training system, each handled by one injected function.

    ``@app.command`` registers a handler whose first parameter is annotated with the
    command's dataclass; its other parameters are dependencies (``Depends(...)``),
    resolved from the application's provider, so ``app.override(dependency, fake)`` (or
    ``app.dependency_overrides``) replaces any of them, in a test for instance.
    ``database`` is the run database the server reads and jobs record into (a URL or a
    SQLite path; ``None``: ``$TORCHSYSTEM_DATABASE``, else ``runs/runs.db``).

    Raises:
        TypeError: a handler without a dataclass first parameter, or a command field
            that is not a JSON type (at registration).
        ValueError: two handlers for one command name.

    Example:
        >>> from dataclasses import dataclass
        >>> app = Application("toy")
        >>> @dataclass
        ... class Greet:
        ...     '''Say hello.'''
        ...     name: str = "world"
        >>> @app.command
        ... def greet(command: Greet) -> str:
        ...     return f"hello {command.name}"
        >>> app.execute(Greet("digits"))
        'hello digits'
    """

    def __init__(
        self, name: str = "torchsystem", *, description: str = "",
        provider: Provider | None = None, database: str | None = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        super().__init__(provider)
        self.name, self.description, self.database = name, description, database
        self.devices = None if devices is None else tuple(devices)
        self.commands: dict[str, CommandSpec] = {}
        self._by_type: dict[type, CommandSpec] = {}

    def register(self, handler: F, name: str | None = None) -> F:
        """Register ``handler`` for the command class of its first parameter, under
        ``name`` (default: the class name in kebab case); return it injected.

        Raises:
            TypeError: no dataclass first parameter, or a field that is not a JSON type.
            ValueError: the name or the class already has a handler.
        """
        injected: F = inject(self.provider, owner=self)(handler)
        spec = describe(handler, injected, name)
        if spec.name in self.commands or spec.type in self._by_type:
            taken = self.commands.get(spec.name) or self._by_type[spec.type]
            raise ValueError(f"command {spec.name!r} ({spec.type.__name__}) is already handled "
                             f"by {getattr(taken.handler, '__qualname__', taken.handler)}")
        self.commands[spec.name] = self._by_type[spec.type] = spec
        return injected

    @overload
    def command(self, handler: F) -> F: ...

    @overload
    def command(self, *, name: str | None = None) -> Callable[[F], F]: ...

    def command(self, handler: F | None = None, *, name: str | None = None) -> Any:
        """Decorator: ``register`` the handler (``@app.command`` or
        ``@app.command(name="fit")``)."""
        if handler is None:
            return lambda function: self.register(function, name)
        return self.register(handler, name)

    def spec(self, name: str) -> CommandSpec:
        """The command registered under ``name``.

        Raises:
            UnknownCommand: none is (the message lists the known names).
        """
        try:
            return self.commands[name]
        except KeyError:
            known = ", ".join(sorted(self.commands)) or "none registered"
            raise UnknownCommand(f"no command {name!r}; known: {known}") from None

    def spec_of(self, command: Any) -> CommandSpec:
        """The command registered for ``command``'s class.

        Raises:
            UnknownCommand: its class has no handler.
        """
        try:
            return self._by_type[type(command)]
        except KeyError:
            known = ", ".join(spec.type.__name__ for spec in self.commands.values())
            raise UnknownCommand(f"no handler for {type(command).__name__}; commands: "
                                 f"{known or 'none registered'}") from None

    def execute(self, command: Any, job: JobContext | None = None) -> Any:
        """Run ``command``'s handler now, in this thread, within ``job`` (a foreground
        job on the first device when ``None``); its result.

        Raises:
            UnknownCommand: the command's class has no handler.
        """
        spec = self.spec_of(command)
        if job is None:
            job = JobContext(secrets.token_hex(6), spec.name, self.default_device(),
                             database=self.database, foreground=True)
        with running(job):
            return spec.handler(command)

    def default_device(self) -> str:
        """The first of ``devices``; without them, ``cuda`` when available, else ``cpu``."""
        return self.available_devices()[0]

    def available_devices(self) -> tuple[str, ...]:
        """``devices``, or every CUDA device (``cuda:0``...), or ``('cpu',)``."""
        if self.devices:
            return self.devices
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return tuple(f"cuda:{index}" for index in range(count)) or ("cpu",)

    def main(self, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
        """The command line: one subcommand per command, plus ``serve``; the exit status."""
        from torchsystem.interfaces.cli import main

        return main(self, argv, prog)

    def __repr__(self) -> str:
        return f"Application({self.name!r}, commands={sorted(self.commands)})"
