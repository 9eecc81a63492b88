"""``Compiler`` pipelines and ``compile``."""

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from torchsystem import Compiler as RootCompiler
from torchsystem.compiler import Compiler, Depends, compile  # noqa: A004 - 1.3's spelling
from torchsystem.domain import Aggregate


class Classifier(Aggregate):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.epoch = 0
        self.nn = nn.Linear(width, 2)
        self.note = "kept"

    @property
    def id(self) -> str:
        return "classifier"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.nn(inputs)


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Each compile test starts with empty dynamo caches, so its backend really runs."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# --- Compiler -------------------------------------------------------------------------------


def test_compiler_is_subscriptable_with_the_aggregate_type() -> None:
    compiler = Compiler[Classifier]()

    @compiler.step
    def build(width: int) -> Classifier:
        return Classifier(width)

    classifier = compiler.compile(6)

    assert type(compiler) is Compiler
    assert classifier.nn.in_features == 6


def test_an_empty_compiler_refuses_to_compile() -> None:
    with pytest.raises(RuntimeError, match=r"Compiler\(steps=\[\]\) has no steps; add them with"):
        Compiler[Classifier]().compile(4)


def test_the_repr_names_the_steps() -> None:
    compiler = Compiler[int]()

    @compiler.step
    def build(width: int) -> int:
        return width

    assert repr(compiler) == "Compiler(steps=['build'])"


def test_register_appends_a_step_and_returns_it_injected() -> None:
    compiler = Compiler[str]()

    def device() -> str:
        return "cpu"

    def describe(width: int, device: str = Depends(device)) -> str:
        return f"{width} on {device}"

    injected = compiler.register(describe)

    assert injected(3) == "3 on cpu"
    assert compiler.compile(5) == "5 on cpu"


def test_root_package_exports_the_same_compiler() -> None:
    assert RootCompiler is Compiler


def test_first_step_receives_the_compile_arguments() -> None:
    compiler = Compiler[tuple[Any, ...]]()

    @compiler.step
    def build(width: int, depth: int, *, name: str) -> tuple[int, int, str]:
        return width, depth, name

    assert compiler.compile(4, 2, name="mlp") == (4, 2, "mlp")


def test_each_result_is_passed_to_the_next_step() -> None:
    compiler = Compiler[str]()

    @compiler.step
    def build(width: int) -> int:
        return width * 2

    @compiler.step
    def describe(width: int) -> str:
        return f"width={width}"

    assert compiler.compile(3) == "width=6"


def test_steps_run_in_registration_order() -> None:
    order: list[str] = []
    compiler = Compiler[int]()

    @compiler.step
    def first(value: int) -> int:
        order.append("first")
        return value + 1

    @compiler.step
    def second(value: int) -> int:
        order.append("second")
        return value * 10

    @compiler.step
    def third(value: int) -> int:
        order.append("third")
        return value - 1

    assert compiler.compile(1) == 19
    assert order == ["first", "second", "third"]


def test_tuple_result_is_spread_as_positional_arguments() -> None:
    compiler = Compiler[str]()

    @compiler.step
    def build(width: int) -> tuple[int, str, float]:
        return width, "relu", 0.1

    @compiler.step
    def describe(width: int, activation: str, dropout: float) -> str:
        return f"{width}/{activation}/{dropout}"

    assert compiler.compile(8) == "8/relu/0.1"


def test_list_result_is_passed_as_one_argument() -> None:
    compiler = Compiler[Any]()

    @compiler.step
    def build() -> list[int]:
        return [1, 2, 3]

    @compiler.step
    def receive(*args: Any) -> tuple[Any, ...]:
        return args

    assert compiler.compile() == ([1, 2, 3],)


@pytest.mark.parametrize("value", [0, None, False, "", [], 0.0])
def test_falsy_result_is_passed_on_to_the_next_step(value: Any) -> None:
    received: list[Any] = []
    compiler = Compiler[Any]()

    @compiler.step
    def build() -> Any:
        return value

    @compiler.step
    def receive(*args: Any) -> str:
        received.append(args)
        return "received"

    assert compiler.compile() == "received"
    assert received == [(value,)]
    assert received[0][0] is value


def test_empty_tuple_result_is_spread_to_no_arguments() -> None:
    received: list[Any] = []
    compiler = Compiler[str]()

    @compiler.step
    def build() -> tuple[()]:
        return ()

    @compiler.step
    def receive(*args: Any) -> str:
        received.append(args)
        return "received"

    assert compiler.compile() == "received"
    assert received == [()]


def test_last_step_result_is_returned_even_when_falsy() -> None:
    compiler = Compiler[int]()

    @compiler.step
    def build(value: int) -> int:
        return value - value

    assert compiler.compile(5) == 0


def test_steps_are_injected() -> None:
    compiler = Compiler[str]()

    def device() -> str:
        return "cpu"

    @compiler.step
    def build(width: int) -> int:
        return width

    @compiler.step
    def move(width: int, device: str = Depends(device)) -> str:
        return f"{width} on {device}"

    assert compiler.compile(4) == "4 on cpu"


def test_dependency_overrides_item_assignment_is_used() -> None:
    compiler = Compiler[str]()

    def device() -> str:
        raise NotImplementedError

    @compiler.step
    def move(width: int, device: str = Depends(device)) -> str:
        return f"{width} on {device}"

    compiler.dependency_overrides[device] = lambda: "cuda"

    assert compiler.compile(4) == "4 on cuda"


