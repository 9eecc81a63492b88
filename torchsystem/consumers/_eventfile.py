"""``EventFile``: TensorBoard's event-file format written in the calling thread.

An event file is a sequence of records: the length of an ``Event`` protocol buffer
(8 bytes, little-endian), its masked CRC-32C, the bytes, their masked CRC-32C. A scalar
event is encoded here directly (no protobuf, no numpy); a ``Summary`` made elsewhere
(hparams) is serialised by its own ``SerializeToString``. Nothing runs in another
thread: writing an epoch's scalars costs tens of microseconds, where a
``SummaryWriter`` hands each one to its writer thread.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

__all__ = ["EventFile", "crc32c"]


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()
_files = itertools.count()  # numbers the files of this process, as TensorBoard's writer does


def crc32c(data: bytes) -> int:
    """The CRC-32C (Castagnoli) of ``data``.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc, table = 0xFFFFFFFF, _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int64 is ten bytes of two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int | None, body: bytes) -> bytes:
    """``Event(wall_time, step, ...)`` followed by ``body`` (its other fields)."""
    head = b"\x09" + struct.pack("<d", wall_time)  # field 1, 64-bit
    if step is not None:
        head += b"\x10" + _varint(step)  # field 2, varint
    return head + body


class EventFile:
    """A TensorBoard event file in ``folder``, written synchronously.

    The file is named as TensorBoard's own writer names it
    (``events.out.tfevents.<time>.<host>.<pid>.<n>``) and starts with the file-version
    event; each ``add_scalar`` appends one record and hands it to the operating system
    (``flush``), so TensorBoard shows it at once and a killed process loses nothing it
    wrote. ``add_summary`` appends any ``Summary`` protocol buffer (hparams records).
    Thread-safe as far as its caller serialises calls (the ``TensorBoard`` consumer
    holds a lock).

    Example:
        >>> import tempfile
        >>> writer = EventFile(tempfile.mkdtemp())
        >>> writer.add_scalar("loss/train", 0.25, 1)
        >>> writer.close()
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_files)}")
        self.path = self.folder / name
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._record(_event(time.time(), None, _field(3, b"brain.Event:2")))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """Append ``value`` under ``tag`` at ``step``."""
        entry = _field(1, tag.encode()) + b"\x15" + struct.pack("<f", float(value))
        self._record(_event(time.time(), int(step), _field(5, _field(1, entry))))

    def add_summary(self, summary: Any, step: int | None = None) -> None:
        """Append a ``Summary`` protocol buffer (anything with ``SerializeToString``)."""
        self._record(_event(time.time(), step, _field(5, summary.SerializeToString())))

    def _get_file_writer(self) -> EventFile:
        """This writer (``SummaryWriter``'s way to reach its file writer)."""
        return self

    def _record(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked(header)) + data
                         + struct.pack("<I", _masked(data)))
        self._file.flush()

    def flush(self) -> None:
        """Hand what was written to the operating system (each record already is)."""
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        """Close the file; closing twice does nothing."""
        self._file.close()
