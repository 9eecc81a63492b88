"""torchsystem 1.3's README example, wired in-process on a tiny data set.

The README's modules (``src/domain.py``, ``src/services/training.py``, ...) are written out
as closely as possible inside ``_build``; each test builds a fresh application. Only the
README's slips are fixed: the duplicated line in ``iterate``, ``validate`` dispatching
``Trained``, the missing imports; events carry the computed metrics (the ``sequence`` the
README computes and then drops), the consumers are registered with the producer, and
``compile`` uses ``backend="eager"`` so the test stays fast on CPU.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import pytest
import torch
from torch import Tensor, argmax, cuda, inference_mode
from torch.nn import CrossEntropyLoss, Flatten, Linear, Module, ReLU, Sequential
from torch.optim import Adam, Optimizer
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard.writer import SummaryWriter

from torchsystem import Depends, Events
from torchsystem.compiler import Compiler, compile  # noqa: A004 - the README's import
from torchsystem.domain import Aggregate, Event
from torchsystem.registry import gethash, register
from torchsystem.services import Consumer, Producer, Service, Subscriber, event


@register
class MLP(Module):
    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.layers = Sequential(
            Linear(input_size, hidden_size), ReLU(), Linear(hidden_size, output_size)
        )

    def forward(self, inputs: Tensor) -> Tensor:
        return self.layers(inputs)


@dataclass
class Metric:
    name: str
    value: float


class Metrics:
    """Average loss and accuracy since the last ``compute``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss, self.batches, self.correct, self.total = 0.0, 0, 0, 0

    def update(self, batch: int, loss: Tensor, prediction: Tensor, target: Tensor) -> None:
        self.loss += loss.item()
        self.batches += 1
        self.correct += int((prediction == target).sum().item())
        self.total += target.numel()

    def compute(self) -> Sequence[Metric]:
        result = [
            Metric("loss", self.loss / self.batches),
            Metric("accuracy", self.correct / self.total),
        ]
        self.reset()
        return result


class Model(Protocol):
    """src/domain.py"""

    id: Any
    phase: str
    epoch: int
    events: Events
    nn: Module
    criterion: Module
    optimizer: Module

    def fit(self, *args: Any, **kwargs: Any) -> Any: ...

    def evaluate(self, *args: Any, **kwargs: Any) -> Any: ...


class Loader(Protocol):
    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...


def _training_module() -> SimpleNamespace:
    """src/services/training.py"""
    service = Service()
    producer = Producer()

    @service.handler
    def iterate(model: Model, loaders: Sequence[tuple[str, Loader]], metrics: Metrics):
        for phase, loader in loaders:
            train(model, loader, metrics) if phase == "train" else validate(model, loader, metrics)
        producer.dispatch(Iterated(model, loaders))

    @event
    class Iterated:
        model: Model
        loaders: Sequence[tuple[str, Loader]]

    def device() -> str:
        raise NotImplementedError("Override this dependency with a concrete implementation")

    @service.handler
    def train(model: Model, loader: Loader, metrics: Metrics, device: str = Depends(device)):
        model.phase = "train"
        for batch, (inputs, target) in enumerate(loader, start=1):
            inputs, target = inputs.to(device), target.to(device)
            prediction, loss = model.fit(inputs, target)
            metrics.update(batch, loss, prediction, target)
        sequence = metrics.compute()
        producer.dispatch(Trained(model, loader, sequence))

    @service.handler
    def validate(model: Model, loader: Loader, metrics: Metrics, device: str = Depends(device)):
        model.phase = "evaluation"
        with inference_mode():
            for batch, (inputs, target) in enumerate(loader, start=1):
                inputs, target = inputs.to(device), target.to(device)
                prediction, loss = model.evaluate(inputs, target)
                metrics.update(batch, loss, prediction, target)
            sequence = metrics.compute()
        producer.dispatch(Validated(model, loader, sequence))

    @event
    class Trained:
        model: Model
        loader: Loader
        metrics: Sequence[Metric]

    @event
    class Validated:
        model: Model
        loader: Loader
        metrics: Sequence[Metric]

    return SimpleNamespace(
        service=service,
        producer=producer,
        device=device,
        Iterated=Iterated,
        Trained=Trained,
        Validated=Validated,
    )


