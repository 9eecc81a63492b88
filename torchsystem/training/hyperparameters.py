"""What a run is trained with, read from the live aggregate on the training thread.

``Training.fit`` puts ``hyperparameters(...)`` into its ``Started`` event and
``learning_rates(model)`` into every ``Trained`` event, so consumers on other threads
(``Background``) and in other processes never read the model, its optimizers or its
loaders. Everything returned is a fresh copy in plain JSON types (dicts, lists, numbers,
text).

Example:
    >>> import torch
    >>> from torchsystem import Aggregate
    >>> class Model(Aggregate):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.nn = torch.nn.Linear(2, 1)
    ...         self.optimizer = torch.optim.SGD(self.nn.parameters(), lr=0.1)
    >>> learning_rates(Model())
    (Metric(name='lr', value=0.1),)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from torchsystem.registry import getarguments, getmetadata, getname
from torchsystem.training.events import Metric

__all__ = ["arguments", "hyperparameters", "jsonable", "learning_rates", "optimizers"]


def jsonable(value: Any) -> Any:
    """A plain-JSON copy of ``value``: tuples become lists, scalar tensors numbers,
    non-finite floats text, anything else its ``repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return jsonable(value.item())
    return repr(value)


def _attributes(model: Any) -> dict[str, Any]:
    """The model's attributes and submodules, each table copied in one step."""
    found = dict(getattr(model, "__dict__", {}))
    found.update(dict(getattr(model, "_modules", None) or {}))
    return {name: value for name, value in found.items() if not name.startswith("_")}


def _registered(value: Any) -> bool:
    try:
        getarguments(value)
    except AttributeError:
        return False
    return True


def _metadata(value: Any) -> dict[str, Any]:
    try:
        found = getmetadata(value)
    except TypeError:  # an argument that cannot be serialised: keep the name
        return {"name": getname(value)}
    return {key: item for key, item in found.items() if key != "hash"}


def arguments(model: Any) -> dict[str, Any]:
    """The registry arguments of the aggregate when it is registered, else of each
    registered part: ``{'nn': {'name': 'MLP', 'arguments': {...}}}``."""
    if _registered(model):
        return dict(jsonable(_metadata(model).get("arguments", {})))
    return {name: jsonable(_metadata(part)) for name, part in _attributes(model).items()
            if _registered(part)}


def optimizers(model: Any) -> dict[str, torch.optim.Optimizer]:
    """The aggregate's optimizers, by attribute name (private ones included)."""
    return {name: value for name, value in list(getattr(model, "__dict__", {}).items())
            if isinstance(value, torch.optim.Optimizer)}


def _schedulers(model: Any) -> dict[str, Any]:
    found = {}
    for name, value in list(getattr(model, "__dict__", {}).items()):
        if isinstance(value, torch.optim.lr_scheduler.LRScheduler):
            state = {key: item for key, item in value.state_dict().items()
                     if not key.startswith("_") and key not in ("base_lrs", "last_epoch")}
            found[name] = {"class": type(value).__name__, **jsonable(state)}
    return found


def hyperparameters(
    model: Any, loaders: Iterable[tuple[str, Any]] = (), epochs: int | None = None,
) -> dict[str, Any]:
    """What the run is trained with: ``model`` (the registry ``arguments``), each
    optimizer's ``class`` and every param group's settings (``lr``, ``momentum``,
    ``betas``, ``weight_decay``...) under its attribute name, each LR scheduler's class
    and settings, ``seed`` (``torch.initial_seed()``), ``epochs`` when given, and
    ``batch_size`` per phase of ``loaders`` (``(phase, loader)`` pairs) whose loader has
    an integer ``batch_size``."""
    found: dict[str, Any] = {"model": arguments(model)}
    for name, optimizer in optimizers(model).items():
        groups = [{key: jsonable(item) for key, item in group.items() if key != "params"}
                  for group in optimizer.param_groups]
        found[name] = {"class": type(optimizer).__name__, "param_groups": groups}
    found.update(_schedulers(model))
    found["seed"] = torch.initial_seed()
    if epochs is not None:
        found["epochs"] = epochs
    sizes = {phase: size for phase, loader in loaders
             if isinstance(size := getattr(loader, "batch_size", None), int)}
    if sizes:
        found["batch_size"] = sizes
    return found


def learning_rates(model: Any) -> tuple[Metric, ...]:
    """The learning rate of every param group of the aggregate's optimizers: ``lr`` for
    one group of one optimizer, ``lr.<group>`` for several groups, each prefixed
    ``<attribute>.`` when there are several optimizers."""
    found = optimizers(model)
    rates = []
    for name, optimizer in found.items():
        groups = optimizer.param_groups
        prefix = f"{name}." if len(found) > 1 else ""
        for index, group in enumerate(groups):
            suffix = f".{index}" if len(groups) > 1 else ""
            rates.append(Metric(f"{prefix}lr{suffix}", float(group["lr"])))
    return tuple(rates)