def test_override_method_is_used() -> None:
    compiler = Compiler[str]()

    def device() -> str:
        raise NotImplementedError

    @compiler.step
    def move(width: int, device: str = Depends(device)) -> str:
        return f"{width} on {device}"

    compiler.override(device, lambda: "cuda")

    assert compiler.compile(4) == "4 on cuda"


def test_generator_dependency_of_a_step_is_cleaned_up_after_the_step() -> None:
    log: list[str] = []
    compiler = Compiler[str]()

    def pool() -> Iterator[str]:
        log.append("open pool")
        yield "pool"
        log.append("close pool")

    @compiler.step
    def build(width: int, pool: str = Depends(pool)) -> int:
        log.append("build")
        return width

    @compiler.step
    def finish(width: int) -> str:
        log.append("finish")
        return str(width)

    assert compiler.compile(2) == "2"
    assert log == ["open pool", "build", "close pool", "finish"]


def test_step_exception_reaches_the_caller() -> None:
    compiler = Compiler[int]()
    error = RuntimeError("cannot build")

    @compiler.step
    def build() -> int:
        raise error

    with pytest.raises(RuntimeError) as excinfo:
        compiler.compile()
    assert excinfo.value is error


def test_seed_compiler_pipeline_builds_the_aggregate() -> None:
    compiler = Compiler[Classifier]()

    def device() -> str:
        raise NotImplementedError

    def epoch() -> int:
        return 10

    @compiler.step
    def build_classifier(width: int) -> Classifier:
        return Classifier(width)

    @compiler.step
    def move_to_device(classifier: Classifier, device: str = Depends(device)) -> Classifier:
        return classifier.to(device)

    @compiler.step
    def get_current_epoch(classifier: Classifier, epoch: int = Depends(epoch)) -> Classifier:
        classifier.epoch = epoch
        return classifier

    compiler.dependency_overrides[device] = lambda: "cpu"
    classifier = compiler.compile(4)

    assert type(classifier) is Classifier
    assert classifier.nn.in_features == 4
    assert classifier.epoch == 10
    assert classifier.nn.weight.device.type == "cpu"


# --- compile --------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_returns_the_same_object() -> None:
    classifier = Classifier()

    assert compile(classifier, backend="eager") is classifier


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_keeps_attributes_events_and_id() -> None:
    classifier = Classifier()
    events = classifier.events
    classifier.events.enqueue(StopIteration)

    compiled = compile(classifier, backend="eager")

    assert compiled.note == "kept"
    assert compiled.epoch == 0
    assert compiled.id == "classifier"
    assert compiled.events is events
    assert list(compiled.events.queue) == [StopIteration]
    assert type(compiled) is Classifier


@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_aggregate_computes_the_same_output() -> None:
    torch.manual_seed(0)
    classifier = Classifier()
    inputs = torch.randn(3, 4)
    expected = classifier(inputs)

    compiled = compile(classifier, backend="eager")

    torch.testing.assert_close(compiled(inputs), expected)


@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_aggregate_keeps_forward_hooks() -> None:
    calls: list[tuple[int, ...]] = []
    classifier = Classifier()
    classifier.register_forward_hook(lambda module, args, output: calls.append(output.shape))

    compiled = compile(classifier, backend="eager")
    compiled(torch.randn(3, 4))

    assert calls == [torch.Size([3, 2])]


@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_aggregate_keeps_its_hooks_and_onepoch() -> None:
    class Committing(Classifier):
        def onepoch(self) -> None:
            self.events.commit()

    aggregate = Committing()
    compiled = compile(aggregate, backend="eager")
    compiled.events.enqueue(StopIteration)

    with pytest.raises(StopIteration):
        compiled.epoch = 1


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_forwards_the_backend_to_torch() -> None:
    graphs: list[Any] = []

    def recording_backend(graph_module: torch.fx.GraphModule, example_inputs: Any) -> Any:
        graphs.append(graph_module)
        return graph_module.forward

    classifier = Classifier()
    compiled = compile(classifier, backend=recording_backend)
    assert graphs == []

    compiled(torch.randn(3, 4))

    assert len(graphs) >= 1


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_forwards_keyword_arguments_to_torch() -> None:
    class Breaking(Classifier):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            torch._dynamo.graph_break()
            return self.nn(inputs)

    breaking = Breaking()
    compiled = compile(breaking, backend="eager", fullgraph=True)

    with pytest.raises(torch._dynamo.exc.Unsupported, match=r"(?i)graph.?break"):
        compiled(torch.randn(3, 4))


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_step_in_a_compiler_returns_the_aggregate() -> None:
    compiler = Compiler[Classifier]()

    @compiler.step
    def build_classifier(width: int) -> Classifier:
        return Classifier(width)

    @compiler.step
    def compile_classifier(classifier: Classifier) -> Classifier:
        return compile(classifier, backend="eager")

    classifier = compiler.compile(4)

    assert type(classifier) is Classifier
    assert classifier.note == "kept"
    assert classifier(torch.randn(2, 4)).shape == (2, 2)


def test_compile_passes_a_function_to_torch_compile() -> None:
    def double(inputs: torch.Tensor) -> torch.Tensor:
        return inputs * 2

    compiled = compile(double, backend="eager")

    assert compiled is not double
    assert torch.equal(compiled(torch.ones(2)), torch.full((2,), 2.0))
