"""Resume as a compiler step: bit for bit, without side effects, refusing what does not fit."""

from __future__ import annotations

import logging
import random
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy
import pytest
import torch

from tests.storage._models import Model, Run, digest, loaders, train
from torchsystem.services import Consumer
from torchsystem.storage import CheckpointError, Checkpoints
from torchsystem.storage.restore import set_epoch
from torchsystem.storage.store import CheckpointStore
from torchsystem.training import Training

EPOCHS = 40


@pytest.fixture(scope="module", params=["tensor", "dataloader"])
def uninterrupted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Model]:
    kind = request.param
    return kind, train(tmp_path_factory.mktemp("whole"), EPOCHS, kind)


def test_the_uninterrupted_run_stops_early(uninterrupted: tuple[str, Model]) -> None:
    _, model = uninterrupted
    assert 5 < model.epoch < EPOCHS


@pytest.mark.parametrize("stops", [[1], [2, 5], [3, 4, 9], [1, 2, 3, 4, 5, 6, 7, 8]])
def test_a_run_stopped_and_restarted_ends_with_the_same_weights(
    uninterrupted: tuple[str, Model], tmp_path: Path, stops: list[int],
) -> None:
    kind, whole = uninterrupted
    for stop in stops:
        model = train(tmp_path, stop, kind)
        assert model.epoch == stop

    resumed = train(tmp_path, EPOCHS, kind)

    assert resumed.epoch == whole.epoch
    assert resumed.counter.count == whole.counter.count
    assert resumed.scheduler.last_epoch == whole.scheduler.last_epoch
    assert digest(resumed) == digest(whole)


def test_a_run_restarted_after_its_early_stop_trains_no_more(
    uninterrupted: tuple[str, Model], tmp_path: Path,
) -> None:
    kind, whole = uninterrupted
    train(tmp_path, EPOCHS, kind)
    run = Run(tmp_path)

    again = run.fit(EPOCHS, kind)

    stopped = run.checkpoints.resumed[again.id]
    assert stopped.epoch == whole.epoch
    assert stopped.stopped is not None
    assert "did not improve" in stopped.stopped
    assert digest(again) == digest(whole)


def test_restoring_calls_no_onepoch_steps_no_scheduler_and_dispatches_nothing(
    tmp_path: Path,
) -> None:
    trained = train(tmp_path, 7)
    run = Run(tmp_path)
    seen: list[Any] = []
    recorder = Consumer()
    recorder.register(object, seen.append)
    run.training.producer.register(recorder)

    model = run.compiler.compile()

    assert (model.epoch, model.onepochs) == (7, 0)
    assert model.scheduler.last_epoch == trained.scheduler.last_epoch == 7
    assert model.optimizer.param_groups[0]["lr"] == trained.optimizer.param_groups[0]["lr"]
    assert model.counter.count == trained.counter.count
    assert seen == []
    assert list(model.events.queue) == []


def test_restore_says_what_it_restored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train(tmp_path, 3)
    run = Run(tmp_path)
    caplog.set_level(logging.INFO, "torchsystem.storage")

    model = run.compiler.compile()

    resumed = run.checkpoints.resumed[model.id]
    assert (resumed.model_id, resumed.epoch, resumed.step, resumed.stopped) == (
        model.id, 3, 27, None
    )
    assert resumed.path == tmp_path / model.id / "epoch-00000003.pt"
    assert set(resumed.metrics) == {
        "loss/train", "accuracy/train", "loss/validation", "accuracy/validation"
    }
    assert f"resumed {model.id} at epoch 3 from {resumed.path}" in caplog.text


def test_without_a_checkpoint_the_model_is_left_as_it_is(tmp_path: Path) -> None:
    run = Run(tmp_path)
    torch.manual_seed(0)
    built = Model()
    torch.manual_seed(0)

    model = run.compiler.compile()

    assert model.epoch == 0
    assert run.checkpoints.resumed == {}
    assert digest(model) == digest(built)


def test_the_newest_complete_checkpoint_is_used_when_a_newer_one_is_torn(
    uninterrupted: tuple[str, Model], tmp_path: Path,
) -> None:
    kind, whole = uninterrupted
    train(tmp_path, 4, kind, keep=5, supersede=False)
    newest = next(tmp_path.glob("*/epoch-00000004.pt"))
    newest.write_bytes(newest.read_bytes()[:-100])
    run = Run(tmp_path, keep=5)

    model = run.fit(EPOCHS, kind)

    assert [error.path for error in run.checkpoints.resumed[model.id].skipped] == [newest]
    assert run.checkpoints.resumed[model.id].epoch == 3
    assert digest(model) == digest(whole)


