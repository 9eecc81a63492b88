"""Arguments passed explicitly are used as is; their dependency does not run."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from torchsystem.depends import Depends, Provider, inject


def _expensive_dependency(calls: list[str]) -> Callable[[], str]:
    def expensive() -> str:
        calls.append("expensive")
        return "from dependency"

    return expensive


def test_explicit_positional_argument_is_used_and_its_dependency_not_run() -> None:
    calls: list[str] = []
    expensive = _expensive_dependency(calls)

    @inject(Provider())
    def handler(model: str, value: str = Depends(expensive)) -> str:
        return f"{model}:{value}"

    assert handler("mlp", "given") == "mlp:given"
    assert calls == []


def test_explicit_keyword_argument_is_used_and_its_dependency_not_run() -> None:
    calls: list[str] = []
    expensive = _expensive_dependency(calls)

    @inject(Provider())
    def handler(model: str, value: Annotated[str, Depends(expensive)]) -> str:
        return f"{model}:{value}"

    assert handler("mlp", value="given") == "mlp:given"
    assert calls == []


def test_explicit_none_is_used_as_is() -> None:
    calls: list[str] = []
    expensive = _expensive_dependency(calls)

    @inject(Provider())
    def handler(value: Any = Depends(expensive)) -> Any:
        return value

    assert handler(None) is None
    assert calls == []


def test_explicit_argument_skips_a_generator_dependency_set_up() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        log.append("open")
        yield "session"
        log.append("close")

    @inject(Provider())
    def handler(session: str = Depends(session)) -> str:
        return session

    assert handler(session="mine") == "mine"
    assert log == []


def test_dependency_runs_when_its_argument_is_omitted_after_an_explicit_call() -> None:
    calls: list[str] = []
    expensive = _expensive_dependency(calls)

    @inject(Provider())
    def handler(value: str = Depends(expensive)) -> str:
        return value

    handler("given")

    assert handler() == "from dependency"
    assert calls == ["expensive"]