def _tensorboard_module(training: SimpleNamespace) -> SimpleNamespace:
    """src/services/tensorboard.py"""
    Trained, Validated = training.Trained, training.Validated
    consumer = Consumer()

    def writer() -> SummaryWriter:
        raise NotImplementedError("We don't want to handle the writer here!!!")

    @consumer.handler
    def deliver_metrics(event: Trained | Validated, writer: SummaryWriter = Depends(writer)):
        for metric in event.metrics:
            writer.add_scalar(
                f"{event.model.id}/{metric.name}/{event.model.phase}",
                metric.value,
                event.model.epoch,
            )

    return SimpleNamespace(consumer=consumer, writer=writer)


def _earlystopping_module(training: SimpleNamespace) -> SimpleNamespace:
    """src/services/earlystopping.py"""
    Trained, Validated = training.Trained, training.Validated
    subscriber = Subscriber()
    consumer = Consumer()

    @consumer.handler
    def deliver_metrics(event: Trained | Validated):
        for metric in event.metrics:
            try:
                subscriber.receive(metric, metric.name)
            except StopIteration:
                event.model.events.enqueue(StopIteration)

    @subscriber.subscribe("loss")
    def on_low_loss(metric: Metric):
        if metric.value < 0.001:
            raise StopIteration

    @subscriber.subscribe("accuracy")
    def on_high_accuracy(metric: Metric):
        if metric.value > 0.995:
            raise StopIteration

    return SimpleNamespace(consumer=consumer, subscriber=subscriber)


class Classifier(Aggregate):
    """src/classifier.py"""

    def __init__(self, nn: Module, criterion: Module, optimizer: Optimizer):
        super().__init__()
        self.epoch = 0
        self.nn = nn
        self.criterion = criterion
        self.optimizer = optimizer
        self.flatten = Flatten()

    @property
    def id(self) -> str:
        return gethash(self.nn)

    def forward(self, inputs: Tensor) -> Tensor:
        inputs = self.flatten(inputs)
        return self.nn(inputs)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self.criterion(output, target)

    def fit(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        self.optimizer.zero_grad()
        output = self(inputs)
        loss = self.loss(output, target)
        loss.backward()
        self.optimizer.step()
        return argmax(output, dim=1), loss

    def evaluate(self, inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        output = self(inputs)
        return argmax(output, dim=1), self.loss(output, target)

    def onepoch(self):
        self.events.commit()


def _compilation_module() -> SimpleNamespace:
    """src/services/compilation.py"""
    logger = getLogger(__name__)
    compiler = Compiler[Classifier]()

    def device() -> str: ...

    def epoch() -> int:
        return 10

    @compiler.step
    def build_classifier(model: Module, criterion: Module, optimizer: Optimizer):
        logger.info("Building Classifier")
        return Classifier(model, criterion, optimizer)

    @compiler.step
    def move_to_device(classifier: Classifier, device=Depends(device)):
        logger.info(f"Moving classifier to device: {device}")
        return classifier.to(device)

    @compiler.step
    def compile_classifier(classifier: Classifier):
        logger.info("Compiling classifier")
        return compile(classifier, backend="eager")

    @compiler.step
    def get_current_epoch(classifier: Classifier, epoch: int = Depends(epoch)):
        classifier.epoch = epoch
        return classifier

    return SimpleNamespace(compiler=compiler, device=device)


def _build(log_dir: Path) -> SimpleNamespace:
    """src/main.py, up to the calls the tests make."""
    training = _training_module()
    tensorboard = _tensorboard_module(training)
    earlystopping = _earlystopping_module(training)
    compilation = _compilation_module()

    def device():
        return "cuda" if cuda.is_available() else "cpu"

    def summary_writer():
        writter = SummaryWriter(log_dir=str(log_dir))
        yield writter
        writter.close()

    training.service.dependency_overrides[training.device] = device
    compilation.compiler.dependency_overrides[compilation.device] = device
    tensorboard.consumer.dependency_overrides[tensorboard.writer] = summary_writer
    training.producer.register(tensorboard.consumer, earlystopping.consumer)
    return SimpleNamespace(training=training, compilation=compilation)


def _data() -> list[tuple[str, DataLoader[tuple[Tensor, ...]]]]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(32, 4, generator=generator)
    targets = (inputs[:, 0] > 0).long()
    dataset = TensorDataset(inputs, targets)
    return [
        ("train", DataLoader(dataset, batch_size=16)),
        ("validation", DataLoader(dataset, batch_size=16)),
    ]


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.usefixtures("fresh_dynamo")
def test_seed_compiler_builds_a_compiled_classifier(tmp_path: Path) -> None:
    torch.manual_seed(0)
    app = _build(tmp_path)
    model = MLP(4, 16, 2)

    classifier = app.compilation.compiler.compile(
        model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05)
    )

    assert isinstance(classifier, Classifier)
    assert classifier.nn is model
    assert classifier.epoch == 10
    assert classifier.id == gethash(model)


@pytest.mark.usefixtures("fresh_dynamo")
def test_seed_iterate_dispatches_events_to_the_consumers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    app = _build(tmp_path)
    received: list[Any] = []
    recorder = Consumer()

    events = app.training.Trained | app.training.Validated | app.training.Iterated

    @recorder.handler
    def record(event: events) -> None:  # type: ignore[valid-type]
        received.append(type(event).__name__)

    app.training.producer.register(recorder)
    model = MLP(4, 16, 2)
    classifier = app.compilation.compiler.compile(
        model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05)
    )

    app.training.service.handle("iterate", classifier, _data(), Metrics())

    assert received == ["Trained", "Validated", "Iterated"]
    assert list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.usefixtures("fresh_dynamo")
