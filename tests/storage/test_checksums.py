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


def _flip_inside(path: Path, record: str) -> None:
    """Flip one byte in the middle of ``record``'s bytes (the archive stays readable)."""
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo(record)
    data = bytearray(path.read_bytes())
    header = checksums._LOCAL_HEADER.unpack_from(data, member.header_offset)
    start = member.header_offset + checksums._LOCAL_HEADER.size + header[9] + header[10]
    data[start + member.compress_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _saved(path: Path, size: int) -> dict[str, torch.Tensor]:
    state = {"big": torch.arange(size, dtype=torch.float32), "small": torch.ones(3)}
    torch.save(state, path)
    return state


@pytest.mark.parametrize("size", [1, checksums._CHUNK // 4 + 3, 2 * checksums._CHUNK + 5])
def test_a_checked_load_gives_the_tensors_and_passes(tmp_path: Path, size: int) -> None:
    path = tmp_path / "state.pt"
    state = _saved(path, size)

    with checksums.CheckedFile(path) as file:
        loaded = torch.load(file, weights_only=True)
        file.verify()

    assert loaded.keys() == state.keys()
    assert all(loaded[key].equal(value) for key, value in state.items())


@pytest.mark.parametrize("size", [5, 2 * checksums._CHUNK + 5])
def test_a_checked_load_finds_a_flipped_byte_in_what_it_read(tmp_path: Path, size: int) -> None:
    path = tmp_path / "state.pt"
    _saved(path, size)
    _flip_inside(path, "state/data/0")

    with checksums.CheckedFile(path) as file:
        loaded = torch.load(file, weights_only=True)  # torch.load does not notice
        with pytest.raises(zipfile.BadZipFile, match=r"^the bytes of record 'state/data/0' "
                           r"do not match their checksum$"):
            file.verify()
    assert not loaded["big"].equal(torch.arange(size, dtype=torch.float32))


def test_a_checked_file_checks_the_records_it_did_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    _saved(path, 1000)
    _flip_inside(path, "state/data/1")

    with checksums.CheckedFile(path) as file:
        file.seek(0)
        assert len(file.read(100)) == 100  # part of a record: checked from the file
        with pytest.raises(zipfile.BadZipFile, match=r"^the bytes of record 'state/data/1' "
                           r"do not match their checksum$"):
            file.verify()


def test_a_checked_file_refuses_a_truncated_archive(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    _saved(path, 1000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])

    with checksums.CheckedFile(path) as file, pytest.raises(
        zipfile.BadZipFile, match=r"^File is not a zip file$"
    ):
        file.verify()
