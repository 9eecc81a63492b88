"""``CheckpointStore``: durable files, refusals that name the path, retention."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.storage._models import unwritable
from torchsystem.storage import CheckpointError, CheckpointStore
from torchsystem.storage.store import FORMAT, VERSION, folder_name


def payload(epoch: int, model_id: str = "m", **metrics: float) -> dict[str, Any]:
    return {
        "format": FORMAT, "version": VERSION, "model_id": model_id, "epoch": epoch,
        "step": epoch * 10, "stopped": None, "class": "Model", "metadata": {},
        "model": OrderedDict(weight=torch.full((4, 4), float(epoch))), "objects": {},
        "loaders": {}, "rng": {"torch": torch.get_rng_state()}, "stateful": {},
        "metrics": dict(metrics),
    }


def test_a_written_checkpoint_reads_back_whole(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)

    path = store.write("m", 3, payload(3, loss=0.5))

    assert path == tmp_path / "m" / "epoch-00000003.pt"
    read = store.read(path, "m")
    assert read["epoch"] == 3
    assert read["model"]["weight"].equal(torch.full((4, 4), 3.0))
    assert read["metrics"] == {"loss": 0.5}


def test_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)

    store.write("m", 1, payload(1))

    assert sorted(os.listdir(tmp_path / "m")) == ["epoch-00000001.pt"]


def test_entries_are_sorted_by_epoch_and_ignore_other_files(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for epoch in (10, 2, 1):
        store.write("m", epoch, payload(epoch))
    (tmp_path / "m" / "notes.txt").write_text("mine")

    assert [entry.epoch for entry in store.entries("m")] == [1, 2, 10]
    assert store.entries("unknown") == []


def test_ids_that_are_not_file_names_get_a_safe_folder() -> None:
    assert folder_name("3f2a9c") == "3f2a9c"
    assert folder_name("a/b") != folder_name("a_b")
    assert "/" not in folder_name("../../etc")
    assert folder_name("../../etc").endswith(folder_name("../../etc")[-16:])
    assert len(folder_name("x" * 500)) < 80


def test_newest_returns_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for epoch in (1, 2):
        store.write("m", epoch, payload(epoch))

    found = store.newest("m")

    assert found is not None
    assert (found.path.name, found.payload["epoch"], found.skipped) == (
        "epoch-00000002.pt", 2, ()
    )
    assert store.newest("other") is None


def _flip_inside(path: Path, suffix: str) -> None:
    """Flip one bit in the middle of the bytes of the record whose name ends in ``suffix``."""
    with zipfile.ZipFile(path) as archive:
        member = next(info for info in archive.infolist() if info.filename.endswith(suffix))
    data = bytearray(path.read_bytes())
    name, extra = struct.unpack_from("<HH", data, member.header_offset + 26)
    data[member.header_offset + 30 + name + extra + member.compress_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_a_block(path: Path) -> None:
    """A torn write: the file has its size, but a block of it never reached the disk."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 64] = bytes(64)
    path.write_bytes(bytes(data))


def _flip_a_weight(path: Path) -> None:
    """One flipped bit inside a tensor's bytes: ``torch.load`` alone loads it as is."""
    _flip_inside(path, "data/0")


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "read"])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, r"epoch-00000002\.pt is truncated or damaged"),
        (_zero_a_block, r"epoch-00000002\.pt is truncated or damaged \(the bytes of record"),
        (_flip_a_weight, r"epoch-00000002\.pt is truncated or damaged \(the bytes of record "
                         r"'[^']*data/0' do not match their checksum\)"),
    ],
    ids=["truncated", "torn", "flipped"],
)
def test_a_damaged_file_is_refused_with_its_path(
    tmp_path: Path, damage: Any, message: str, mapped: bool,
) -> None:
    store = CheckpointStore(tmp_path)
    store.write("m", 1, payload(1))
    path = store.write("m", 2, payload(2, loss=1.0))
    damage(path)

    with pytest.raises(CheckpointError, match=message) as raised:
        store.read(path, "m", mapped=mapped)
    assert raised.value.path == path


def test_newest_passes_over_a_damaged_file_and_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    store = CheckpointStore(tmp_path)
    store.write("m", 1, payload(1))
    damaged = store.write("m", 2, payload(2))
    _truncate(damaged)

    found = store.newest("m")

    assert found is not None
    assert found.payload["epoch"] == 1
    assert [error.path for error in found.skipped] == [damaged]
    assert damaged.exists()
    assert f"{damaged} is truncated or damaged" in caplog.text


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    (tmp_path / "m").mkdir()
    text = tmp_path / "m" / "epoch-00000005.pt"
    text.write_text("hello, I am not a checkpoint")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)

    with pytest.raises(CheckpointError, match=r"epoch-00000005\.pt is not a checkpoint written "
                       r"by torch\.save"):
        store.read(text, "m")
    with pytest.raises(CheckpointError, match=r"other\.pt is not a torchsystem checkpoint"):
        store.read(other, "m")


