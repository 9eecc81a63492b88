"""The network: a registered MLP, so its constructor arguments give it an identity."""

from __future__ import annotations

from torch import Tensor, nn

from torchsystem.registry import register


@register
class MLP(nn.Module):
    """``input -> hidden -> classes`` with ReLU and dropout."""

    def __init__(self, input: int = 64, hidden: int = 128, classes: int = 10, dropout: float = 0.1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes)
        )

    def forward(self, input: Tensor) -> Tensor:
        return self.layers(input)
