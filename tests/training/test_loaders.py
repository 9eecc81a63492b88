"""``TensorLoader``: in-memory batches by slicing, seeded shuffling per epoch."""

import pytest
import torch

from torchsystem.training import TensorLoader


def _order(loader: TensorLoader) -> list[int]:
    """The sample indexes of one epoch, in the order the loader yields them."""
    return [int(i) for (batch,) in loader for i in batch]


def _indexes(samples: int = 10) -> torch.Tensor:
    return torch.arange(samples)


def test_len_counts_the_last_partial_batch() -> None:
    loader = TensorLoader(_indexes(10), batch_size=4)

    assert len(loader) == 3
    assert [len(batch) for (batch,) in loader] == [4, 4, 2]


def test_drop_last_leaves_out_the_partial_batch() -> None:
    loader = TensorLoader(_indexes(10), batch_size=4, drop_last=True)

    assert len(loader) == 2
    assert [len(batch) for (batch,) in loader] == [4, 4]


def test_len_matches_the_batches_when_the_size_divides() -> None:
    loader = TensorLoader(_indexes(12), batch_size=4, drop_last=True)

    assert len(loader) == 3
    assert [len(batch) for (batch,) in loader] == [4, 4, 4]


def test_every_sample_appears_exactly_once_per_epoch() -> None:
    loader = TensorLoader(_indexes(50), batch_size=8, seed=3)

    for _ in range(3):
        assert sorted(_order(loader)) == list(range(50))


def test_shuffling_keeps_the_tensors_aligned() -> None:
    inputs = torch.arange(20).float().unsqueeze(1) * 10
    target = torch.arange(20)
    loader = TensorLoader(inputs, target, batch_size=6, seed=1)

    for batch, labels in loader:
        assert torch.equal(batch.squeeze(1), labels.float() * 10)


def test_same_seed_gives_the_same_order() -> None:
    first = TensorLoader(_indexes(64), batch_size=8, seed=7)
    second = TensorLoader(_indexes(64), batch_size=8, seed=7)

    assert [_order(first) for _ in range(3)] == [_order(second) for _ in range(3)]


def test_another_seed_gives_another_order() -> None:
    first = TensorLoader(_indexes(64), batch_size=8, seed=7)
    second = TensorLoader(_indexes(64), batch_size=8, seed=8)

    assert _order(first) != _order(second)


def test_each_epoch_has_a_new_order() -> None:
    loader = TensorLoader(_indexes(64), batch_size=8, seed=7)

    epochs = [_order(loader) for _ in range(3)]

    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]


def test_shuffle_false_keeps_the_order() -> None:
    loader = TensorLoader(_indexes(10), batch_size=3, shuffle=False)

    assert _order(loader) == list(range(10))
    assert _order(loader) == list(range(10))


def test_unshuffled_batches_are_views_of_the_tensors() -> None:
    inputs = torch.arange(10.0)
    loader = TensorLoader(inputs, batch_size=4, shuffle=False)

    (first,) = next(iter(loader))

    assert first.untyped_storage().data_ptr() == inputs.untyped_storage().data_ptr()


def test_mismatched_lengths_raise_naming_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"differ in length.*\(10, 3\), \(9,\)"):
        TensorLoader(torch.zeros(10, 3), torch.zeros(9))


def test_no_tensor_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorLoader()


def test_batch_size_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        TensorLoader(_indexes(), batch_size=0)


def test_state_dict_resumes_the_next_epochs_order() -> None:
    original = TensorLoader(_indexes(64), batch_size=8, seed=5)
    _order(original)
    _order(original)
    state = original.state_dict()
    expected = _order(original)

    resumed = TensorLoader(_indexes(64), batch_size=8, seed=0)
    resumed.load_state_dict(state)

    assert _order(resumed) == expected


def test_state_dict_records_the_seed_and_the_epochs_drawn() -> None:
    loader = TensorLoader(_indexes(), seed=11)
    _order(loader)

    assert loader.state_dict() == {"seed": 11, "epoch": 1}


def test_device_moves_the_tensors_up_front() -> None:
    loader = TensorLoader(_indexes(), device="meta")

    assert all(t.device.type == "meta" for t in loader.tensors)


def test_repr_shows_the_shapes_and_batch_size() -> None:
    loader = TensorLoader(torch.zeros(10, 3), _indexes(10), batch_size=4)

    assert repr(loader) == "TensorLoader((10, 3), (10,), batch_size=4, shuffle=True)"


@pytest.mark.parametrize(("samples", "drop_last"), [
    (0, False), (0, True), (5, True), (5, False), (16, False), (17, False), (17, True),
])
def test_the_batches_yielded_are_as_many_as_the_length_says(samples: int, drop_last: bool) -> None:
    loader = TensorLoader(torch.arange(samples), batch_size=8, drop_last=drop_last)

    sizes = [len(batch) for (batch,) in loader]

    assert len(sizes) == len(loader)
    assert all(0 < size <= 8 for size in sizes)
    assert sum(sizes) == (samples - samples % 8 if drop_last else samples)
