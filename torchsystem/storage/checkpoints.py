"""``Checkpoints``: save at every epoch boundary off the training thread; resume as a
compiler step."""

from __future__ import annotations

import inspect
import logging
import math
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from torchsystem.depends import Depends, Provider, inject
from torchsystem.services import Consumer
from torchsystem.storage.errors import CheckpointError
from torchsystem.storage.index import Index
from torchsystem.storage.restore import Resumed, apply, restore_loaders
from torchsystem.storage.snapshot import Snapshot, Staging, capture, metadata, pack_generators
from torchsystem.storage.stop import Interrupted
from torchsystem.storage.store import CheckpointStore, Summary, summarize
from torchsystem.storage.writer import Writer
from torchsystem.training._arguments import named_phases
from torchsystem.training.events import Advanced, Measured, Trained, metric_items
from torchsystem.training.protocol import identify
from torchsystem.training.service import device

__all__ = ["Checkpoints"]

logger = logging.getLogger("torchsystem.storage")


def _takes_model_id(value: Any) -> bool:
    try:
        parameters = inspect.signature(value.state_dict).parameters
    except (TypeError, ValueError):
        return False
    return "model_id" in parameters


class Checkpoints(Consumer):
    """Checkpoint every aggregate the training service trains, and resume it.

    Register it with the training service's producer (directly, never through
    ``Background``). At each epoch boundary (``Advanced``, every ``every`` epochs and at
    an early stop) it copies, on the training thread, the aggregate's modules and every
    attribute with ``state_dict``/``load_state_dict`` (optimizers, LR schedulers,
    gradient scalers, helpers), its epoch and step counts, the loaders' state, the random
    generators, the ``stateful`` objects (``{'early-stopping': stopper}``), the registry
    metadata and the epoch's metrics; a worker thread writes the copy durably to
    ``directory/<model id>/epoch-<epoch>.pt``, then deletes what the retention no longer
    keeps: the ``keep`` newest and the ``best`` best by ``metric`` (``'loss/validation'``,
    ``mode`` ``'min'`` or ``'max'``). When the disk falls behind the epochs, a copy still
    waiting to be written is replaced by a newer one (``supersede=True``; never a new best
    by ``metric`` nor an early stop's, and the newest is always written), so training
    never waits for the disk; with ``supersede=False`` training waits instead and every
    epoch gets its file. With ``database`` (a ``torchsystem.runs.Database`` or its URL)
    each file is also indexed in the run database's ``checkpoints`` table.

    ``restore`` is a compiler step: it puts the newest complete checkpoint of the
    aggregate's id back (see its doc); called directly, it resolves ``device`` through
    ``provider`` (share the application's to share its overrides).
    ``restore_loaders(model, loaders)`` puts the loaders' state back before training.
    ``flush()`` waits for the writes, ``close()`` ends the worker; a write that failed
    raises ``CheckpointError`` at the next checkpoint, ``flush()`` or ``close()``.

    Raises:
        CheckpointError: ``directory`` cannot be created or written.
        ValueError: a retention setting is out of range.

    Example:
        >>> import tempfile
        >>> with Checkpoints(tempfile.mkdtemp(), keep=2) as checkpoints:
        ...     pass  # producer.register(checkpoints); compiler.register(checkpoints.restore)
        >>> checkpoints.keep
        2
    """

    def __init__(
        self,
        directory: str | Path = "checkpoints",
        *,
        keep: int = 2,
        best: int = 0,
        metric: str | None = "loss/validation",
        mode: Literal["min", "max"] = "min",
        every: int = 1,
        stateful: Mapping[str, Any] | None = None,
        database: Any = None,
        safe_globals: Sequence[Any] = (),
        verify: bool = True,
        supersede: bool = True,
        name: str = "checkpoints",
        provider: Provider | None = None,
    ) -> None:
        super().__init__(name, provider=provider)
        _check_settings(keep, best, metric, mode, every, stateful)
        self.keep, self.best, self.metric, self.mode, self.every = keep, best, metric, mode, every
        self.stateful = dict(stateful or {})
        self._per_model = {key: _takes_model_id(value) for key, value in self.stateful.items()}
        self.store = CheckpointStore(directory, safe_globals=safe_globals, verify=verify)
        self.store.probe()
        self.index = None if database is None else Index(database)
        self.resumed: dict[str, Resumed] = {}
        self.saved: dict[str, Summary] = {}
        self._loaders: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, int | None] = {}
        self._pending: dict[str, tuple[Path, dict[str, Any]]] = {}
        self._described: weakref.WeakKeyDictionary[Any, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._captured: dict[str, int] = {}
        self._cleaned: set[str] = set()
        self._staging = Staging()
        self._best: dict[str, float] = {}
        self.superseded = 0
        self._writer = Writer(
            self._write, supersedes=_supersedes if supersede else _never, drop=self._dropped,
            name=f"{name}-writer",
        )
        self.register(Measured, self._measured)
        self.register(Advanced, self._advanced)
        self.register(Interrupted, self._interrupted)
        # called directly, ``restore`` resolves ``device`` through this consumer's provider
        vars(self)["restore"] = inject(self.provider, owner=self)(self.restore)

    @property
    def directory(self) -> Path:
        """Where the checkpoints go (one folder per model id)."""
        return self.store.directory

    # --- saving ------------------------------------------------------------------------

    def _measured(self, event: Measured) -> None:
        model_id = event.model_id if event.model_id is not None else identify(event.model)
        loader = event.loader
        if loader is not None:
            self._loaders.setdefault(model_id, {})[event.phase] = loader
            if model_id in self._pending:
                self._warn_unrestored(model_id, event.phase)
        if isinstance(event, Trained):
            done = self._steps.get(model_id, 0)
            size = _length(loader)
            self._steps[model_id] = None if done is None or size is None else done + size

    def _warn_unrestored(self, model_id: str, phase: str) -> None:
        path, states = self._pending.pop(model_id)
        if phase in states:
            logger.warning(
                "the %r loader of %s ran without the state %s holds for it: call "
                "checkpoints.restore_loaders(model, loaders) before training, or the order "
                "of its batches differs from an uninterrupted run", phase, model_id, path,
            )

    def _advanced(self, event: Advanced) -> None:
        if event.epoch % self.every == 0 or event.stop is not None:
            metrics = {
                f"{name}/{phase}": value
                for phase, found in event.results.items()
                for name, value in metric_items(found)
            }
            self.save(event.model, metrics=metrics, stop=event.stop, model_id=event.model_id)

    def save(
        self, model: Any, *, metrics: Mapping[str, float] | None = None,
        stop: BaseException | None = None, model_id: str | None = None,
    ) -> None:
        """Copy the state of ``model`` now (on this thread) and write it in the background
        as the checkpoint of ``model.epoch``. Call it at an epoch boundary of a loop of
        your own; the training service's ``Advanced`` event calls it for you.

        Raises:
            CheckpointError: an earlier write failed (raised once).
            RuntimeError: ``close()`` was called.
        """
        model_id = identify(model) if model_id is None else model_id
        epoch = int(getattr(model, "epoch", 0))
        snapshot = capture(
            model, model_id=model_id, epoch=epoch, step=self._steps.get(model_id),
            metrics=metrics, loaders=self._loaders.get(model_id),
            states=self._states(model_id), stopped=None if stop is None else str(stop),
            described=self._description(model), staging=self._staging,
        )
        snapshot.wanted = stop is not None or self._improves(model_id, metrics)
        self._captured[model_id] = epoch
        self._writer.submit(snapshot)

    def _improves(self, model_id: str, metrics: Mapping[str, float] | None) -> bool:
        """Whether ``metrics`` make a new best (then the retention would keep it)."""
        if self.best == 0 or self.metric is None or metrics is None:
            return False
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return False
        best = self._best.get(model_id)
        if best is None or (value < best if self.mode == "min" else value > best):
            self._best[model_id] = value
            return True
        return False

    def _dropped(self, snapshot: Snapshot) -> None:
        """On the training thread: a waiting snapshot a newer one made useless."""
        self._staging.give(snapshot.buffers)
        self.superseded += 1
        logger.debug("the checkpoint of %s at epoch %d was superseded before it was written",
                     snapshot.model_id, snapshot.epoch)

    def _states(self, model_id: str) -> dict[str, Any]:
        return {
            key: value.state_dict(model_id=model_id) if self._per_model[key]
            else value.state_dict()
            for key, value in self.stateful.items()
        }

    def _description(self, model: Any) -> dict[str, Any]:
        try:
            found = self._described.get(model)
            if found is None:
                found = self._described[model] = metadata(model)
            return found
        except TypeError:  # not weakly referenceable
            return metadata(model)

    def _write(self, snapshot: Snapshot) -> None:
        """On the worker: write, index, apply the retention, recycle the buffers."""
        try:
            snapshot.wait()
            if snapshot.model_id not in self._cleaned:  # once: what died before this process
                self.store.clean(snapshot.model_id)
                self._cleaned.add(snapshot.model_id)
            pack_generators(snapshot.payload)
            path = self.store.write(snapshot.model_id, snapshot.epoch, snapshot.payload)
        finally:
            self._staging.give(snapshot.buffers)
        found = summarize(path, snapshot.payload)
        self.store.remember(found)
        removed = self.store.retain(  # its deletions made durable by the next write's fsync
            snapshot.model_id, keep=self.keep, best=self.best, metric=self.metric, mode=self.mode,
            sync=False,
        )
        self.saved = {**self.saved, snapshot.model_id: found}
        if self.index is not None:
            payload = snapshot.payload
            self.index.record(found, payload["class"], payload["metadata"], removed)

    def _interrupted(self, event: Interrupted) -> None:
        """A graceful stop: make the newest checkpoint durable and say which it is."""
        model_id = event.model_id if event.model_id is not None else identify(event.model)
        if event.step is None and self._captured.get(model_id) != event.epoch:
            self.save(event.model, model_id=model_id)  # a boundary not captured yet
        self.flush()
        found = self.saved.get(model_id)
        if found is None:
            event.notes.append("no checkpoint was written yet (the first is written at the "
                               f"end of epoch {self.every})")
        else:
            event.notes.append(f"checkpoint of epoch {found.epoch}: {found.path}")

    # --- resuming ----------------------------------------------------------------------

    def restore(self, model: Any, device: Any = Depends(device)) -> Any:
        """Compiler step: put back the newest complete checkpoint of ``model``'s id, then
        return ``model``.

        ``model`` is first moved to the injected ``device`` (the training service's
        ``device`` dependency; ``None`` leaves it where it is); tensors are read into
        host memory and copied to where the state they restore lives. Restored: modules,
        every stateful attribute, the epoch (without ``onepoch()``: no scheduler steps,
        no event is dispatched), the ``stateful`` objects and the random generators; the
        loaders' state waits for ``restore_loaders``. Newer files that are torn, damaged,
        another model's or not checkpoints are logged with their path and passed over.
        Without a checkpoint, ``model`` comes back unchanged. ``resumed[model_id]`` then
        says what was restored.

        Raises:
            CheckpointError: the newest complete checkpoint does not fit ``model``
                (nothing was changed).
        """
        if device is not None and callable(getattr(model, "to", None)):
            model = model.to(device)
        model_id = identify(model)
        found = self.store.newest(model_id, mapped=False)  # tensors the model may keep
        if found is None:
            logger.info("no checkpoint of %s in %s: training starts afresh", model_id,
                        self.store.folder(model_id))
            return model
        payload = found.payload
        apply(found.path, model, payload, self.stateful)
        summary = summarize(found.path, payload)
        self._steps[model_id] = summary.step
        self._captured[model_id] = summary.epoch
        self._pending[model_id] = (found.path, payload["loaders"])
        self.saved = {**self.saved, model_id: summary}
        self.resumed[model_id] = Resumed(
            model_id, summary.epoch, found.path, summary.step, summary.stopped,
            summary.metrics, found.skipped,
        )
        _warn_seed(found.path, payload)
        logger.info("resumed %s at epoch %d from %s", model_id, summary.epoch, found.path)
        return model

    def restore_loaders(self, model: Any, loaders: Any) -> None:
        """Put back the state the restored checkpoint of ``model`` holds for ``loaders``
        (``(phase, loader)`` pairs or a mapping, as ``Training.fit`` takes them). Call it
        after ``restore`` and before training; without a restored checkpoint it does
        nothing.

        Raises:
            CheckpointError: a saved state does not fit the loader of its phase.
        """
        model_id = identify(model)
        pending = self._pending.pop(model_id, None)
        if pending is not None:
            path, states = pending
            restore_loaders(path, dict(named_phases(loaders)), states)

    def latest(self, model: Any) -> Resumed | None:
        """The newest complete checkpoint on disk for ``model`` (or its id), unread."""
        model_id = model if isinstance(model, str) else identify(model)
        for entry in reversed(self.store.entries(model_id)):
            try:
                found = self.store.summary(entry.path, model_id)
            except CheckpointError:
                continue
            return Resumed(model_id, found.epoch, found.path, found.step, found.stopped,
                           found.metrics)
        return None

    # --- life cycle --------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until every checkpoint taken is on disk.

        Raises:
            CheckpointError: a write failed.
        """
        self._writer.flush()
        self.store.sync()  # the writer is idle: the deletions it left unsynced

    def close(self) -> None:
        """Write what is pending and stop the worker (idempotent).

        Raises:
            CheckpointError: a write failed.
        """
        try:
            self._writer.close()
            self.store.sync()
        finally:
            self._staging.clear()
            if self.index is not None:
                self.index.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Checkpoints({str(self.directory)!r}, keep={self.keep}, best={self.best}, "
                f"metric={self.metric!r})")


def _never(waiting: Snapshot, newer: Snapshot) -> bool:
    return False


def _supersedes(waiting: Snapshot, newer: Snapshot) -> bool:
    """A snapshot still waiting is not written when a newer one of the same model
    arrives, unless it is wanted (a new best, an early stop)."""
    return waiting.model_id == newer.model_id and not waiting.wanted


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _warn_seed(path: Path, payload: Mapping[str, Any]) -> None:
    import torch

    seed = payload.get("seed")
    if isinstance(seed, int) and seed != torch.initial_seed():
        logger.warning(
            "%s was written by a run seeded %d, this one is seeded %d: the run continues "
            "with the checkpoint's generators", path, seed, torch.initial_seed(),
        )


def _check_settings(
    keep: int, best: int, metric: str | None, mode: str, every: int,
    stateful: Mapping[str, Any] | None,
) -> None:
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the newest checkpoint), got {keep}")
    if best < 0:
        raise ValueError(f"best must be 0 or more, got {best}")
    if best > 0 and metric is None:
        raise ValueError("best > 0 needs a metric to rank by, such as 'loss/validation'")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if every < 1:
        raise ValueError(f"every must be at least 1 epoch, got {every}")
    for key, value in (stateful or {}).items():
        if not (callable(getattr(value, "state_dict", None))
                and callable(getattr(value, "load_state_dict", None))):
            raise TypeError(
                f"stateful[{key!r}] is a {type(value).__name__}, which has no "
                "state_dict/load_state_dict to save and restore it with"
            )


