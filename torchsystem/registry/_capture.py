"""Wrap a class's ``__init__`` so that each instance records its constructor arguments.

The wrapper calls the original ``__init__`` first, then binds the call to the signature,
fills in defaults and stores the result on the instance under ``__model__arguments__``.
A registered base called through ``super().__init__()`` records first; the most derived
registered class records last, so its arguments win.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from torchsystem._inspect import qualified_name, signature
from torchsystem.registry._inherit import follow_subclasses
from torchsystem.registry._instance import ARGUMENTS, NAME, nest, write
from torchsystem.registry._options import (
    MARKER,
    Capture,
    check_exclusions,
    pick_excluded,
    registered_options,
)

__all__ = ["Capture", "capture", "ensure_class", "init_parameters", "registered_options"]

C = TypeVar("C", bound=type)

def init_parameters(cls: type) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__`` after ``self`` (none for ``object.__init__``)."""
    init = _init_of(cls)
    if init is object.__init__:
        return []
    return list(signature(init).parameters.values())[1:]


def _init_of(cls: type) -> Callable[..., None]:
    init: Callable[..., None] = getattr(cls, "__init__")  # noqa: B009 - mypy: unsound on type
    return init


def capture(
    cls: C,
    name: str | None = None,
    excluded_args: Iterable[int] | None = None,
    excluded_kwargs: Iterable[str] | None = None,
) -> C:
    """Make every instance of ``cls`` record its arguments; return ``cls`` itself.

    Registering a class again re-wraps its original ``__init__`` (never a wrapper twice);
    options left as ``None`` keep the values of the earlier registration.

    Raises:
        TypeError: ``cls`` is not a class, or its ``__init__`` has no readable signature.
        ValueError: an excluded index or name does not match a parameter.
    """
    ensure_class(cls)
    _capture(cls, name, excluded_args, excluded_kwargs)
    follow_subclasses(cls, _capture_subclass)
    return cls


def _capture(
    cls: type,
    name: str | None,
    excluded_args: Iterable[int] | None,
    excluded_kwargs: Iterable[str] | None,
) -> None:
    init, previous = _original_init(cls)
    parameters = init_parameters(cls)
    if previous is None:
        previous = Capture(cls, None, frozenset(), frozenset())
    options = Capture(
        owner=cls,
        name=previous.name if name is None else name,
        excluded_args=pick_excluded(excluded_args, previous.excluded_args, int),
        excluded_kwargs=pick_excluded(excluded_kwargs, previous.excluded_kwargs, str),
    )
    check_exclusions(cls, parameters, options)
    setattr(cls, "__init__", _wrap(init, inspect.Signature(parameters), options))  # noqa: B010
    _allow_torch_load(cls)


def _capture_subclass(subclass: type) -> None:
    """Record the arguments of a subclass that defines ``__init__`` and is not registered
    itself, leaving out the names its registered base leaves out. One whose signature
    cannot be read keeps its base's record."""
    if "__init__" not in subclass.__dict__ or registered_options(subclass) is not None:
        return
    # the hook runs only for descendants of a registered class: the nearest one is found
    options = next(filter(None, map(registered_options, subclass.__mro__[1:])))
    left_out = set(options.excluded_kwargs)
    for index, parameter in enumerate(init_parameters(options.owner)):
        if index in options.excluded_args:
            left_out.add(parameter.name)
    try:
        parameters = init_parameters(subclass)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            left_out &= {p.name for p in parameters}
        _capture(subclass, None, None, left_out)
    except (TypeError, ValueError):
        pass


def ensure_class(candidate: object) -> None:
    """Raise ``TypeError`` unless ``candidate`` is a class."""
    if not isinstance(candidate, type):
        raise TypeError(
            f"register expects a class, got {candidate!r}; decorate a class with @register"
        )


def _original_init(cls: type) -> tuple[Callable[..., None], Capture | None]:
    """The ``__init__`` to wrap and, when ``cls`` is already registered, its options."""
    options = registered_options(cls)
    if options is None:
        return _init_of(cls), None
    original: Callable[..., None] = cls.__dict__["__init__"].__wrapped__
    return original, options


def _wrap(
    init: Callable[..., None], bound_to: inspect.Signature, options: Capture
) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        write(self, ARGUMENTS, _record(bound_to, options, args, kwargs))
        if options.name is not None and type(self) is options.owner:
            write(self, NAME, options.name)

    setattr(__init__, MARKER, options)
    return __init__


def _record(
    bound_to: inspect.Signature, options: Capture, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Bind the call, fill defaults, drop exclusions: ``*args`` as a list under its own
    name, ``**kwargs`` entries merged by name."""
    try:
        bound = bound_to.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"cannot record the arguments of {qualified_name(options.owner)}: {error}"
        ) from error
    bound.apply_defaults()
    recorded: dict[str, Any] = {}
    for index, parameter in enumerate(bound_to.parameters.values()):
        if index in options.excluded_args or parameter.name in options.excluded_kwargs:
            continue
        value = bound.arguments[parameter.name]
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            recorded[parameter.name] = [nest(item) for item in value]
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            extra = {k: nest(v) for k, v in value.items() if k not in options.excluded_kwargs}
            _check_collisions(options, recorded, extra)
            recorded.update(extra)
        else:
            recorded[parameter.name] = nest(value)
    return recorded


def _check_collisions(options: Capture, recorded: dict[str, Any], extra: dict[str, Any]) -> None:
    clash = sorted(set(recorded) & set(extra))
    if clash:
        raise TypeError(
            f"{qualified_name(options.owner)} got keyword arguments {clash} that collide with "
            f"its *args name; rename them or exclude them with excluded_kwargs={set(clash)}"
        )


def _allow_torch_load(cls: type) -> None:
    """Let ``torch.load(weights_only=True)`` rebuild instances of registered modules."""
    torch = sys.modules.get("torch")
    if torch is None or not issubclass(cls, torch.nn.Module):
        return
    if hasattr(torch.serialization, "add_safe_globals"):
        torch.serialization.add_safe_globals([cls])