def test_another_models_checkpoint_is_refused(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    path = store.write("m", 4, payload(4, model_id="someone-else"))

    with pytest.raises(CheckpointError, match=r"epoch-00000004\.pt is a checkpoint of model "
                       r"'someone-else', not of 'm'"):
        store.read(path, "m")
    assert store.newest("m") is None


def test_a_checkpoint_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    path = store.write("m", 1, {**payload(1), "version": VERSION + 1})

    with pytest.raises(CheckpointError, match="written by a newer torchsystem"):
        store.read(path, "m")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.pt does not exist"):
        CheckpointStore(tmp_path).read(tmp_path / "nothing.pt")


class Custom:
    def __init__(self, value: int = 0) -> None:
        self.value = value


def test_objects_weights_only_refuses_load_when_named_in_safe_globals(tmp_path: Path) -> None:
    path = CheckpointStore(tmp_path).write("m", 1, {**payload(1), "extra": Custom(3)})

    with pytest.raises(CheckpointError, match=r"epoch-00000001\.pt holds an object torch\.load"
                       r"\(weights_only=True\) refuses .*Custom.*safe_globals"):
        CheckpointStore(tmp_path).read(path, "m")
    assert CheckpointStore(tmp_path, safe_globals=[Custom]).read(path, "m")["extra"].value == 3


def test_an_unwritable_folder_is_refused_up_front(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")

    with pytest.raises(CheckpointError, match=r"file/checkpoints cannot hold checkpoints"):
        CheckpointStore(blocker / "checkpoints").probe()


def test_a_failed_write_names_the_file_and_keeps_the_earlier_ones(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.write("m", 1, payload(1))

    with unwritable(tmp_path / "m"), pytest.raises(
        CheckpointError, match=r"epoch-00000002\.pt could not be written .*the checkpoints "
        "before it are kept"
    ):
        store.write("m", 2, payload(2))

    assert sorted(os.listdir(tmp_path / "m")) == ["epoch-00000001.pt"]
    assert store.read(tmp_path / "m" / "epoch-00000001.pt", "m")["epoch"] == 1


def test_retention_keeps_the_newest_and_the_best(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    losses = {1: 0.9, 2: 0.3, 3: 0.5, 4: 0.6, 5: 0.7}
    removed = []
    for epoch, loss in losses.items():
        store.write("m", epoch, payload(epoch, **{"loss/validation": loss}))
        removed += store.retain("m", keep=2, best=1, metric="loss/validation", mode="min")

    assert [entry.epoch for entry in store.entries("m")] == [2, 4, 5]
    assert [path.name for path in removed] == ["epoch-00000001.pt", "epoch-00000003.pt"]


def test_retention_by_a_metric_to_maximise(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for epoch, accuracy in {1: 0.9, 2: 0.5, 3: 0.6, 4: float("nan")}.items():
        store.write("m", epoch, payload(epoch, accuracy=accuracy))

    store.retain("m", keep=1, best=1, metric="accuracy", mode="max")

    assert [entry.epoch for entry in store.entries("m")] == [1, 4]


def test_retention_never_deletes_files_it_cannot_read(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    damaged = store.write("m", 1, payload(1))
    _truncate(damaged)
    foreign = store.write("m", 2, payload(2, model_id="other"))
    for epoch in (3, 4, 5):
        store.write("m", epoch, payload(epoch))

    store.retain("m", keep=1)

    assert [entry.epoch for entry in store.entries("m")] == [1, 2, 5]
    assert damaged.exists()
    assert foreign.exists()


def test_a_new_file_replaces_a_damaged_one_of_its_epoch(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    damaged = store.write("m", 1, payload(1))
    _truncate(damaged)

    store.write("m", 1, payload(1))

    assert store.read(damaged, "m")["epoch"] == 1


def test_temporary_files_of_dead_processes_are_cleaned(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.write("m", 1, payload(1))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / "m" / f".epoch-00000002.pt.{dead}-0123456789ab.tmp"
    mine = tmp_path / "m" / f".epoch-00000003.pt.{os.getpid()}-0123456789ab.tmp"
    left.write_bytes(b"half a checkpoint")
    mine.write_bytes(b"being written")

    assert store.clean("m") == [left]
    assert mine.exists()
    assert [entry.epoch for entry in store.entries("m")] == [1]
