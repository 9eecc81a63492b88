"""Commands: small typed requests to the application, each handled by one function.

A command is a dataclass whose fields have JSON types (``str``, ``int``, ``float``,
``bool``, ``None``, ``Literal`` of those, ``list`` and ``dict[str, ...]`` of JSON types,
``X | None``; ``Annotated`` metadata is kept for the HTTP validation). Its handler takes
it as its first parameter, annotated with the class. ``CommandSpec`` is what the
application learns about a command once, at registration: its name (the class name in
kebab case: ``TrainModel`` is ``train-model``), summary, fields with their defaults and
help (from the docstring's ``Attributes:`` section), and the injected handler.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = ["MISSING", "CommandSpec", "Field", "command_name", "describe"]

MISSING: Any = dataclasses.MISSING
_SCALARS = (str, int, float, bool, type(None))
_UNIONS = (Union, types.UnionType)


@dataclass(frozen=True)
class Field:
    """One field of a command: ``annotation`` (``Annotated`` unwrapped into ``metadata``),
    ``default`` (``MISSING`` when required), ``help`` from the docstring.

    Example:
        >>> Field("epochs", int, MISSING, "most epochs to train").required
        True
    """

    name: str
    annotation: Any
    default: Any
    help: str
    metadata: tuple[Any, ...] = ()
    hint: Any = None  # the annotation as written, Annotated included

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True)
class CommandSpec:
    """A registered command: ``type`` is handled by ``handler`` under ``name``.

    Example:
        >>> @dataclass
        ... class TrainModel:
        ...     '''Train.
        ...
        ...     Attributes:
        ...         epochs: most epochs to train
        ...     '''
        ...     epochs: int = 3
        >>> def train(command: TrainModel) -> None: ...
        >>> spec = describe(train, train)
        >>> spec.name, spec.summary, spec.fields[0].help
        ('train-model', 'Train.', 'most epochs to train')
        >>> spec.build({"epochs": 5})
        TrainModel(epochs=5)
    """

    name: str
    type: type
    handler: Callable[..., Any]
    summary: str
    description: str
    fields: tuple[Field, ...]

    def build(self, arguments: Mapping[str, Any]) -> Any:
        """The command object made of ``arguments`` (a field name -> value mapping).

        Raises:
            TypeError: an argument names no field of the command (the message lists them).
        """
        known = {field.name for field in self.fields}
        unknown = sorted(set(arguments) - known)
        if unknown:
            raise TypeError(f"command {self.name!r} has no field {', '.join(unknown)}; "
                            f"its fields: {', '.join(sorted(known)) or 'none'}")
        return self.type(**arguments)

    def arguments(self, command: Any) -> dict[str, Any]:
        """The command object's fields as a JSON-able mapping."""
        return {field.name: getattr(command, field.name) for field in self.fields}


def command_name(cls: type) -> str:
    """``TrainModel`` -> ``train-model``: the default name of a command."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", cls.__name__).lower()


def describe(handler: Callable[..., Any], injected: Callable[..., Any],
             name: str | None = None) -> CommandSpec:
    """Read ``handler``'s command class from its first parameter and check the class.

    Raises:
        TypeError: no first parameter annotated with a dataclass, or a field whose type
            is not a JSON type (the message names the field and the type).
    """
    cls = _command_class(handler)
    hints = get_type_hints(cls, include_extras=True)
    summary, description, helps = _docstring(cls)
    fields = []
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        annotation, metadata = _unwrap(hints[item.name])
        problem = _json_problem(annotation)
        if problem is not None:
            raise TypeError(f"field {item.name!r} of command {cls.__name__} has type "
                            f"{_shown(annotation)}: {problem}; a command's fields are JSON "
                            "types (str, int, float, bool, None, Literal, list, dict[str, ...])")
        default, factory = item.default, item.default_factory
        if callable(factory):
            default = factory()
        fields.append(Field(item.name, annotation, default, helps.get(item.name, ""), metadata,
                            hints[item.name]))
    return CommandSpec(name or command_name(cls), cls, injected, summary, description,
                       tuple(fields))


def _command_class(handler: Callable[..., Any]) -> type:
    parameters = list(inspect.signature(handler).parameters.values())
    try:
        hints = get_type_hints(handler)
    except NameError as error:
        raise TypeError(f"cannot resolve the annotations of {_qualname(handler)}: {error}") \
            from None
    cls = hints.get(parameters[0].name) if parameters else None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(
            f"{_qualname(handler)} cannot handle a command: its first parameter must be "
            "annotated with the command's dataclass, as in "
            f"'def {getattr(handler, '__name__', 'handler')}(command: Train, ...)'"
        )
    return cls


def _qualname(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", repr(function))


def _unwrap(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, tuple(metadata)
    return annotation, ()


def _json_problem(annotation: Any) -> str | None:
    """Why ``annotation`` is not a JSON type, or ``None`` when it is."""
    annotation, _ = _unwrap(annotation)
    if annotation in _SCALARS or annotation is None:
        return None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        bad = [arg for arg in args if not isinstance(arg, _SCALARS)]
        return None if not bad else f"Literal values {bad!r} are not JSON scalars"
    if origin in _UNIONS:
        return next((p for p in map(_json_problem, args) if p is not None), None)
    if origin is list and len(args) == 1:
        return _json_problem(args[0])
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            return "JSON object keys are strings"
        return _json_problem(args[1])
    return f"{_shown(annotation)} is not a JSON type"


def _shown(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


_SECTION = re.compile(r"^\s*(Attributes|Fields|Args|Arguments|Parameters):\s*$")
_ENTRY = re.compile(r"^\s+(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring(cls: type) -> tuple[str, str, dict[str, str]]:
    """Summary line, description (the text before any section) and per-field help."""
    text = inspect.getdoc(cls) or ""
    if text.startswith(f"{cls.__name__}("):  # the signature dataclasses write
        text = ""
    lines = text.splitlines()
    body: list[str] = []
    helps: dict[str, str] = {}
    current: str | None = None
    in_section = False
    for line in lines:
        if _SECTION.match(line):
            in_section = True
            continue
        if not in_section:
            body.append(line)
            continue
        entry = _ENTRY.match(line)
        if entry is not None:
            current = entry.group(1)
            helps[current] = entry.group(2).strip()
        elif line.strip() and current is not None and line.startswith((" ", "\t")):
            helps[current] = f"{helps[current]} {line.strip()}".strip()
        elif line.strip():
            in_section = False
            body.append(line)
    description = "\n".join(body).strip()
    return description.split("\n\n")[0].replace("\n", " "), description, helps


# typing helpers for the command line (kept here: one place reads field types)
def scalar(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)``: the annotation without ``None`` in a union."""
    if get_origin(annotation) in _UNIONS:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007
    return annotation, False
