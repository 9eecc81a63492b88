"""How what the service is given is described in errors: never the data itself."""

from __future__ import annotations

import pytest
import torch

from tests.training._models import Classifier
from torchsystem.training import Training
from torchsystem.training._arguments import describe


@pytest.mark.parametrize(
    ("value", "description"),
    [
        ((torch.ones(2), torch.ones(2), 1, "a"), "a tuple of 4 (Tensor, Tensor, int, str)"),
        ([torch.ones(2)] * 5, "a list of 5 (Tensor, Tensor, Tensor, Tensor, ...)"),
        ((), "an empty tuple"),
        ({"image": torch.ones(2), "label": 1}, "a dict with keys ('image', 'label')"),
        (dict.fromkeys("abcde"), "a dict with keys ('a', 'b', 'c', 'd')"),
        ({"k" * 40: 1}, f"a dict with keys ({('k' * 40)!r:.30})"),
        ("x" * 100, f"the string {('x' * 100)!r:.40}"),
        (torch.ones(1000), "a Tensor"),
    ],
)
def test_describe_names_types_not_values(value: object, description: str) -> None:
    assert describe(value) == description


def test_a_mapping_given_as_a_pair_is_described_by_its_keys() -> None:
    with pytest.raises(TypeError, match=r"item 0 is a dict with keys \('train'\)"):
        Training().iterate(Classifier(), [{"train": [torch.ones(2)]}])
