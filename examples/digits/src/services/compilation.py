"""Compilation: build the Classifier aggregate step by step."""

from __future__ import annotations

from logging import getLogger

from torch.nn import Module
from torch.optim import Optimizer

from src.classifier import Classifier
from torchsystem import Depends
from torchsystem.compiler import Compiler, compile  # noqa: A004 - the seed's name

logger = getLogger(__name__)
compiler = Compiler[Classifier]()


def device() -> str:
    raise NotImplementedError("the application layer decides the device")


def epoch() -> int:
    return 0  # where a run database would say how many epochs this model already trained


@compiler.step
def build_classifier(model: Module, criterion: Module, optimizer: Optimizer) -> Classifier:
    logger.info("building classifier")
    return Classifier(model, criterion, optimizer)


@compiler.step
def move_to_device(classifier: Classifier, device: str = Depends(device)) -> Classifier:
    logger.info("moving classifier to %s", device)
    return classifier.to(device)


@compiler.step
def compile_classifier(classifier: Classifier, device: str = Depends(device)) -> Classifier:
    if device.startswith("cuda"):  # torch.compile pays off on a GPU; on a CPU it only costs
        logger.info("compiling classifier")
        return compile(classifier)
    return classifier


@compiler.step
def get_current_epoch(classifier: Classifier, epoch: int = Depends(epoch)) -> Classifier:
    classifier.epoch = epoch
    return classifier
