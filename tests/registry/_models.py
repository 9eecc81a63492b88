"""Registered classes at module level, so pickles and other processes can import them."""

from __future__ import annotations

import enum
import pathlib

import torch
from torch import nn

from torchsystem.registry import register


class Activation(enum.Enum):
    RELU = "relu"
    GELU = "gelu"


@register
class Perceptron(nn.Module):
    """Parameters only (no unregistered submodules), so ``weights_only`` loading accepts it."""

    def __init__(self, inputs: int, outputs: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(outputs, inputs))
        self.register_buffer("scale", torch.ones(outputs))
        self.bias = nn.Parameter(torch.zeros(outputs)) if bias else None


@register("mlp")
class MLP(nn.Module):
    def __init__(self, hidden: Perceptron, output: Perceptron, dropout: float = 0.5) -> None:
        super().__init__()
        self.hidden = hidden
        self.output = output
        self.dropout = dropout


@register
class Settings:
    """Arguments whose plain ``repr`` or iteration order would vary between processes."""

    def __init__(
        self,
        tags: frozenset[str],
        weights: dict[str, float],
        root: pathlib.PurePath,
        activation: Activation = Activation.RELU,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.tags = tags


def settings() -> Settings:
    """The same ``Settings`` in every process (the set and dict orders are seed-dependent)."""
    words = [f"tag-{index}" for index in range(20)]
    return Settings(
        tags=frozenset(words),
        weights={word: len(word) / 3 for word in set(words)},
        root=pathlib.PurePosixPath("runs") / "mlp",
        activation=Activation.GELU,
    )
