"""``Mean`` and ``Accuracy``: torchmetrics' update/compute/reset, accumulated on the device."""

import pytest
import torch

from torchsystem.training import Accuracy, Mean, MetricLike


def test_mean_weighs_each_value() -> None:
    mean = Mean()
    mean.update(torch.tensor(1.0), weight=1)
    mean.update(torch.tensor(4.0), weight=3)

    assert float(mean.compute()) == pytest.approx(3.25)


def test_mean_returns_a_tensor_on_the_values_device() -> None:
    mean = Mean()
    mean.update(torch.tensor(2.0, device="meta"))

    result = mean.compute()

    assert isinstance(result, torch.Tensor)
    assert result.device.type == "meta"


def test_mean_detaches_the_values() -> None:
    weight = torch.tensor(2.0, requires_grad=True)
    mean = Mean()
    mean.update(weight * 3)

    assert not mean.compute().requires_grad


def test_mean_reset_forgets_the_values() -> None:
    mean = Mean()
    mean.update(torch.tensor(10.0))
    mean.reset()
    mean.update(torch.tensor(2.0))

    assert float(mean.compute()) == pytest.approx(2.0)


def test_mean_compute_before_update_raises() -> None:
    with pytest.raises(ValueError, match=r"Mean.compute\(\) before any update"):
        Mean().compute()


def test_accuracy_of_class_indexes() -> None:
    accuracy = Accuracy()
    accuracy.update(torch.tensor([1, 0, 2]), torch.tensor([1, 1, 2]))

    assert float(accuracy.compute()) == pytest.approx(2 / 3)


def test_accuracy_reduces_scores_with_argmax() -> None:
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    accuracy = Accuracy()
    accuracy.update(scores, torch.tensor([1, 0, 0, 0]))

    assert float(accuracy.compute()) == pytest.approx(0.75)


def test_accuracy_accumulates_over_batches() -> None:
    accuracy = Accuracy()
    accuracy.update(torch.tensor([1, 1]), torch.tensor([1, 1]))
    accuracy.update(torch.tensor([0, 0, 0, 0]), torch.tensor([1, 1, 1, 0]))

    assert float(accuracy.compute()) == pytest.approx(3 / 6)


def test_accuracy_returns_a_tensor_on_the_predictions_device() -> None:
    accuracy = Accuracy()
    accuracy.update(torch.zeros(4, device="meta"), torch.zeros(4, device="meta"))

    assert accuracy.compute().device.type == "meta"


def test_accuracy_reset_forgets_the_counts() -> None:
    accuracy = Accuracy()
    accuracy.update(torch.tensor([0, 0]), torch.tensor([1, 1]))
    accuracy.reset()
    accuracy.update(torch.tensor([1]), torch.tensor([1]))

    assert float(accuracy.compute()) == pytest.approx(1.0)


def test_accuracy_compute_before_update_raises() -> None:
    with pytest.raises(ValueError, match=r"Accuracy.compute\(\) before any update"):
        Accuracy().compute()


@pytest.mark.parametrize("cls", [Mean, Accuracy])
def test_metrics_follow_the_torchmetrics_protocol(cls: type) -> None:
    assert isinstance(cls(), MetricLike)
