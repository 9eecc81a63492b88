"""The application layer: wire overrides and consumers, then train until early stopping.

    python -m src.main [--epochs 100] [--runs runs] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import logging

import torch
from torch.nn import CrossEntropyLoss
from torch.optim import Adam

from src.data import digits
from src.model import MLP
from src.services import compilation, earlystopping, training
from torchsystem.consumers import Background, EarlyStopping, EpochSummary, ProgressBar, TensorBoard


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="most epochs to train")
    parser.add_argument("--runs", default="runs", help="TensorBoard log directory")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a model this small only loses from intra-op threads

    training.service.override(training.device, device)
    compilation.compiler.override(compilation.device, device)
    board = Background(TensorBoard(args.runs))  # event files are written off the training thread
    training.producer.register(
        ProgressBar(),
        EpochSummary("digits"),
        board,
        EarlyStopping("loss", mode="min", patience=5, min_delta=1e-3),
        earlystopping.consumer,
    )

    nn = MLP(input=64, hidden=128, classes=10)
    classifier = compilation.compiler.compile(
        nn, CrossEntropyLoss(), Adam(nn.parameters(), lr=3e-3)
    )
    try:
        training.service.fit(classifier, digits(args.batch_size, seed=args.seed), args.epochs)
    finally:
        board.close()
    print(f"trained {classifier.id} for {classifier.epoch} epochs; logs in {args.runs}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
