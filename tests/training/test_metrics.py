"""``Mean`` and ``Accuracy``: torchmetrics' update/compute/reset, accumulated on the device."""

import pytest
import torch

from torchsystem.training import Accuracy, Mean, MetricLike, metric_factories


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
    class NoReset:
        def update(self, prediction: object, target: object) -> None: ...

        def compute(self) -> float:
            return 0.0

    assert isinstance(cls(), MetricLike)
    assert not isinstance(NoReset(), MetricLike)


def test_accuracy_compares_across_chunks() -> None:
    accuracy = Accuracy(chunk=2)
    for prediction, target in [([1, 1], [1, 0]), ([0], [0]), ([2, 2], [2, 2]), ([1], [0])]:
        accuracy.update(torch.tensor(prediction), torch.tensor(target))

    assert float(accuracy.compute()) == pytest.approx(4 / 6)


def test_accuracy_refuses_an_empty_chunk() -> None:
    with pytest.raises(ValueError, match="chunk must be at least 1 batch, got 0"):
        Accuracy(chunk=0)


def test_mean_of_one_element_batches_of_any_shape() -> None:
    mean = Mean()
    mean.update(torch.tensor([2.0]), weight=1)
    mean.update(torch.tensor(4.0), weight=1)

    assert float(mean.compute()) == pytest.approx(3.0)


# --- metric_factories ------------------------------------------------------------------


def test_a_prototype_gives_reset_copies() -> None:
    prototype = Accuracy()
    prototype.update(torch.tensor([1]), torch.tensor([0]))

    made = metric_factories({"accuracy": prototype})["accuracy"]()

    assert made is not prototype
    with pytest.raises(ValueError, match="before any update"):
        made.compute()
    assert float(prototype.compute()) == 0.0


def test_a_class_is_a_factory() -> None:
    factory = metric_factories({"accuracy": Accuracy})["accuracy"]

    first, second = factory(), factory()

    assert type(first) is Accuracy
    assert first is not second


def test_no_metrics_give_no_factories() -> None:
    assert metric_factories(None) == {}
    assert metric_factories({}) == {}
