"""What a run record takes from the live model, read on the training thread.

Everything returned is a fresh copy in plain JSON types (dicts, lists, numbers, text),
so the writer thread never touches the model, its optimizer or its loaders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from torchsystem.registry import getarguments, getmetadata, getname

__all__ = [
    "batch_size",
    "hyperparameters",
    "identify",
    "jsonable",
    "learning_rates",
    "optimizers",
]


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


def identify(model: Any) -> tuple[str, str, dict[str, Any]]:
    """``(hash, name, arguments)`` of an aggregate: its ``id`` (the class name when it
    has none), its registered name or class name, and the registry arguments of the
    aggregate, or else of each registered part (``{'nn': {'name', 'arguments'}}``)."""
    try:
        hash = str(model.id)  # noqa: A001 - the registry's word
    except (AttributeError, NotImplementedError):
        hash = type(model).__name__  # noqa: A001
    if _registered(model):
        return hash, getname(model), jsonable(_metadata(model).get("arguments", {}))
    parts = {**vars(model), **getattr(model, "_modules", {})}
    arguments = {name: _metadata(part) for name, part in parts.items()
                 if not name.startswith("_") and _registered(part)}
    return hash, type(model).__name__, jsonable(arguments)


def optimizers(model: Any) -> tuple[str, ...]:
    """The names of the aggregate's attributes that hold an optimizer."""
    return tuple(name for name, value in vars(model).items()
                 if isinstance(value, torch.optim.Optimizer))


def _schedulers(model: Any) -> dict[str, Any]:
    found = {}
    for name, value in vars(model).items():
        if isinstance(value, torch.optim.lr_scheduler.LRScheduler):
            state = {key: item for key, item in value.state_dict().items()
                     if not key.startswith("_") and key not in ("base_lrs", "last_epoch")}
            found[name] = {"class": type(value).__name__, **jsonable(state)}
    return found


def hyperparameters(model: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The registry arguments of the aggregate's parts (``model``), each optimizer's class
    and param-group settings under its attribute name, LR schedulers, and the seed of
    torch's default generator (``torch.initial_seed()``)."""
    found: dict[str, Any] = {"model": identify(model)[2]}
    for name in names:
        optimizer = getattr(model, name)
        groups = [{key: jsonable(item) for key, item in group.items() if key != "params"}
                  for group in optimizer.param_groups]
        found[name] = {"class": type(optimizer).__name__, "param_groups": groups}
    found.update(_schedulers(model))
    found["seed"] = torch.initial_seed()
    return found


def learning_rates(model: Any, names: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """The learning rate of every param group: ``lr`` for one group of one optimizer,
    ``lr.<group>`` for several groups, prefixed ``<attribute>.`` for several optimizers."""
    found = []
    for name in names:
        groups = getattr(model, name).param_groups
        prefix = f"{name}." if len(names) > 1 else ""
        for index, group in enumerate(groups):
            suffix = f".{index}" if len(groups) > 1 else ""
            found.append((f"{prefix}lr{suffix}", float(group["lr"])))
    return tuple(found)


def batch_size(loader: Any) -> int | None:
    """The loader's ``batch_size`` (``DataLoader``, ``TensorLoader``), if it has one."""
    size = getattr(loader, "batch_size", None)
    return size if isinstance(size, int) else None
