"""``EventFile``: TensorBoard's event files written without a writer thread, read back by
TensorBoard's own reader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from torchsystem.consumers._eventfile import EventFile, _masked, crc32c
from torchsystem.consumers._hparams import session_start

ROOT = Path(__file__).resolve().parents[2]


def summary_iterator(path: str) -> list[Any]:
    """Every ``Event`` of the file, as written (TensorBoard's reader, checksums checked)."""
    return list(LegacyEventFileLoader(path).Load())


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return [(scalar.step, pytest.approx(scalar.value)) for scalar in accumulator.Scalars(tag)]


@pytest.mark.parametrize("size", [0, 1, 4, 12, 63, 64, 1000])
def test_the_masked_checksum_is_tensorboards(size: int) -> None:
    data = os.urandom(size)

    assert _masked(data) == masked_crc32c(data)


def test_the_checksum_of_the_standard_check_string() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_scalars_are_read_back_by_tensorboard(tmp_path: Path) -> None:
    writer = EventFile(tmp_path / "run")
    for step in range(3):
        writer.add_scalar("loss/train", 1.0 / (step + 1), step)
    writer.add_scalar("accuracy/validation", 0.5, 2)
    writer.close()

    assert _scalars(tmp_path / "run", "loss/train") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert _scalars(tmp_path / "run", "accuracy/validation") == [(2, 0.5)]


def test_the_file_is_named_and_begins_as_tensorboards_own(tmp_path: Path) -> None:
    writer = EventFile(tmp_path)
    writer.close()

    name = writer.path.name
    first = next(iter(summary_iterator(str(writer.path))))

    assert name.startswith("events.out.tfevents.")
    assert name.split(".")[-2] == str(os.getpid())
    assert first.file_version == "brain.Event:2"


def test_large_negative_and_unicode_values_survive(tmp_path: Path) -> None:
    writer = EventFile(tmp_path)
    writer.add_scalar("größe/train", -2.5, 2**40)
    writer.add_scalar("größe/train", 3.0, -1)
    writer.close()

    events = [e for e in summary_iterator(str(writer.path)) if e.HasField("summary")]

    assert [(e.step, e.summary.value[0].tag, e.summary.value[0].simple_value) for e in events] == [
        (2**40, "größe/train", -2.5), (-1, "größe/train", 3.0)
    ]


def test_a_summary_is_written_with_its_step(tmp_path: Path) -> None:
    writer = EventFile(tmp_path)
    writer._get_file_writer().add_summary(session_start({"lr": 0.1}, 100.0), 7)
    writer.close()

    events = [e for e in summary_iterator(str(writer.path)) if e.HasField("summary")]

    assert len(events) == 1
    assert events[0].step == 7
    assert events[0].summary.value[0].tag == "_hparams_/session_start_info"


def test_closing_twice_and_flushing_after_close_do_nothing(tmp_path: Path) -> None:
    writer = EventFile(tmp_path)
    writer.add_scalar("loss/train", 1.0, 1)
    writer.close()
    writer.close()
    writer.flush()

    assert _scalars(tmp_path, "loss/train") == [(1, 1.0)]


def test_a_killed_process_loses_no_scalar_it_wrote(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from torchsystem.consumers._eventfile import EventFile
        writer = EventFile({str(tmp_path)!r})
        for step in range(5):
            writer.add_scalar("loss/train", float(step), step)
        print("written", flush=True)
        time.sleep(60)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    assert _scalars(tmp_path, "loss/train") == [(step, float(step)) for step in range(5)]
