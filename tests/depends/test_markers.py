"""``Depends`` as a default and inside ``Annotated``; sub-dependencies."""

from typing import Annotated

from tests import _future_handlers
from torchsystem import Depends as RootDepends
from torchsystem.depends import Depends, Provider, inject

# --- Depends as a default and in Annotated -------------------------------------------------


def test_depends_default_injects_the_dependency_value() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    assert where("mlp") == "mlp on cpu"


def test_depends_inside_annotated_injects_the_dependency_value() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(model: str, device: Annotated[str, Depends(device)]) -> str:
        return f"{model} on {device}"

    assert where("mlp") == "mlp on cpu"


def test_root_package_depends_is_the_same_marker() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def where(device: str = RootDepends(device)) -> str:
        return device

    assert where() == "cpu"


def test_future_annotations_default_depends_is_resolved() -> None:
    provider = Provider()
    provider.override(_future_handlers.device, lambda: "cpu")
    by_default, _ = _future_handlers.make_injected(provider)

    assert by_default("mlp") == "mlp on cpu"  # type: ignore[operator]


def test_future_annotations_annotated_depends_is_resolved() -> None:
    provider = Provider()
    provider.override(_future_handlers.device, lambda: "cuda")
    _, by_annotation = _future_handlers.make_injected(provider)

    assert by_annotation("mlp") == "mlp on cuda"  # type: ignore[operator]


def test_future_annotations_service_handler_is_resolved() -> None:
    service = _future_handlers.make_service()
    service.override(_future_handlers.device, lambda: "cpu")

    assert service.handle("train-model", "mlp") == "mlp on cpu"


# --- sub-dependencies -------------------------------------------------------------------


def test_sub_dependencies_are_resolved_three_levels_deep() -> None:
    def root() -> str:
        return "root"

    def middle(value: str = Depends(root)) -> str:
        return f"{value}>middle"

    def upper(value: str = Depends(middle)) -> str:
        return f"{value}>upper"

    def top(value: Annotated[str, Depends(upper)]) -> str:
        return f"{value}>top"

    @inject(Provider())
    def handler(value: str = Depends(top)) -> str:
        return f"{value}>handler"

    assert handler() == "root>middle>upper>top>handler"


def test_sub_dependency_declared_with_annotated_is_resolved() -> None:
    def leaf() -> int:
        return 20

    def branch(leaf: Annotated[int, Depends(leaf)]) -> int:
        return leaf + 1

    @inject(Provider())
    def handler(value: Annotated[int, Depends(branch)]) -> int:
        return value * 2

    assert handler() == 42


# --- classes and parameter kinds -------------------------------------------------------


def test_class_can_be_a_dependency_with_its_own_dependencies() -> None:
    def learning_rate() -> float:
        return 0.1

    class Settings:
        def __init__(self, lr: float = Depends(learning_rate)) -> None:
            self.lr = lr

    @inject(Provider())
    def handler(settings: Settings = Depends(Settings)) -> float:
        return settings.lr

    assert handler() == 0.1


def test_keyword_only_and_variadic_parameters_keep_working() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(
        model: str, *args: int, device: str = Depends(device), **kwargs: int
    ) -> tuple[str, tuple[int, ...], str, dict[str, int]]:
        return model, args, device, kwargs

    assert handler("mlp", 1, 2, depth=3) == ("mlp", (1, 2), "cpu", {"depth": 3})
    assert handler("mlp", device="cuda") == ("mlp", (), "cuda", {})
