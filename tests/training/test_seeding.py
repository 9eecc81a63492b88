"""``seed_everything``: one call, and Python, NumPy, torch and the loaders repeat."""

from __future__ import annotations

import random
from typing import Any

import numpy
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset

from torchsystem.training import TensorLoader, seed_everything


def draws() -> tuple[float, float, float]:
    return random.random(), float(numpy.random.rand()), float(torch.rand(()))


def test_python_numpy_and_torch_repeat_after_the_same_seed() -> None:
    assert seed_everything(123) == 123
    first = draws()
    seed_everything(123)
    again = draws()
    seed_everything(124)

    assert again == first
    assert draws() != first
    assert torch.initial_seed() == 124


def order(loader: Any) -> list[int]:
    return [int(value) for batch in loader for value in batch[0]]


def test_a_tensor_loader_takes_the_seed() -> None:
    loader = TensorLoader(torch.arange(32), batch_size=8, seed=0)

    seed_everything(7, loader)

    assert loader.seed == 7
    assert order(loader) == order(TensorLoader(torch.arange(32), batch_size=8, seed=7))


def test_a_dataloader_with_its_own_generator_repeats_its_order() -> None:
    dataset = TensorDataset(torch.arange(32))
    loader = DataLoader(dataset, batch_size=8, shuffle=True, generator=torch.Generator())
    sampled = DataLoader(dataset, batch_size=8,
                         sampler=RandomSampler(dataset, generator=torch.Generator()))

    seed_everything(3, loader, sampled)
    first, first_sampled = order(loader), order(sampled)
    order(loader)  # a second epoch moves the generators on
    seed_everything(3, loader, sampled)

    assert order(loader) == first
    assert order(sampled) == first_sampled
    assert first != list(range(32))


def test_a_dataloader_without_a_generator_follows_torchs() -> None:
    loader = DataLoader(TensorDataset(torch.arange(32)), batch_size=8, shuffle=True)

    seed_everything(5)
    first = order(loader)
    seed_everything(5, loader)

    assert order(loader) == first


class Noisy(Dataset[tuple[float, float, float]]):
    """Each item drawn from the worker's generators: what augmentations do."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> tuple[float, float, float]:
        return draws()


@pytest.mark.timeout(120)
def test_dataloader_workers_draw_the_same_after_the_same_seed() -> None:
    loader = DataLoader(Noisy(), batch_size=2, num_workers=2)

    seed_everything(11)
    first = [tuple(map(tuple, batch)) for batch in loader]
    seed_everything(11)
    again = [tuple(map(tuple, batch)) for batch in loader]

    assert again == first
    assert len({item for batch in first for item in zip(*batch, strict=True)}) == 4


@pytest.mark.parametrize(("seed", "error", "message"), [
    ("1", TypeError, "seed must be an int, got the string '1'"),
    (True, TypeError, "seed must be an int, got a bool"),
    (-1, ValueError, r"seed must be between 0 and 2\*\*32 - 1, got -1"),
    (2**32, ValueError, "got 4294967296"),
])
def test_a_bad_seed_is_refused(seed: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        seed_everything(seed)


def test_a_loader_that_cannot_be_seeded_is_refused_before_anything_is_seeded() -> None:
    seed_everything(1)
    expected = draws()
    seed_everything(1)

    message = r"cannot seed a list of 3 \(int, int, int\): seed_everything seeds loaders"
    with pytest.raises(TypeError, match=message):
        seed_everything(2, [1, 2, 3])

    assert draws() == expected
