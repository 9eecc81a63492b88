"""``CheckpointStore``: durable checkpoint files, one folder per model id.

A file is written to a temporary name in its final folder, flushed and fsynced, renamed
over its final name (``os.replace``) and the folder is fsynced: a file under its final
name is always complete, whatever moment the process dies at. Reading checks the
checksum of every record, then loads with ``torch.load(weights_only=True)``, and refuses
(with the path) a file that is truncated, damaged, not a checkpoint, or another model's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import mmap
import os
import pickle
import re
import struct
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import torch

from torchsystem.storage.checksums import CheckedFile, verify
from torchsystem.storage.errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "CheckpointStore", "Entry", "Found", "Summary"]

logger = logging.getLogger("torchsystem.storage")

FORMAT = "torchsystem.checkpoint"
"""The ``format`` key of every checkpoint payload."""
VERSION = 1
"""The newest payload version this torchsystem writes and reads."""
_REQUIRED = ("model_id", "epoch", "model", "objects", "loaders", "rng", "stateful", "metrics")
_FILE = re.compile(r"^epoch-(\d{8,})\.pt$")
_TEMPORARY = re.compile(r"^\.epoch-\d{8,}\.pt\.(\d+)-[0-9a-f]+\.tmp$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Entry:
    """A file named like a checkpoint (``epoch-00000007.pt``), not yet read.

    Example:
        >>> Entry(Path("runs/3f2a/epoch-00000007.pt"), 7).epoch
        7
    """

    path: Path
    epoch: int


@dataclass(frozen=True)
class Summary:
    """What a complete checkpoint says about itself, read without its tensors."""

    path: Path
    model_id: str
    epoch: int
    step: int | None
    metrics: Mapping[str, float]
    stopped: str | None
    time: float | None = None  # when the state was captured (``time.time()``)


@dataclass(frozen=True)
class Found:
    """The newest complete checkpoint of a model, and the newer files that were refused."""

    path: Path
    payload: dict[str, Any]
    skipped: tuple[CheckpointError, ...] = field(default=())


def folder_name(model_id: str) -> str:
    """The folder of ``model_id``: the id itself when it is a safe file name, else a
    readable part of it and a digest (ids with ``/``, spaces, or over 128 characters).

    Example:
        >>> folder_name("3f2a9c"), folder_name("mlp/digits")
        ('3f2a9c', 'mlp_digits-ed4f14be5943420f')
    """
    if _SAFE_ID.match(model_id):
        return model_id
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:48].strip("._")
    return f"{readable}-{digest}" if readable else digest


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class CheckpointStore:
    """Durable checkpoint files under ``directory``, one folder per model id.

    ``write`` makes a file durable before returning; ``read`` refuses anything that is
    not a complete checkpoint of the model; ``newest`` finds the newest complete one,
    passing over (and logging) newer files it refuses; ``retain`` deletes what a
    retention policy no longer keeps. Files it cannot read are never deleted. Objects of
    other types than tensors, containers, numbers and text must be named in
    ``safe_globals`` to load (``torch.serialization.add_safe_globals``).

    Example:
        >>> import tempfile
        >>> store = CheckpointStore(tempfile.mkdtemp())
        >>> store.entries("3f2a")
        []
    """

    def __init__(
        self, directory: str | Path, *, safe_globals: Sequence[Any] = (), verify: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.safe_globals = list(safe_globals)
        self.verify = verify
        self._summaries: dict[Path, tuple[tuple[int, int], Summary]] = {}
        self._made: set[Path] = set()
        self._unsynced: set[Path] = set()  # folders with deletions not fsynced yet

    def folder(self, model_id: str) -> Path:
        """Where the checkpoints of ``model_id`` go."""
        return self.directory / folder_name(model_id)

    def probe(self) -> None:
        """Create ``directory`` and check that files can be written there.

        Raises:
            CheckpointError: the folder cannot be created or written.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, name = _temporary(self.directory, ".probe")
            os.close(descriptor)
            os.unlink(name)
        except OSError as error:
            raise CheckpointError(
                self.directory,
                f"cannot hold checkpoints ({error.strerror or error}); choose a folder this "
                "process can write",
            ) from error

    def entries(self, model_id: str) -> list[Entry]:
        """Files named like checkpoints of ``model_id``, oldest epoch first."""
        folder = self.folder(model_id)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        found = [(_FILE.match(name), name) for name in names]
        return sorted(
            (Entry(folder / name, int(match.group(1))) for match, name in found if match),
            key=lambda entry: entry.epoch,
        )

    def path(self, model_id: str, epoch: int) -> Path:
        """The file of ``model_id`` at ``epoch``."""
        return self.folder(model_id) / f"epoch-{epoch:08d}.pt"

    def write(self, model_id: str, epoch: int, payload: Mapping[str, Any]) -> Path:
        """Write ``payload`` durably as the checkpoint of ``model_id`` at ``epoch``.

        Raises:
            CheckpointError: the file cannot be written; the files before it are kept.
        """
        final = self.path(model_id, epoch)
        self._make(final.parent)
        temporary: str | None = None
        try:
            descriptor, temporary = _temporary(final.parent, f".{final.name}.{os.getpid()}")
            with os.fdopen(descriptor, "wb") as file:
                torch.save(dict(payload), file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
            temporary = None
            _fsync_folder(final.parent)
            self._unsynced.discard(final.parent)  # its deletions are durable too
        except (OSError, pickle.PicklingError, RuntimeError) as error:
            raise CheckpointError(
                final, f"could not be written ({error}); the checkpoints before it are kept"
            ) from error
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        return final

    def _make(self, folder: Path) -> None:
        if folder in self._made:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_folder(folder.parent)
        except OSError as error:
            raise CheckpointError(
                folder, f"cannot be created ({error.strerror or error}); choose a writable folder"
            ) from error
        self._made.add(folder)

    def clean(self, model_id: str) -> list[Path]:
        """Remove temporary files left by processes that died while writing."""
        removed = []
        folder = self.folder(model_id)
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(folder):
                match = _TEMPORARY.match(name)
                if match and not _alive(int(match.group(1))):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / name)
                        removed.append(folder / name)
        return removed

    def read(
        self, path: str | Path, model_id: str | None = None, *, mapped: bool = True,
    ) -> dict[str, Any]:
        """The payload of the checkpoint at ``path``, checked whole before it is returned;
        tensors are on the CPU, memory-mapped from the file (``mapped``) or read into
        memory of their own. Memory-mapped, the checksums are verified on another thread
        while the file is loaded; read into memory, each chunk is checksummed as it is
        read (the file is read once). A file that fails them is never returned.

        Raises:
            CheckpointError: the file is missing, truncated, damaged, not a torchsystem
                checkpoint, written by a newer torchsystem, or (with ``model_id``) the
                checkpoint of another model.
        """
        path = Path(path)
        if not self.verify:
            payload = self._load(path, mapped)
        elif mapped and _private_maps():
            with ThreadPoolExecutor(1, thread_name_prefix="checkpoint-checksums") as pool:
                checked = pool.submit(_verify, path)
                try:
                    payload = self._load(path, mapped)
                except CheckpointError:
                    checked.result()  # a checksum failure says more than a load failure
                    raise
                checked.result()
        else:
            payload = self._load_checked(path)
        _check(path, payload, model_id)
        return payload

    def _load_checked(self, path: Path) -> dict[str, Any]:
        """Load into memory through a ``CheckedFile``: each chunk is checksummed as it
        is read, then every record is compared with its stored checksum."""
        try:
            file = CheckedFile(path)
        except FileNotFoundError:
            raise CheckpointError(path, "does not exist") from None
        except IsADirectoryError:
            raise CheckpointError(path, "is a folder, not a checkpoint file") from None
        except OSError as error:
            raise CheckpointError(path, _unreadable(path, error)) from error
        with file:
            try:
                payload = self._load(path, source=file)
            except CheckpointError:
                _verify(path, file)  # a checksum failure says more than a load failure
                raise
            _verify(path, file)
        return payload

    def _load(
        self, path: Path, mapped: bool = True, source: CheckedFile | None = None,
    ) -> dict[str, Any]:
        try:
            with _allowing(self.safe_globals):
                if source is not None:
                    loaded = torch.load(
                        cast(IO[bytes], source), map_location="cpu", weights_only=True,
                    )
                else:
                    loaded = torch.load(
                        path, map_location="cpu", weights_only=True,
                        mmap=mapped and _private_maps(),
                    )
        except FileNotFoundError:
            raise CheckpointError(path, "does not exist") from None
        except IsADirectoryError:
            raise CheckpointError(path, "is a folder, not a checkpoint file") from None
        except pickle.UnpicklingError as error:
            raise CheckpointError(path, _refused(error)) from error
        except (RuntimeError, ValueError, KeyError, EOFError, OSError) as error:
            raise CheckpointError(path, _unreadable(path, error)) from error
        if not isinstance(loaded, dict):
            raise CheckpointError(
                path, f"is not a torchsystem checkpoint (it holds a {type(loaded).__name__})"
            )
        return loaded

    def summary(self, path: Path, model_id: str) -> Summary:
        """What the checkpoint at ``path`` says about itself (cached per file version).

        Raises:
            CheckpointError: as ``read``, without the checksum test.
        """
        try:
            status = path.stat()
        except FileNotFoundError:
            raise CheckpointError(path, "does not exist") from None
        version = (status.st_mtime_ns, status.st_size)
        cached = self._summaries.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        payload = self._load(path)
        _check(path, payload, model_id)
        found = summarize(path, payload)
        self._summaries[path] = (version, found)
        return found

    def remember(self, found: Summary) -> None:
        """Cache the summary of a file just written (so retention need not read it)."""
        with contextlib.suppress(FileNotFoundError):
            status = found.path.stat()
            self._summaries[found.path] = ((status.st_mtime_ns, status.st_size), found)

    def newest(self, model_id: str, *, mapped: bool = True) -> Found | None:
        """The newest complete checkpoint of ``model_id`` (read as ``read`` does); newer
        files that are refused are logged (with the reason) and passed over. ``None`` when
        there is none."""
        skipped: list[CheckpointError] = []
        for entry in reversed(self.entries(model_id)):
            try:
                payload = self.read(entry.path, model_id, mapped=mapped)
                return Found(entry.path, payload, tuple(skipped))
            except CheckpointError as error:
                logger.warning("%s; it is left as it is and the one before it is used", error)
                skipped.append(error)
        return None

    def retain(
        self, model_id: str, *, keep: int, best: int = 0, metric: str | None = None,
        mode: str = "min", sync: bool = True,
    ) -> list[Path]:
        """Delete the complete checkpoints of ``model_id`` that are neither among the
        ``keep`` newest nor the ``best`` by ``metric``; files it cannot read stay.

        The folder is fsynced after deleting (the deletions are durable), or, with
        ``sync=False``, by the next ``write`` to it or ``sync()``: a deletion lost to a
        power cut only brings back an old complete checkpoint, which the next retention
        deletes, and saves a write one fsync."""
        complete = list(self._complete(model_id))
        kept = {found.path for found in complete[-keep:]} if keep > 0 else set()
        if best > 0 and metric is not None:
            scored = [found for found in complete if _finite(found.metrics.get(metric))]
            scored.sort(key=lambda found: found.metrics[metric], reverse=mode == "max")
            kept.update(found.path for found in scored[:best])
        removed = [found.path for found in complete if found.path not in kept]
        for path in removed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self._summaries.pop(path, None)
        if removed:
            folder = self.folder(model_id)
            if sync:
                _fsync_folder(folder)
                self._unsynced.discard(folder)
            else:
                self._unsynced.add(folder)
        return removed

    def sync(self) -> None:
        """Make the deletions of ``retain(sync=False)`` durable (fsync their folders)."""
        while self._unsynced:
            folder = self._unsynced.pop()
            with contextlib.suppress(FileNotFoundError):
                _fsync_folder(folder)

    def _complete(self, model_id: str) -> Iterator[Summary]:
        for entry in self.entries(model_id):
            try:
                yield self.summary(entry.path, model_id)
            except CheckpointError:
                continue


