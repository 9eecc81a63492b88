"""The per-call cache: a dependency runs once per call unless ``use_cache=False``."""

from collections.abc import Iterator

from torchsystem.depends import Depends, Provider, inject


def test_shared_dependency_runs_once_per_call() -> None:
    calls: list[str] = []

    def leaf() -> object:
        calls.append("leaf")
        return object()

    def left(value: object = Depends(leaf)) -> object:
        return value

    def right(value: object = Depends(leaf)) -> object:
        return value

    @inject(Provider())
    def handler(
        a: object = Depends(left), b: object = Depends(right), c: object = Depends(leaf)
    ) -> tuple[object, object, object]:
        return a, b, c

    a, b, c = handler()

    assert calls == ["leaf"]
    assert a is b is c


def test_shared_dependency_runs_again_on_the_next_call() -> None:
    calls: list[int] = []

    def leaf() -> int:
        calls.append(1)
        return len(calls)

    def left(value: int = Depends(leaf)) -> int:
        return value

    @inject(Provider())
    def handler(a: int = Depends(left), b: int = Depends(leaf)) -> tuple[int, int]:
        return a, b

    assert handler() == (1, 1)
    assert handler() == (2, 2)
    assert len(calls) == 2


def test_use_cache_false_runs_the_dependency_for_each_parameter() -> None:
    calls: list[int] = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    @inject(Provider())
    def handler(
        a: int = Depends(counter, use_cache=False), b: int = Depends(counter, use_cache=False)
    ) -> tuple[int, int]:
        return a, b

    assert handler() == (1, 2)


def test_use_cache_false_runs_again_even_when_the_value_is_cached() -> None:
    calls: list[int] = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    @inject(Provider())
    def handler(
        a: int = Depends(counter), b: int = Depends(counter, use_cache=False)
    ) -> tuple[int, int]:
        return a, b

    assert handler() == (1, 2)


def test_shared_generator_dependency_is_opened_once_per_call() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        log.append("open")
        yield "session"
        log.append("close")

    def repository(session: str = Depends(session)) -> str:
        return f"repository({session})"

    @inject(Provider())
    def handler(repo: str = Depends(repository), session: str = Depends(session)) -> str:
        return f"{repo}+{session}"

    assert handler() == "repository(session)+session"
    assert log == ["open", "close"]
