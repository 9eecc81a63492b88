"""Classes whose annotations are strings, via ``from __future__ import annotations``."""

from __future__ import annotations

from typing import Optional


class Optimizer:
    def __init__(
        self,
        lr: float,
        momentum: float | None = None,
        nesterov: Optional[bool] = None,  # noqa: UP045 - kept as written in the signature
        betas: tuple[float, float] = (0.9, 0.999),
    ) -> None:
        self.lr = lr
