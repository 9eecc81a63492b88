"""``Checkpoints`` as a consumer: what each file holds, retention, failures, the index."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.storage._models import Model, Run, digest, loaders, unwritable
from torchsystem.consumers import Background
from torchsystem.services import Consumer
from torchsystem.storage import CheckpointError, Checkpoints, CheckpointStore
from torchsystem.storage import store as store_module
from torchsystem.storage.restore import set_epoch
from torchsystem.training import Advanced, Stepped, Training

ROOT = Path(__file__).resolve().parents[2]


def _weights(payload: dict[str, Any]) -> str:
    model = Model()
    model.load_state_dict(payload["model"])
    return digest(model)


def test_every_file_holds_the_state_of_the_epoch_it_names_despite_slow_background_consumers(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, keep=100, supersede=False)
    at_boundary: dict[int, str] = {}
    lagging = Consumer()
    release = threading.Event()

    @lagging.handler
    def slowly(event: Stepped) -> None:
        release.wait(0.001)  # a consumer that lags behind on its thread

    watcher = Consumer()

    @watcher.handler
    def remember(event: Advanced) -> None:
        at_boundary[event.epoch] = digest(event.model)

    background = Background(lagging)
    run.training.producer.register(background, watcher)
    model = run.fit(12)
    background.close()

    store = CheckpointStore(tmp_path)
    written = {entry.epoch: _weights(store.read(entry.path, model.id))
               for entry in store.entries(model.id)}
    assert written == at_boundary
    assert len(written) == model.epoch


def test_each_file_holds_everything_a_resume_needs(tmp_path: Path) -> None:
    model = Run(tmp_path).fit(3)
    store = CheckpointStore(tmp_path)

    payload = store.read(store.path(model.id, 3), model.id)

    assert (payload["model_id"], payload["epoch"], payload["step"], payload["stopped"]) == (
        model.id, 3, 27, None
    )
    assert sorted(payload["objects"]) == ["counter", "optimizer", "scheduler"]
    assert payload["objects"]["counter"] == {"count": 27}
    assert payload["objects"]["scheduler"]["last_epoch"] == 3
    assert sorted(payload["loaders"]) == ["train", "validation"]
    assert payload["loaders"]["train"] == {"kind": "state_dict", "state": {"seed": 3, "epoch": 3}}
    cuda = ["cuda"] if torch.cuda.is_available() else []  # the CUDA generators where they exist
    assert sorted(payload["rng"]) == sorted(["numpy", "python", "torch", *cuda])
    assert list(payload["stateful"]) == ["early-stopping"]
    assert list(payload["stateful"]["early-stopping"]["records"]) == [model.id]
    assert payload["metadata"] == {"nn": {
        "name": "Network", "arguments": {"features": 8, "hidden": 32, "classes": 3},
        "hash": model.id,
    }}
    assert payload["class"] == "Model"
    assert set(payload["metrics"]) == {
        "loss/train", "accuracy/train", "loss/validation", "accuracy/validation"
    }


def test_a_dataloaders_generator_state_is_saved(tmp_path: Path) -> None:
    model = Run(tmp_path).fit(2, "dataloader")
    store = CheckpointStore(tmp_path)

    saved = store.read(store.path(model.id, 2), model.id)["loaders"]["train"]

    assert saved["kind"] == "generators"
    generator = torch.Generator().manual_seed(7)
    assert not saved["states"][0].equal(generator.get_state())  # two epochs were drawn


def test_every_saves_every_n_epochs_and_at_the_early_stop(tmp_path: Path) -> None:
    run = Run(tmp_path, keep=100, every=3, supersede=False)

    model = run.fit(40)

    epochs = [entry.epoch for entry in CheckpointStore(tmp_path).entries(model.id)]
    assert model.epoch % 3 != 0  # the early stop is not on the schedule
    assert epochs == [*range(3, model.epoch, 3), model.epoch]


def test_retention_keeps_the_newest_and_the_best_by_the_validation_loss(tmp_path: Path) -> None:
    losses: dict[int, float] = {}
    run = Run(tmp_path, keep=2, best=1, metric="loss/validation", supersede=False)
    watcher = Consumer()

    @watcher.handler
    def remember(event: Advanced) -> None:
        losses[event.epoch] = {
            metric.name: metric.value for metric in event.results["validation"]
        }["loss"]

    run.training.producer.register(watcher)
    model = run.fit(40)

    best = min(losses, key=losses.__getitem__)
    kept = [entry.epoch for entry in CheckpointStore(tmp_path).entries(model.id)]
    assert kept == sorted({best, model.epoch - 1, model.epoch})


def test_deletions_are_made_durable_by_the_next_write_or_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced: list[tuple[Path, list[str]]] = []  # each folder fsync and what it covered
    fsync_folder = store_module._fsync_folder

    def recording(folder: Path) -> None:
        fsync_folder(folder)
        synced.append((folder, sorted(os.listdir(folder))))

    monkeypatch.setattr(store_module, "_fsync_folder", recording)
    model = Model()
    checkpoints = Checkpoints(tmp_path, keep=1, supersede=False)
    folder = checkpoints.store.folder(model.id)
    for epoch in (1, 2, 3):
        set_epoch(model, epoch)
        checkpoints.save(model)
        checkpoints._writer.flush()  # the writer alone, not Checkpoints.flush

    assert [names for at, names in synced if at == folder] == [
        ["epoch-00000001.pt"],
        ["epoch-00000001.pt", "epoch-00000002.pt"],
        ["epoch-00000002.pt", "epoch-00000003.pt"],  # the deletion of epoch 1 with it
    ]
    checkpoints.close()
    assert [names for at, names in synced if at == folder][3:] == [["epoch-00000003.pt"]]
    checkpoints.close()
    assert len([at for at, _ in synced if at == folder]) == 4


def test_an_unwritable_folder_is_refused_before_training(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")

    with pytest.raises(CheckpointError, match=r"file/checkpoints cannot hold checkpoints"):
        Checkpoints(tmp_path / "file" / "checkpoints")


def test_a_write_that_fails_mid_training_is_raised_and_loses_nothing(tmp_path: Path) -> None:
    model = Model()
    folder = tmp_path / model.id
    training = Training()
    checkpoints = Checkpoints(tmp_path, supersede=False)
    training.producer.register(checkpoints)
    training.fit(model, loaders(), 2)
    checkpoints.flush()

    with unwritable(folder):
        training.fit(model, loaders(), 3)  # the write fails on the writer thread
        with pytest.raises(CheckpointError, match=r"epoch-00000003\.pt could not be written"):
            checkpoints.flush()
        checkpoints.close()

    assert sorted(os.listdir(folder)) == ["epoch-00000001.pt", "epoch-00000002.pt"]
    assert CheckpointStore(tmp_path).read(folder / "epoch-00000002.pt", model.id)["epoch"] == 2


def test_closing_writes_what_is_pending(tmp_path: Path) -> None:
    model = Model()
    checkpoints = Checkpoints(tmp_path)
    set_epoch(model, 1)
    checkpoints.save(model)

    checkpoints.close()

    assert [entry.epoch for entry in CheckpointStore(tmp_path).entries(model.id)] == [1]
    with pytest.raises(RuntimeError, match="is closed"):
        checkpoints.save(model)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"keep": 0}, ValueError, "keep must be at least 1"),
        ({"best": -1}, ValueError, "best must be 0 or more"),
        ({"best": 1, "metric": None}, ValueError, "best > 0 needs a metric"),
        ({"mode": "low"}, ValueError, "mode must be 'min' or 'max'"),
        ({"every": 0}, ValueError, "every must be at least 1 epoch"),
        ({"stateful": {"x": object()}}, TypeError, r"stateful\['x'\] is a object, which has no"),
    ],
)
def test_settings_are_checked(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        Checkpoints(tmp_path, **options)


def test_checkpoints_are_indexed_in_the_run_database(tmp_path: Path) -> None:
    from torchsystem.runs import Database, RunRecorder
    from torchsystem.runs.queries import find_checkpoints, find_runs

    database = tmp_path / "runs.db"
    run = Run(tmp_path / "checkpoints", keep=2, database=str(database), supersede=False)
    with RunRecorder(str(database)) as recorder:
        run.training.producer.register(recorder)
        model = run.fit(4, close=False)
        recorder.flush()  # the run is in the database: the index links its rows to it
        run.checkpoints.close()

    with Database(database, create=False) as opened:
        indexed = find_checkpoints(opened, model=model.id)
        recorded = find_runs(opened)
    assert [(row.epoch, Path(row.path).name) for row in indexed] == [
        (4, "epoch-00000004.pt"), (3, "epoch-00000003.pt")
    ]
    assert {row.run for row in indexed} == {recorded[0].id}
    assert set(indexed[0].metrics) == {
        "loss/train", "accuracy/train", "loss/validation", "accuracy/validation"
    }


def test_the_store_works_without_sqlalchemy(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "import torch\n"
        "from torchsystem import Aggregate\n"
        "from torchsystem.storage import Checkpoints\n"
        "class M(Aggregate):\n"
        "    id = 'm'\n"
        "    def __init__(self, epoch):\n"
        "        super().__init__(); self.epoch = epoch; self.nn = torch.nn.Linear(2, 2)\n"
        f"with Checkpoints({str(tmp_path)!r}) as checkpoints:\n"
        "    checkpoints.save(M(3))\n"
        f"with Checkpoints({str(tmp_path)!r}) as checkpoints:\n"
        "    model = checkpoints.restore(M(0))\n"
        "print(model.epoch, sys.modules['sqlalchemy'] is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "False"]


def test_behind_a_slow_disk_waiting_copies_are_superseded_but_never_the_best_or_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = Run(tmp_path, keep=100, best=1, metric="loss/validation")
    write = run.checkpoints.store.write

    def slowly(*args: Any) -> Path:
        time.sleep(0.05)  # a disk slower than the epochs
        return write(*args)

    monkeypatch.setattr(run.checkpoints.store, "write", slowly)
    at_boundary: dict[int, tuple[str, float]] = {}
    watcher = Consumer()

    @watcher.handler
    def remember(event: Advanced) -> None:
        losses = {metric.name: metric.value for metric in event.results["validation"]}
        at_boundary[event.epoch] = (digest(event.model), losses["loss"])

    run.training.producer.register(watcher)
    model = run.fit(40)

    store = CheckpointStore(tmp_path)
    written = {entry.epoch: _weights(store.read(entry.path, model.id))
               for entry in store.entries(model.id)}
    improvements = [epoch for epoch in at_boundary
                    if at_boundary[epoch][1] < min((at_boundary[e][1] for e in at_boundary
                                                    if e < epoch), default=float("inf"))]
    assert run.checkpoints.superseded > 0
    assert len(written) + run.checkpoints.superseded == model.epoch
    assert all(written[epoch] == at_boundary[epoch][0] for epoch in written)
    assert set(improvements) <= set(written)
    assert model.epoch in written
