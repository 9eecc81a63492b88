"""``Training.predict``: outputs per batch, under inference mode, returned or streamed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.training._models import Classifier, data, recorder
from torchsystem import Aggregate
from torchsystem.training import TensorLoader, Training, device


class Labeller(Aggregate):
    """An aggregate with a ``predict`` method that records what it sees."""

    id = "labeller"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.nn = nn.Linear(8, 3)
        self.seen: list[dict[str, Any]] = []

    def predict(self, inputs: Tensor, *rest: Any, **keywords: Any) -> Tensor:
        self.seen.append({
            "rest": len(rest), "keywords": sorted(keywords), "device": inputs.device,
            "inference": torch.is_inference_mode_enabled(), "training": self.nn.training,
        })
        if inputs.device.type == "meta":
            return inputs
        output: Tensor = self.nn(inputs).argmax(dim=1)
        return output


def test_predict_returns_one_output_per_batch_computed_without_gradients() -> None:
    model, (inputs, target) = Labeller(), data(20)
    loader = TensorLoader(inputs, target, batch_size=8, shuffle=False)

    outputs = Training().predict(model, loader)

    assert [len(output) for output in outputs] == [8, 8, 4]
    assert torch.equal(torch.cat(outputs), model.nn(inputs).argmax(dim=1))
    assert all(output.is_inference() for output in outputs)
    assert [seen["inference"] for seen in model.seen] == [True] * 3
    assert [seen["training"] for seen in model.seen] == [False] * 3
    assert model.phase == "evaluation"


def test_a_model_without_predict_is_called_on_the_batch() -> None:
    model, inputs = Classifier(), torch.randn(6, 8)

    outputs = Training().predict(model, [inputs[:4], inputs[4:]])

    assert torch.equal(torch.cat(outputs), model(inputs))


def test_batches_reach_predict_by_the_batch_rule() -> None:
    model, inputs = Labeller(), torch.randn(4, 8)

    Training().predict(model, [
        (inputs, torch.zeros(4)),  # (inputs, target): predict(inputs, target)
        (inputs, 1, 2),  # spread
        {"inputs": inputs, "mask": torch.ones(4)},  # keywords
        inputs,  # one argument
    ])

    assert [(seen["rest"], seen["keywords"]) for seen in model.seen] == [
        (1, []), (2, []), (0, ["mask"]), (0, []),
    ]


def test_a_stream_computes_each_output_when_asked_and_leaves_inference_mode_between() -> None:
    model, inputs = Labeller(), torch.randn(12, 8)

    stream = Training().predict(model, [inputs[:4], inputs[4:8], inputs[8:]], stream=True)
    assert model.seen == []
    first = next(stream)  # type: ignore[call-overload]

    assert len(model.seen) == 1
    assert not torch.is_inference_mode_enabled()
    assert first.is_inference()
    assert len(list(stream)) == 2  # type: ignore[call-overload]
    assert len(model.seen) == 3


def test_predict_sends_batches_to_the_injected_device() -> None:
    training, model = Training(), Labeller()
    training.override(device, lambda: "meta")

    outputs = training.predict(model, [torch.randn(2, 8)])

    assert outputs[0].device.type == "meta"
    assert model.seen[0]["device"] == torch.device("meta")


def test_predict_is_limited_like_the_phases() -> None:
    model = Labeller()
    batches = [torch.randn(2, 8) for _ in range(5)]

    assert len(Training(limit_batches=2).predict(model, batches)) == 2
    assert len(Training(limit_batches={"predict": 3}).predict(model, batches)) == 3
    assert len(Training(limit_batches={"train": 1}).predict(model, batches)) == 5
    assert len(Training().predict(model, batches, limit_batches=1)) == 1


def test_predicting_dispatches_nothing_and_an_empty_loader_gives_nothing() -> None:
    training = Training()
    seen = recorder(training.producer)

    assert training.predict(Labeller(), []) == []
    training.predict(Labeller(), [torch.randn(2, 8)])

    assert seen == []


def test_a_tensor_is_refused_as_batches() -> None:
    expected = r"got a tensor of shape \(4, 8\); for one batch pass \[inputs\]"
    with pytest.raises(TypeError, match=expected):
        Training().predict(Labeller(), torch.randn(4, 8))


def test_what_cannot_be_iterated_is_refused() -> None:
    with pytest.raises(TypeError, match=r"predict takes batches .* got a int"):
        Training().predict(Labeller(), 3)


def test_a_plain_module_is_refused_before_any_batch() -> None:
    with pytest.raises(TypeError, match="Linear has no `phase` property"):
        Training().predict(nn.Linear(8, 3), [torch.randn(2, 8)])


def test_predict_is_called_by_name() -> None:
    model, inputs = Labeller(), torch.randn(3, 8)

    outputs = Training().handle("predict", model, [inputs])

    assert torch.equal(outputs[0], model.nn(inputs).argmax(dim=1))
