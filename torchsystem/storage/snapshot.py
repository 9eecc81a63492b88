"""``capture``: a consistent copy of everything a resume needs, taken on the training thread.

The copy is what the aggregate, its loaders, the random generators and the stateful
consumers hold at the moment of the call: every tensor is copied into host memory that
only the snapshot owns (reused from one snapshot to the next), so training may go on at
once while another thread serialises it. Copies from a GPU are queued on the current
stream into pinned memory; ``Snapshot.wait`` waits for them.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from torchsystem.registry import getarguments, getmetadata
from torchsystem.storage.store import FORMAT, VERSION

__all__ = ["Snapshot", "Staging", "capture", "metadata", "stateful_attributes"]

_PLAIN = (int, float, bool, str, bytes, type(None), torch.dtype, torch.device, torch.Size)


@dataclass
class Snapshot:
    """One checkpoint's payload, owned by the snapshot; ``buffers`` go back to the staging
    pool once it is written. ``wanted`` marks one that must be written even when a newer
    one arrives before it (a new best, an early stop).

    Example:
        >>> snapshot = capture(torch.nn.Linear(2, 1), model_id="linear", epoch=3)
        >>> snapshot.epoch, sorted(snapshot.payload["model"])
        (3, ['bias', 'weight'])
    """

    model_id: str
    epoch: int
    payload: dict[str, Any]
    buffers: list[Tensor] = field(default_factory=list)
    ready: Any = None  # a CUDA event when copies from a GPU are in flight
    wanted: bool = False

    def wait(self) -> None:
        """Block until every copy from a device has landed in host memory."""
        if self.ready is not None:
            self.ready.synchronize()


class Staging:
    """Host buffers reused across snapshots, so a capture is a copy, not an allocation.

    ``take`` hands out a free buffer of the shape and type asked for, or a new one;
    ``give`` returns buffers once the snapshot holding them was written. Thread-safe.

    Example:
        >>> staging = Staging()
        >>> first = staging.take(torch.zeros(4), pinned=False)
        >>> staging.give([first])
        >>> staging.take(torch.ones(4), pinned=False) is first
        True
    """

    def __init__(self) -> None:
        self._free: dict[tuple[torch.Size, torch.dtype, bool], list[Tensor]] = {}
        self._lock = threading.Lock()

    def take(self, like: Tensor, pinned: bool) -> Tensor:
        """A host buffer shaped like ``like`` (pinned for copies from a GPU)."""
        key = (like.shape, like.dtype, pinned)
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
        return torch.empty(like.shape, dtype=like.dtype, pin_memory=pinned)

    def give(self, buffers: list[Tensor]) -> None:
        """Return ``buffers`` for the next snapshot."""
        with self._lock:
            for buffer in buffers:
                key = (buffer.shape, buffer.dtype, buffer.is_pinned())
                self._free.setdefault(key, []).append(buffer)

    def clear(self) -> None:
        """Drop every free buffer."""
        with self._lock:
            self._free.clear()


class _Copier:
    """Copies a state structure, each tensor into a staging buffer (shared tensors once)."""

    def __init__(self, staging: Staging | None) -> None:
        self.staging = staging
        self.buffers: list[Tensor] = []
        self.seen: dict[Any, Tensor] = {}
        self.device = False

    def copy(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            return self._tensor(value)
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, OrderedDict):
            copied: OrderedDict[Any, Any] = OrderedDict(
                (key, self.copy(item)) for key, item in value.items()
            )
            extra = getattr(value, "_metadata", None)  # module versions, as state_dict keeps
            if extra is not None:
                copied._metadata = OrderedDict(  # type: ignore[attr-defined]
                    (key, dict(item)) for key, item in extra.items()
                )
            return copied
        if isinstance(value, dict):
            return {key: self.copy(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            if all(isinstance(item, _PLAIN) for item in value):  # a fast path for long ones
                return list(value) if isinstance(value, list) else value
            items = [self.copy(item) for item in value]
            if isinstance(value, list) or type(value) is tuple:
                return items if isinstance(value, list) else tuple(items)
            return type(value)(*items)  # a named tuple
        return copy.deepcopy(value)

    def _tensor(self, tensor: Tensor) -> Tensor:
        key = _identity(tensor)
        known = self.seen.get(key)
        if known is not None:
            return known
        source = tensor.detach()
        if source.layout != torch.strided or source.is_quantized or self.staging is None:
            copied = source.to("cpu", copy=True)
        else:
            on_device = source.device.type != "cpu"
            copied = self.staging.take(source, pinned=on_device and source.is_cuda)
            copied.copy_(source, non_blocking=on_device)
            self.device = self.device or on_device
            self.buffers.append(copied)
        self.seen[key] = copied
        return copied


def _identity(tensor: Tensor) -> Any:
    """The same bytes seen through the same view: tied weights are copied once."""
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type == "meta":
        return id(tensor)
    return (
        tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
        tensor.stride(), tensor.dtype, tensor.device,
    )


def stateful_attributes(model: Any) -> dict[str, Any]:
    """The attributes of ``model`` that carry state through ``state_dict`` and
    ``load_state_dict``: optimizers, LR schedulers, gradient scalers, helpers. Modules
    registered on an ``nn.Module`` are left out (its own ``state_dict`` holds them)."""
    module = isinstance(model, nn.Module)
    found = {}
    for name, value in vars(model).items():
        if module and isinstance(value, nn.Module):
            continue
        if callable(getattr(value, "state_dict", None)) and callable(
            getattr(value, "load_state_dict", None)
        ):
            found[name] = value
    return found


def metadata(model: Any) -> dict[str, Any]:
    """The registry metadata of ``model`` when it is registered, else of each registered
    attribute (``{'nn': {'name', 'arguments', 'hash'}}``); ``{}`` when none is."""
    own = _registered(model)
    if own is not None:
        return own
    parts = {**vars(model), **getattr(model, "_modules", {})}
    found = {}
    for name, part in parts.items():
        described = _registered(part)
        if described is not None:
            found[name] = described
    return found


def _registered(value: Any) -> dict[str, Any] | None:
    try:
        getarguments(value)  # only registered objects have arguments
        return dict(getmetadata(value))
    except (AttributeError, TypeError):
        return None


def _generator_states() -> dict[str, Any]:
    """Copies of the states of Python's, NumPy's, torch's and CUDA's generators."""
    states: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is optional
        pass
    else:
        kind, keys, position, has_gauss, cached = numpy.random.get_state(legacy=True)
        states["numpy"] = {
            "kind": str(kind), "keys": torch.from_numpy(numpy.asarray(keys, dtype="int64")),
            "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached),
        }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def pack_generators(payload: dict[str, Any]) -> None:
    """Turn the Python generator's state in ``payload`` into one tensor (its 625 words
    would otherwise be pickled one by one); done by the writer, off the training thread."""
    python = payload["rng"].get("python")
    if isinstance(python, tuple):
        version, words, gauss = python
        payload["rng"]["python"] = {
            "version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss": gauss,
        }


def _loader_state(loader: Any) -> dict[str, Any] | None:
    """A loader's own ``state_dict`` (``TensorLoader``), else the states of the random
    generators a ``DataLoader`` shuffles with; ``None`` when it holds none."""
    if callable(getattr(loader, "state_dict", None)) and callable(
        getattr(loader, "load_state_dict", None)
    ):
        return {"kind": "state_dict", "state": loader.state_dict()}
    generators = loader_generators(loader)
    if generators:
        return {"kind": "generators", "states": [g.get_state() for g in generators]}
    return None


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The distinct generators of a loader, its sampler and its batch sampler's sampler."""
    found: list[torch.Generator] = []
    holders = [
        loader, getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ]
    for holder in holders:
        generator = getattr(holder, "generator", None)
        if isinstance(generator, torch.Generator) and all(g is not generator for g in found):
            found.append(generator)
    return found