def _allowing(classes: Sequence[Any]) -> contextlib.AbstractContextManager[Any]:
    """``torch.serialization.safe_globals(classes)``, on every torch this package takes."""
    if not classes:
        return contextlib.nullcontext()
    scoped = getattr(torch.serialization, "safe_globals", None)
    if scoped is not None:
        allowed: contextlib.AbstractContextManager[Any] = scoped(list(classes))
        return allowed
    torch.serialization.add_safe_globals(list(classes))  # torch 2.4: process-wide
    return contextlib.nullcontext()


def _private_maps() -> bool:
    """Whether ``torch.load(mmap=True)`` maps files privately (its default): then writes
    to loaded tensors never reach the file. Otherwise the file is read into memory."""
    options = getattr(torch.serialization, "get_default_mmap_options", None)
    return options is None or options() == mmap.MAP_PRIVATE


def summarize(path: Path, payload: Mapping[str, Any]) -> Summary:
    """The ``Summary`` of a checked payload."""
    step = payload.get("step")
    stopped = payload.get("stopped")
    return Summary(
        path, str(payload["model_id"]), int(payload["epoch"]),
        None if step is None else int(step), dict(payload["metrics"]),
        None if stopped is None else str(stopped),
        float(payload["time"]) if _finite(payload.get("time")) else None,
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _temporary(folder: Path, prefix: str) -> tuple[int, str]:
    name = os.fspath(folder / f"{prefix}-{uuid.uuid4().hex[:12]}.tmp")
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), name


