"""``verify``: the stored CRC-32 of every record, checked in pieces and joined."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from torchsystem.storage import checksums
from torchsystem.storage.checksums import verify


@pytest.mark.parametrize("size", [0, 1, 5, checksums._PIECE - 1, checksums._PIECE,
                                  checksums._PIECE + 1, 3 * checksums._PIECE + 12345])
def test_pieces_joined_give_the_checksum_of_the_whole(size: int) -> None:
    data = os.urandom(size)
    parts = list(checksums._pieces(0, size))

    joined = zlib.crc32(data[parts[0][0]:parts[0][1]])
    for start, end in parts[1:]:
        joined = checksums._apply(checksums._shift(checksums._PIECE), joined) ^ zlib.crc32(
            data[start:end]
        )

    assert joined == zlib.crc32(data)
    assert [end - start for start, end in parts[1:]] == [checksums._PIECE] * (len(parts) - 1)


def test_a_complete_file_passes(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"big": torch.arange(3 * checksums._PIECE // 4, dtype=torch.float32)}, path)

    verify(path)


def test_a_flipped_byte_is_found_and_its_record_named(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"big": torch.arange(3 * checksums._PIECE // 4, dtype=torch.float32)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(zipfile.BadZipFile, match=r"the bytes of record 'state/data/0' do not "
                       "match their checksum"):
        verify(path)