def capture(
    model: Any, *, model_id: str, epoch: int, step: int | None = None,
    metrics: Mapping[str, float] | None = None, loaders: Mapping[str, Any] | None = None,
    states: Mapping[str, Any] | None = None, stopped: str | None = None,
    described: Mapping[str, Any] | None = None, staging: Staging | None = None,
) -> Snapshot:
    """Copy the state of ``model`` (its modules and every stateful attribute), of
    ``loaders`` (by phase), of the random generators, and ``states``: other objects'
    ``state_dict()`` results by name (stateful consumers).
    """
    copier = _Copier(staging)
    payload: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "model_id": model_id, "epoch": int(epoch),
        "class": type(model).__name__,
        "step": step, "stopped": stopped, "time": time.time(),
        "metrics": {str(name): float(value) for name, value in (metrics or {}).items()},
        "metadata": dict(described) if described is not None else metadata(model),
        "seed": torch.initial_seed(),
    }
    own = model.state_dict() if isinstance(model, nn.Module) else OrderedDict()
    payload["model"] = copier.copy(own)
    payload["objects"] = copier.copy(
        {name: value.state_dict() for name, value in stateful_attributes(model).items()}
    )
    found = {phase: _loader_state(loader) for phase, loader in (loaders or {}).items()}
    payload["loaders"] = copier.copy({phase: s for phase, s in found.items() if s is not None})
    payload["stateful"] = copier.copy(dict(states or {}))
    payload["rng"] = _generator_states()  # fresh objects already: nothing to copy
    ready = None
    if copier.device and torch.cuda.is_available():
        ready = torch.cuda.Event()  # type: ignore[no-untyped-call]
        ready.record()
    return Snapshot(model_id, int(epoch), payload, copier.buffers, ready)