def test_a_newer_checkpoint_with_a_flipped_weight_is_never_applied(
    uninterrupted: tuple[str, Model], tmp_path: Path,
) -> None:
    kind, whole = uninterrupted
    train(tmp_path, 4, kind, keep=5, supersede=False)
    newest = next(tmp_path.glob("*/epoch-00000004.pt"))
    with zipfile.ZipFile(newest) as archive:  # a weight's bytes: torch.load alone takes it
        member = next(info for info in archive.infolist() if info.filename.endswith("/0"))
    data = bytearray(newest.read_bytes())
    name, extra = struct.unpack_from("<HH", data, member.header_offset + 26)
    data[member.header_offset + 30 + name + extra + member.compress_size // 2] ^= 0x01
    newest.write_bytes(bytes(data))
    run = Run(tmp_path, keep=5)

    model = run.fit(EPOCHS, kind)

    skipped = run.checkpoints.resumed[model.id].skipped
    assert [error.path for error in skipped] == [newest]
    assert f"{newest} is truncated or damaged (the bytes of record" in str(skipped[0])
    assert run.checkpoints.resumed[model.id].epoch == 3
    assert digest(model) == digest(whole)


def draws() -> tuple[float, ...]:
    """The next numbers of every generator; ``random.gauss`` uses the one it keeps."""
    return (random.random(), random.gauss(0, 1), float(numpy.random.rand()),
            float(torch.rand(1)))


def test_random_generators_continue_where_the_checkpoint_left_them(tmp_path: Path) -> None:
    torch.manual_seed(5)
    random.seed(5)
    numpy.random.seed(5)
    random.gauss(0, 1)  # draws two: the second is kept for the next call
    model = Model()
    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.save(model)
    expected = draws()
    random.seed(0)
    numpy.random.seed(0)
    torch.manual_seed(0)

    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.restore(Model())

    assert draws() == expected
    python = CheckpointStore(tmp_path).read(
        CheckpointStore(tmp_path).path(model.id, 0), model.id)["rng"]["python"]
    assert python["words"].dtype == torch.int64  # one record, not 625 pickled ints
    assert python["words"].shape == (625,)


def test_a_checkpoint_with_the_python_generator_as_a_tuple_still_restores(
    tmp_path: Path,
) -> None:
    random.seed(5)
    random.gauss(0, 1)
    model = Model()
    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.save(model)
    store = CheckpointStore(tmp_path)
    payload = store.read(store.path(model.id, 0), model.id)
    store.path(model.id, 0).unlink()
    payload["rng"]["python"] = random.getstate()  # how older checkpoints held it
    store.write(model.id, 0, payload)
    expected = draws()
    random.seed(0)

    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.restore(Model())

    assert draws()[:2] == expected[:2]


def test_the_early_stopping_record_is_saved_and_restored(tmp_path: Path) -> None:
    first = Run(tmp_path)
    first.fit(6)
    model_id = Model().id
    saved = first.stopper.state_dict(model_id)
    second = Run(tmp_path)

    second.compiler.compile()

    assert second.stopper.state_dict(model_id) == saved
    record = saved["records"][model_id]
    assert record["best"] > 0
    assert record["waited"] >= 0


def test_a_checkpoint_that_does_not_fit_changes_nothing(tmp_path: Path) -> None:
    class Wider(Model):
        id = "fixed"

        def __init__(self) -> None:
            super().__init__(hidden=64)

    class Narrower(Model):
        id = "fixed"

    training = Training()
    with Checkpoints(tmp_path) as checkpoints:
        training.producer.register(checkpoints)
        training.fit(Wider(), loaders(), 2)
    model = Narrower()
    before = digest(model)

    with Checkpoints(tmp_path) as checkpoints, pytest.raises(
        CheckpointError, match=r"epoch-00000002\.pt does not fit Narrower \(shapes "
        r"\['nn\.layers\.0\.weight \(64, 8\) != \(32, 8\)'"
    ):
        checkpoints.restore(model)

    assert (digest(model), model.epoch, model.optimizer.state_dict()["state"]) == (before, 0, {})


def test_a_checkpoint_missing_a_stateful_attribute_is_refused(tmp_path: Path) -> None:
    class Plain(Model):
        id = "fixed"

    class Scaled(Plain):
        def __init__(self) -> None:
            super().__init__()
            self.scaler = torch.amp.GradScaler("cpu")

    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.save(Plain())

    with Checkpoints(tmp_path) as checkpoints, pytest.raises(
        CheckpointError, match=r"does not fit Scaled: its stateful attributes are \['counter', "
        r"'optimizer', 'scaler', 'scheduler'\], the checkpoint holds \['counter', 'optimizer', "
        r"'scheduler'\]; nothing was restored"
    ):
        checkpoints.restore(Scaled())


class Refusing:
    def state_dict(self) -> dict[str, int]:
        return {"value": 1}

    def load_state_dict(self, state: dict[str, int]) -> None:
        raise ValueError("no, thanks")


def test_a_state_refused_while_applied_rolls_back_what_was_applied(tmp_path: Path) -> None:
    trained = train(tmp_path, 2)
    model = Model()
    before = model.optimizer.state_dict()

    with Checkpoints(tmp_path, stateful={"early-stopping": Refusing()}) as checkpoints, \
            pytest.raises(CheckpointError, match=r"could not be restored into stateful object "
                          r"'early-stopping' \(no, thanks\); nothing was restored"):
        checkpoints.restore(model)

    assert model.optimizer.state_dict() == before
    assert (model.epoch, model.counter.count) == (0, 0)
    assert trained.counter.count > 0


def test_training_without_restoring_the_loaders_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    train(tmp_path, 2)
    run = Run(tmp_path)
    model = run.compiler.compile()

    run.training.fit(model, loaders(), 3)
    run.checkpoints.close()

    assert "the 'train' loader of" in caplog.text
    assert "call checkpoints.restore_loaders(model, loaders) before training" in caplog.text


def test_a_loader_of_another_kind_is_refused_by_restore_loaders(tmp_path: Path) -> None:
    train(tmp_path, 2, "tensor")
    run = Run(tmp_path)
    model = run.compiler.compile()
    plain = [("train", [(torch.zeros(1, 8), torch.zeros(1, dtype=torch.long))])]

    with pytest.raises(CheckpointError, match=r"holds a 'state_dict' state for the 'train' "
                       "loader, which list cannot take"):
        run.checkpoints.restore_loaders(model, plain)
    run.checkpoints.close()


def test_a_hand_written_loop_saves_with_save(tmp_path: Path) -> None:
    model = Model()
    with Checkpoints(tmp_path, keep=3, supersede=False) as checkpoints:
        for epoch in range(1, 4):
            set_epoch(model, epoch)
            checkpoints.save(model, metrics={"loss/train": 1.0 / epoch})

    store = CheckpointStore(tmp_path)
    assert [entry.epoch for entry in store.entries(model.id)] == [1, 2, 3]
    assert store.summary(store.path(model.id, 2), model.id).metrics == {"loss/train": 0.5}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_checkpoint_written_on_the_cpu_resumes_on_a_gpu(tmp_path: Path) -> None:
    trained = train(tmp_path, 3)
    with Checkpoints(tmp_path) as checkpoints:
        model = checkpoints.restore(Model(), device="cuda")

    assert next(model.parameters()).is_cuda
    assert model.epoch == 3
    state = model.optimizer.state_dict()["state"][0]["exp_avg"]
    assert state.is_cuda
    assert digest(model) == digest(trained)


def test_restored_parameters_stay_the_objects_the_optimizer_holds(tmp_path: Path) -> None:
    class Normed(Model):
        id = "normed"

        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(3)  # loads through its own _load_from_state_dict

    saved = Normed()
    saved.norm.running_mean.fill_(0.5)
    saved.fit(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))
    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.save(saved)
    model = Normed()
    parameters = list(model.parameters())

    with Checkpoints(tmp_path) as checkpoints:
        checkpoints.restore(model)

    assert all(a is b for a, b in zip(model.parameters(), parameters, strict=True))
    assert model.optimizer.param_groups[0]["params"][0] is model.nn.layers[0].weight
    assert model.norm.running_mean.equal(torch.full((3,), 0.5))
    assert digest(model) == digest(saved)
    model.fit(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))  # the optimizer steps them
    assert not model.nn.layers[0].weight.equal(saved.nn.layers[0].weight)
