"""Put a checkpoint's state back: checked whole first, then applied without side effects.

Nothing is changed until the whole checkpoint was checked against the aggregate (state
keys and shapes, the stateful attributes, each optimizer's parameter groups). The epoch
is set without calling ``onepoch()`` and no event is dispatched, so restoring epoch 7
steps no scheduler. A state an attribute refuses while it is applied rolls back what
was applied before it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchsystem.domain.aggregate import Aggregate
from torchsystem.storage.errors import CheckpointError
from torchsystem.storage.snapshot import loader_generators, stateful_attributes

__all__ = [
    "Resumed",
    "apply",
    "load_modules",
    "restore_generators",
    "restore_loaders",
    "set_epoch",
]

logger = logging.getLogger("torchsystem.storage")


@dataclass(frozen=True)
class Resumed:
    """A checkpoint that was restored: whose, which epoch, from where, and the metrics
    and early stop (``stopped``, the reason) it recorded. ``skipped`` holds the newer
    files that were refused (torn, foreign, not checkpoints).

    Example:
        >>> resumed = Resumed("3f2a", 7, Path("runs/checkpoints/3f2a/epoch-00000007.pt"))
        >>> resumed.epoch, resumed.stopped is None
        (7, True)
    """

    model_id: str
    epoch: int
    path: Path
    step: int | None = None
    stopped: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    skipped: tuple[CheckpointError, ...] = ()


def _check_modules(path: Path, model: Any, saved: Mapping[str, Any]) -> None:
    if not isinstance(model, nn.Module):
        return
    expected = model.state_dict()
    missing = [key for key in expected if key not in saved]
    unexpected = [key for key in saved if key not in expected]
    shapes = [
        f"{key} {tuple(saved[key].shape)} != {tuple(value.shape)}"
        for key, value in expected.items()
        if key in saved and isinstance(value, torch.Tensor)
        and isinstance(saved[key], torch.Tensor) and saved[key].shape != value.shape
    ]
    if missing or unexpected or shapes:
        parts = [f"{label} {items[:5]}" for label, items in
                 (("missing", missing), ("unexpected", unexpected), ("shapes", shapes)) if items]
        raise CheckpointError(
            path, f"does not fit {type(model).__name__} ({'; '.join(parts)}); it was written "
            "for a model built differently: nothing was restored",
        )


def _check_objects(path: Path, model: Any, saved: Mapping[str, Any]) -> dict[str, Any]:
    owned = stateful_attributes(model)
    missing, unexpected = sorted(set(owned) - set(saved)), sorted(set(saved) - set(owned))
    if missing or unexpected:
        raise CheckpointError(
            path, f"does not fit {type(model).__name__}: its stateful attributes are "
            f"{sorted(owned)}, the checkpoint holds {sorted(saved)}; nothing was restored",
        )
    for name, value in owned.items():
        if isinstance(value, torch.optim.Optimizer):
            _check_optimizer(path, name, value, saved[name])
    return owned


def _check_optimizer(path: Path, name: str, optimizer: Any, state: Any) -> None:
    groups = state.get("param_groups") if isinstance(state, Mapping) else None
    if not isinstance(groups, list):
        raise CheckpointError(path, f"holds no optimizer state for {name!r}")
    have = [len(group["params"]) for group in optimizer.param_groups]
    saved = [len(group.get("params", ())) for group in groups]
    if have != saved:
        raise CheckpointError(
            path, f"does not fit optimizer {name!r}: its parameter groups hold {have} "
            f"parameters, the checkpoint's {saved}; nothing was restored",
        )


def load_modules(model: nn.Module, state: Mapping[str, Any]) -> None:
    """``model.load_state_dict(state)``, except that a loaded tensor that already has the
    device, type, shape and layout of the parameter or buffer it restores becomes its
    data instead of being copied into it (the parameter object stays the same, so an
    optimizer holding it is unaffected). Modules with their own loading logic
    (``_load_from_state_dict`` overridden, load hooks) get ``load_state_dict``.
    ``state`` must have been checked against ``model`` (keys and shapes)."""
    copied: dict[str, Any] = {}
    with torch.no_grad():
        for prefix, module in model.named_modules():
            plain = _plain(module)
            for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
                key = f"{prefix}.{name}" if prefix else name
                if tensor is None or key not in state:
                    continue
                saved = state[key]
                if plain and _adoptable(tensor, saved):
                    tensor.data = saved
                else:
                    copied[key] = saved
    if copied:
        model.load_state_dict(copied, strict=False)


def _plain(module: nn.Module) -> bool:
    return (
        type(module)._load_from_state_dict is nn.Module._load_from_state_dict
        and not module._load_state_dict_pre_hooks
        and not module._load_state_dict_post_hooks
    )


def _adoptable(tensor: torch.Tensor, saved: Any) -> bool:
    return (
        type(saved) is torch.Tensor and type(tensor) in (torch.Tensor, nn.Parameter)
        and saved.device == tensor.device and saved.dtype == tensor.dtype
        and saved.shape == tensor.shape and saved.stride() == tensor.stride()
        and saved.layout == torch.strided and tensor.layout == torch.strided
    )


def set_epoch(model: Any, epoch: int) -> None:
    """Set ``model.epoch`` without side effects: an ``Aggregate`` calls no ``onepoch()``."""
    if isinstance(model, Aggregate):
        model.__dict__["_aggregate_epoch"] = epoch
    else:
        model.epoch = epoch


def _load_all(path: Path, targets: list[tuple[str, str, Any, Any]]) -> None:
    """``load_state_dict`` into each ``(what, name, target, state)``; on a failure, put
    back what was loaded before it."""
    backups: list[tuple[Any, Any]] = []
    for what, name, target, state in targets:
        try:
            backup = target.state_dict()
            target.load_state_dict(state)
            backups.append((target, backup))
        except Exception as error:
            for loaded, previous in reversed(backups):
                loaded.load_state_dict(previous)
            raise CheckpointError(
                path, f"could not be restored into {what} {name!r} ({error}); nothing was "
                "restored",
            ) from error


def apply(
    path: Path, model: Any, payload: Mapping[str, Any], stateful: Mapping[str, Any],
) -> None:
    """Check ``payload`` against ``model`` and ``stateful`` objects, then restore them,
    the epoch and the random generators.

    Raises:
        CheckpointError: the checkpoint does not fit; nothing was changed.
    """
    _check_modules(path, model, payload["model"])
    owned = _check_objects(path, model, payload["objects"])
    saved = payload["stateful"]
    chosen = {name: value for name, value in stateful.items() if name in saved}
    for name in sorted(set(stateful) - set(saved)):
        logger.warning("%s holds no state for %r; it starts afresh", path, name)
    objects = payload["objects"]
    _load_all(path, [
        *(("attribute", name, value, objects[name]) for name, value in owned.items()),
        *(("stateful object", name, value, saved[name]) for name, value in chosen.items()),
    ])
    if isinstance(model, nn.Module):
        load_modules(model, payload["model"])
    set_epoch(model, int(payload["epoch"]))
    restore_generators(payload["rng"])


def restore_generators(states: Mapping[str, Any]) -> None:
    """Set Python's, NumPy's, torch's and (when present) CUDA's random generators."""
    python = states.get("python")
    if isinstance(python, Mapping):  # its words as one tensor
        random.setstate((python["version"], tuple(python["words"].tolist()), python["gauss"]))
    elif python is not None:  # the tuple random.getstate() gives (older checkpoints)
        random.setstate(_tuples(python))
    torch.set_rng_state(states["torch"])
    numpy_state = states.get("numpy")
    if numpy_state is not None:
        _restore_numpy(numpy_state)
    cuda = states.get("cuda")
    if cuda is not None:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
            torch.cuda.set_rng_state_all(cuda)
        else:
            logger.info("the checkpoint's CUDA generator states are not restored: this "
                        "process has %d CUDA devices, it was written with %d",
                        torch.cuda.device_count() if torch.cuda.is_available() else 0, len(cuda))


def _tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(item) for item in value)
    return value


def _restore_numpy(state: Mapping[str, Any]) -> None:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is optional
        return
    keys = state["keys"].numpy().astype(numpy.uint32)
    numpy.random.set_state(
        (state["kind"], keys, state["position"], state["has_gauss"], state["cached"])
    )


def restore_loaders(path: Path, loaders: Mapping[str, Any], states: Mapping[str, Any]) -> None:
    """Put each loader's saved state back (by phase), once every one was checked; a
    phase the checkpoint has no state for is left as it is.

    Raises:
        CheckpointError: a saved state does not fit the loader of its phase (no loader
            was changed).
    """
    actions = []
    for phase, loader in loaders.items():
        saved = states.get(phase)
        if saved is None:
            continue
        if saved["kind"] == "state_dict" and callable(getattr(loader, "load_state_dict", None)):
            actions.append((loader.load_state_dict, saved["state"]))
            continue
        generators = loader_generators(loader)
        if saved["kind"] == "generators" and len(generators) == len(saved["states"]):
            actions.extend(
                (generator.set_state, state)
                for generator, state in zip(generators, saved["states"], strict=True)
            )
            continue
        raise CheckpointError(
            path, f"holds a {saved['kind']!r} state for the {phase!r} loader, which "
            f"{type(loader).__name__} cannot take; give that phase the kind of loader the "
            "checkpoint was written with",
        )
    for load, state in actions:
        load(state)
