"""Compilation: build the Classifier aggregate step by step."""

from __future__ import annotations

from logging import getLogger

from torch.nn import Module
from torch.optim import Optimizer

from src.classifier import Classifier
from torchsystem import Depends
from torchsystem.compiler import Compiler, compile  # noqa: A004 - torchsystem 1.3's name
from torchsystem.depends import Provider

logger = getLogger(__name__)


def device() -> str:
    raise NotImplementedError("the application decides the device (bootstrap overrides it)")


def epoch() -> int:
    return 0  # where a run database would say how many epochs this model already trained


def build_classifier(model: Module, criterion: Module, optimizer: Optimizer) -> Classifier:
    logger.info("building classifier")
    return Classifier(model, criterion, optimizer)


def move_to_device(classifier: Classifier, device: str = Depends(device)) -> Classifier:
    logger.info("moving classifier to %s", device)
    return classifier.to(device)


def compile_classifier(classifier: Classifier, device: str = Depends(device)) -> Classifier:
    if device.startswith("cuda"):  # torch.compile pays off on a GPU; on a CPU it only costs
        logger.info("compiling classifier")
        return compile(classifier)
    return classifier


def get_current_epoch(classifier: Classifier, epoch: int = Depends(epoch)) -> Classifier:
    classifier.epoch = epoch
    return classifier


STEPS = (build_classifier, move_to_device, compile_classifier, get_current_epoch)


def compiler(provider: Provider) -> Compiler[Classifier]:
    """A compiler running ``STEPS`` in order, its overrides taken from ``provider``."""
    made = Compiler[Classifier](provider=provider)
    for step in STEPS:
        made.register(step)
    return made