def _check(path: Path, payload: Mapping[str, Any], model_id: str | None) -> None:
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            path, "is not a torchsystem checkpoint (it was not written by Checkpoints)"
        )
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            path, f"was written by a newer torchsystem (format version {version!r}; this one "
            f"reads up to {VERSION}): upgrade torchsystem to load it",
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(path, f"is an incomplete torchsystem checkpoint (no {missing})")
    if model_id is not None and payload["model_id"] != model_id:
        raise CheckpointError(
            path, f"is a checkpoint of model {payload['model_id']!r}, not of {model_id!r}",
        )


def _verify(path: Path, opened: CheckedFile | None = None) -> None:
    """Check every record of the file (read through ``opened``, if given) against the
    checksum stored with it.

    Raises:
        CheckpointError: the file is missing, not a zip archive, truncated or damaged.
    """
    try:
        if opened is not None:
            opened.verify()
        else:
            verify(path)
    except FileNotFoundError:
        raise CheckpointError(path, "does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a folder, not a checkpoint file") from None
    except (zipfile.BadZipFile, struct.error, ValueError, OSError) as error:
        raise CheckpointError(path, _unreadable(path, error)) from error


def _unreadable(path: Path, error: BaseException) -> str:
    try:
        with open(path, "rb") as file:
            zipped = file.read(4) == b"PK\x03\x04"
    except OSError:
        zipped = False
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    if zipped:
        return (
            f"is truncated or damaged ({detail}); it is never loaded: a complete checkpoint "
            "is used instead, or training starts over"
        )
    return f"is not a checkpoint written by torch.save ({detail})"


def _refused(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line]
    detail = lines[0] if lines else str(error).splitlines()[0]
    return (
        f"holds an object torch.load(weights_only=True) refuses ({detail}); if you trust the "
        "file, name its class in Checkpoints(safe_globals=[...])"
    )
