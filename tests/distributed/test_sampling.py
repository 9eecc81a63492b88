"""Shards of one global order: together they are what one process sees."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, TensorDataset

from torchsystem.distributed import (
    ShardedLoader,
    ShardedTensorLoader,
    ShardSampler,
    distribute,
    shard,
)
from torchsystem.training import TensorLoader


def test_two_shards_of_batch_b_make_the_batches_of_one_loader_of_batch_2b() -> None:
    x = torch.arange(40.0)
    whole = TensorLoader(x, batch_size=8, seed=5)
    shards = [ShardedTensorLoader(x, batch_size=4, seed=5, rank=r, world_size=2) for r in (0, 1)]

    for _ in range(3):  # three epochs, each reshuffled
        expected = [sorted(batch.tolist()) for batch, in whole]
        first, second = ([batch.tolist() for batch, in loader] for loader in shards)
        got = [sorted(a + b) for a, b in zip(first, second, strict=True)]
        assert got == expected
    assert [loader.epoch for loader in shards] == [3, 3]


def test_even_shards_pad_by_repeating_the_start_and_exact_ones_do_not() -> None:
    even = [shard(5, r, 2, shuffle=False, seed=0, epoch=0, even=True).tolist() for r in (0, 1)]
    exact = [shard(5, r, 2, shuffle=False, seed=0, epoch=0, even=False).tolist() for r in (0, 1)]

    assert even == [[0, 2, 4], [1, 3, 0]]
    assert exact == [[0, 2, 4], [1, 3]]


def test_a_sharded_tensor_loader_counts_its_own_batches_and_resumes() -> None:
    x = torch.arange(10.0)
    loader = ShardedTensorLoader(x, batch_size=2, rank=1, world_size=3, even=False)
    list(loader)
    resumed = ShardedTensorLoader(x, batch_size=2, rank=1, world_size=3, even=False)
    resumed.load_state_dict(loader.state_dict())

    assert len(loader) == 2  # samples 1, 4, 7 in batches of 2
    assert [b.tolist() for b, in loader] == [b.tolist() for b, in resumed]
    assert "rank=1, world_size=3" in repr(loader)


def test_a_rank_outside_the_world_is_refused() -> None:
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size\), got rank 2 of 2"):
        ShardedTensorLoader(torch.zeros(4), rank=2, world_size=2)


def test_the_sampler_is_a_distributed_sampler_reseeded_by_epoch() -> None:
    sampler = ShardSampler(range(12), num_replicas=2, rank=0, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)

    assert isinstance(sampler, DistributedSampler)
    assert len(first) == len(sampler) == 6
    assert list(sampler) != first
    assert first == shard(12, 0, 2, shuffle=True, seed=1, epoch=0, even=True).tolist()


def test_a_sharded_data_loader_sets_the_epoch_before_each_pass_and_resumes() -> None:
    dataset = TensorDataset(torch.arange(12.0))
    loader = ShardedLoader(dataset, batch_size=3, rank=0, world_size=2, seed=4)
    epochs = [[b.tolist() for b, in loader] for _ in range(2)]
    resumed = ShardedLoader(dataset, batch_size=3, rank=0, world_size=2)
    resumed.load_state_dict({"seed": 4, "epoch": 1})

    assert epochs[0] != epochs[1]
    assert [b.tolist() for b, in resumed] == epochs[1]
    assert loader.state_dict() == {"seed": 4, "epoch": 2}


def test_distribute_shards_training_evenly_and_evaluation_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    x = torch.arange(7.0)
    made = distribute([("train", TensorLoader(x, batch_size=2)),
                       ("validation", DataLoader(TensorDataset(x), batch_size=2))])

    (train, sharded), (validation, loader) = made
    assert (train, validation) == ("train", "validation")
    assert isinstance(sharded, ShardedTensorLoader)
    assert sharded.even
    assert sharded.rank == 1
    assert isinstance(loader, ShardedLoader)
    assert not loader.sampler.even
    assert [b.tolist() for b, in loader] == [[1.0, 3.0], [5.0]]  # not shuffled, not padded
    assert distribute({"train": sharded}) == {"train": sharded}  # already sharded


def test_in_one_process_a_tensor_loader_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    loader = TensorLoader(torch.zeros(4))

    assert distribute(loader) is loader


def test_what_cannot_be_sharded_is_refused() -> None:
    class Stream(IterableDataset[int]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(range(3))

    with pytest.raises(TypeError, match="distribute shards a TensorLoader or a DataLoader, "
                                        "got list"):
        distribute([("train", [1, 2])])
    with pytest.raises(TypeError, match=r"an IterableDataset .* must shard itself"):
        distribute(DataLoader(Stream(), batch_size=1))