def test_seed_training_stops_early_through_stop_iteration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    app = _build(tmp_path)
    model = MLP(4, 16, 2)
    classifier = app.compilation.compiler.compile(
        model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.05)
    )
    loaders, metrics = _data(), Metrics()
    epochs: list[int] = []

    def train_until_stopped() -> None:
        for _ in range(200):
            app.training.service.handle("iterate", classifier, loaders, metrics)
            epochs.append(classifier.epoch)
            classifier.epoch += 1

    with pytest.raises(StopIteration):
        train_until_stopped()
    assert 0 < len(epochs) < 200
    assert classifier.phase == "evaluation"


def test_seed_domain_events_example_prints_each_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class SomeDomainEvent(Event): ...

    class DomainException(Exception): ...

    class DomainEventWithData(Event):
        def __init__(self, data: Any):
            self.data = data

    class DomainEventWithIgnoredData(Event):
        def __init__(self, data: Any):
            self.data = data

    class EventfulClassifier(Aggregate):
        def __init__(self, nn: Module, criterion: Module, optimizer: Optimizer):
            super().__init__()
            self.events.handlers[SomeDomainEvent] = lambda: print("SomeDomainEvent handled!")
            self.events.handlers[DomainException] = lambda: print("DomainException handled!")
            self.events.handlers[DomainEventWithData] = lambda event: print(
                f"DomainEventWithData handled with data: {event.data}"
            )
            self.events.handlers[DomainEventWithIgnoredData] = lambda: print(
                "DomainEventWithIgnoredData handled"
            )

    model = MLP(4, 16, 2)
    classifier = EventfulClassifier(model, CrossEntropyLoss(), Adam(model.parameters()))
    classifier.events.enqueue(SomeDomainEvent)
    classifier.events.enqueue(DomainException)
    classifier.events.enqueue(DomainEventWithData(42))
    classifier.events.enqueue(DomainEventWithIgnoredData(0))
    classifier.events.enqueue(StopIteration)

    with pytest.raises(StopIteration):
        classifier.events.commit()

    assert capsys.readouterr().out.splitlines() == [
        "SomeDomainEvent handled!",
        "DomainException handled!",
        "DomainEventWithData handled with data: 42",
        "DomainEventWithIgnoredData handled",
    ]
