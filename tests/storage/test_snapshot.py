"""``capture``: a copy owned by the snapshot, taken at once; ``Staging`` reuses buffers."""

from __future__ import annotations

import threading
from collections import OrderedDict

import pytest
import torch
from torch import nn

from tests.storage._models import Model
from torchsystem.storage import Snapshot, Staging, Writer, capture
from torchsystem.storage.snapshot import metadata, stateful_attributes


def test_the_snapshot_does_not_change_when_training_goes_on() -> None:
    model = Model()
    model.fit(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))
    weight = model.nn.layers[0].weight.detach().clone()
    moment = model.optimizer.state[model.nn.layers[0].weight]["exp_avg"].clone()

    snapshot = capture(model, model_id=model.id, epoch=1, staging=Staging())
    for _ in range(3):
        model.fit(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))

    payload = snapshot.payload
    assert payload["model"]["nn.layers.0.weight"].equal(weight)
    assert not model.nn.layers[0].weight.equal(weight)
    assert payload["objects"]["optimizer"]["state"][0]["exp_avg"].equal(moment)
    assert payload["objects"]["counter"] == {"count": 1}


def test_module_versions_survive_the_copy() -> None:
    model = nn.BatchNorm1d(3)

    snapshot = capture(model, model_id="bn", epoch=0)

    copied = snapshot.payload["model"]
    assert isinstance(copied, OrderedDict)
    assert copied._metadata == model.state_dict()._metadata


def test_a_tensor_shared_by_two_keys_is_copied_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(4, 4, bias=False)
            self.decoder = nn.Linear(4, 4, bias=False)
            self.decoder.weight = self.encoder.weight

    snapshot = capture(Tied(), model_id="tied", epoch=0, staging=Staging())

    state = snapshot.payload["model"]
    assert state["encoder.weight"] is state["decoder.weight"]
    assert sum(buffer.shape == (4, 4) for buffer in snapshot.buffers) == 1


def test_staging_buffers_are_reused_once_given_back() -> None:
    staging = Staging()
    model = Model()
    first = capture(model, model_id=model.id, epoch=1, staging=staging)
    addresses = {buffer.data_ptr() for buffer in first.buffers}

    staging.give(first.buffers)
    second = capture(model, model_id=model.id, epoch=2, staging=staging)

    assert {buffer.data_ptr() for buffer in second.buffers} == addresses


def test_stateful_attributes_are_everything_with_a_state_dict_but_modules() -> None:
    assert sorted(stateful_attributes(Model())) == ["counter", "optimizer", "scheduler"]


def test_metadata_is_the_registry_metadata_of_registered_parts() -> None:
    model = Model()

    assert metadata(model) == {"nn": {
        "name": "Network", "arguments": {"features": 8, "hidden": 32, "classes": 3},
        "hash": model.id,
    }}
    assert metadata(nn.Linear(2, 2)) == {}


def test_the_writer_writes_in_order_on_one_thread() -> None:
    seen: list[tuple[int, str]] = []
    writer = Writer(lambda snapshot: seen.append((snapshot.epoch, threading.current_thread().name)))

    for epoch in range(1, 6):
        writer.submit(Snapshot("m", epoch, {}))
    writer.close()

    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4, 5]
    assert {name for _, name in seen} == {"checkpoint-writer"}


def _settle(writer: Writer) -> None:
    """Wait until the worker is idle, without raising what it reported."""
    with writer._changed:
        while writer._waiting or writer._busy:
            writer._changed.wait()


def _failing(epochs: set[int]) -> Writer:
    def write(snapshot: Snapshot) -> None:
        if snapshot.epoch in epochs:
            raise OSError(f"disk full at epoch {snapshot.epoch}")

    return Writer(write)


def test_a_failure_on_the_writer_is_raised_by_flush_once() -> None:
    writer = _failing({1})
    writer.submit(Snapshot("m", 1, {}))

    with pytest.raises(OSError, match="disk full at epoch 1"):
        writer.flush()
    writer.flush()
    writer.close()


def test_a_failure_on_the_writer_is_raised_by_the_next_submit() -> None:
    writer = _failing({1})
    writer.submit(Snapshot("m", 1, {}))
    _settle(writer)  # the worker has failed

    with pytest.raises(OSError, match="disk full at epoch 1"):
        writer.submit(Snapshot("m", 2, {}))
    writer.close()


def test_close_raises_the_first_failure_and_logs_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = _failing({1, 2})
    writer.submit(Snapshot("m", 1, {}))
    _settle(writer)
    with writer._changed:  # queued behind the first failure's report
        writer._waiting.append(Snapshot("m", 2, {}))
        writer._changed.notify_all()

    with pytest.raises(OSError, match="disk full at epoch 1"):
        writer.close()
    assert "a later failure: disk full at epoch 2" in caplog.text
    with pytest.raises(RuntimeError, match="the checkpoint-writer is closed"):
        writer.submit(Snapshot("m", 3, {}))


def test_a_waiting_snapshot_is_dropped_for_a_newer_one_unless_it_is_wanted() -> None:
    release, asked = threading.Event(), threading.Event()
    written: list[int] = []
    dropped: list[int] = []

    def write(snapshot: Snapshot) -> None:
        release.wait(30)
        written.append(snapshot.epoch)

    def supersedes(waiting: Snapshot, newer: Snapshot) -> bool:
        if newer.epoch == 4:
            asked.set()  # submit(4) found epoch 3 waiting
        return not waiting.wanted

    writer = Writer(write, supersedes=supersedes,
                    drop=lambda snapshot: dropped.append(snapshot.epoch))
    writer.submit(Snapshot("m", 1, {}))
    with writer._changed:  # the worker holds epoch 1
        while not writer._busy:
            writer._changed.wait()
    writer.submit(Snapshot("m", 2, {}))
    writer.submit(Snapshot("m", 3, {}, wanted=True))  # epoch 2 is dropped
    later = threading.Thread(target=writer.submit, args=(Snapshot("m", 4, {}),))
    later.start()
    assert asked.wait(30)
    release.set()  # epoch 3 is wanted: submit(4) waits for the worker to take it
    later.join(30)
    writer.close()

    assert dropped == [2]
    assert written == [1, 3, 4]
