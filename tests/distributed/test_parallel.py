"""``DataParallel`` in one process: nothing without a group; with a group of one (gloo),
the networks run through DDP and keep their keys, identity and optimizer."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
from torch import nn

from tests.distributed._system import Accumulating, CountedAverage, Regressor, weights
from torchsystem.distributed import DataParallel, joined, replica


@pytest.fixture
def group() -> Iterator[None]:
    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_without_a_group_the_step_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    model = Regressor()

    assert DataParallel()(model) is model
    assert replica(model.nn) is None
    assert not joined()


def test_the_network_runs_through_ddp_with_its_keys_and_identity_unchanged(group: None) -> None:
    torch.manual_seed(0)
    plain, replicated = Regressor(), Regressor()
    replicated.load_state_dict(plain.state_dict())
    before = (replicated.id, list(replicated.state_dict()))
    DataParallel()(replicated)
    inputs, target = torch.randn(6, 4), torch.randn(6, 1)
    plain.fit(inputs, target)
    replicated.fit(inputs, target)

    assert isinstance(replica(replicated.nn), nn.parallel.DistributedDataParallel)
    assert (replicated.id, list(replicated.state_dict())) == before
    for key, value in weights(plain).items():
        torch.testing.assert_close(replicated.state_dict()[key], value)
    DataParallel()(replicated)  # again: no second replica
    assert replica(replicated.nn) is not None


def test_an_aggregate_with_parameters_of_its_own_is_replicated_whole(group: None) -> None:
    class Direct(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(2))

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return inputs * self.weight

    model = DataParallel()(Direct())

    assert replica(model) is not None
    assert model(torch.ones(2)).tolist() == [1.0, 1.0]
    assert list(model.state_dict()) == ["weight"]


def test_named_modules_are_checked(group: None) -> None:
    with pytest.raises(ValueError, match=r"names \['net'\], which are not submodules of "
                                         r"Regressor; it has \['nn'\]"):
        DataParallel(modules=["net"])(Regressor())
    with pytest.raises(ValueError, match="Flatten has no trainable parameters; there is "
                                         "nothing for DataParallel to replicate"):
        DataParallel()(nn.Flatten())


def test_a_replicated_network_refuses_to_be_copied(group: None) -> None:
    model = DataParallel()(Regressor())

    with pytest.raises(TypeError, match=r"cannot be pickled or copied .* save or copy its "
                                        "state_dict"):
        copy.deepcopy(model)
    with pytest.raises(TypeError, match="cannot be pickled or copied"):
        pickle.dumps(model.nn)


def accumulated_epoch(model: Accumulating, batches: int = 4) -> None:
    generator = torch.Generator().manual_seed(5)
    for _ in range(batches):
        model.fit(torch.randn(6, 4, generator=generator), torch.randn(6, 1, generator=generator))
    model.optimization.flush()


def test_an_accumulation_window_all_reduces_once(group: None) -> None:
    torch.manual_seed(0)
    plain, replicated = Accumulating(), Accumulating()
    replicated.load_state_dict(plain.state_dict())
    accumulated_epoch(replicated, batches=1)  # used before the replica exists
    accumulated_epoch(plain, batches=1)
    counted = CountedAverage()
    DataParallel(comm_hook=counted.hook)(replicated)
    accumulated_epoch(replicated)
    accumulated_epoch(plain)

    assert counted.calls == 1  # the window of 3; the window of 1 is flushed locally
    for key, value in weights(plain).items():
        torch.testing.assert_close(replicated.state_dict()[key], value)


def test_a_forward_pass_outside_autocast_synchronises_as_usual(group: None) -> None:
    model = Accumulating()
    counted = CountedAverage()
    DataParallel(comm_hook=counted.hook)(model)
    generator = torch.Generator().manual_seed(5)
    for _ in range(4):
        loss = nn.functional.mse_loss(model(torch.randn(6, 4, generator=generator)),
                                      torch.randn(6, 1, generator=generator))
        model.optimization.step(loss)

    assert counted.calls == 4
    assert model.optimization.steps == 1
