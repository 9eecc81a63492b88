"""Bound methods of many instances: compiled once per function, resolved per instance.

A ``DeclaredService`` (``Training`` among them) injects each handler bound to each
instance. While an instance's provider has no override, its handlers run code compiled
once for the function; overrides, errors and tracebacks stay the instance's own.

Each test makes its own class (``worker_class()``): the shared version of a function is
made by the first instance of its class, so every test sees that happen.
"""

import gc
import linecache
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from torchsystem.depends import Depends, MissingDependencyError, Provider, generated_source
from torchsystem.services import Service
from torchsystem.training import DeclaredService, handler


def device() -> str:
    return "cpu"


def broken() -> str:
    raise RuntimeError("the dependency broke")


def missing() -> str:
    raise NotImplementedError


def worker_class() -> Any:
    class Worker(DeclaredService):
        @handler
        def run(self, model: str, device: str = Depends(device)) -> str:
            return f"{model} on {device} by {self.name}"

        @handler
        def fail(self, value: str = Depends(broken)) -> str:
            return value

        @handler
        def need(self, value: str = Depends(missing)) -> str:
            return value

    return Worker


def _generated_lines(error: pytest.ExceptionInfo[BaseException]) -> list[str | None]:
    return [frame.line for frame in traceback.extract_tb(error.tb)
            if frame.filename.startswith("<torchsystem inject")]


def test_instances_run_one_compiled_version_of_a_handler() -> None:
    worker = worker_class()
    first, second = worker("first"), worker("second")

    assert first.run.__code__ is second.run.__code__
    assert first.run is not second.run
    assert (first.run("mlp"), second.run("cnn")) == ("mlp on cpu by first", "cnn on cpu by second")


def test_an_override_on_one_instance_leaves_the_other_alone() -> None:
    worker = worker_class()
    first, second = worker("first"), worker("second")
    first.override(device, lambda: "cuda")

    assert first.run("mlp") == "mlp on cuda by first"
    assert second.run("mlp") == "mlp on cpu by second"
    assert worker("third").run("mlp") == "mlp on cpu by third"
    assert "device" in generated_source(first.run)
    assert generated_source(second.run) == generated_source(worker().run)


def test_an_override_on_the_first_instance_made() -> None:
    only = worker_class()("only")
    only.override(device, lambda: "cuda")

    assert only.run("mlp") == "mlp on cuda by only"


def test_an_instance_made_with_overrides_in_force_compiles_them() -> None:
    worker = worker_class()
    provider = Provider()
    provider.override(device, lambda: "mps")

    overridden, plain = worker("first", provider=provider), worker("second")

    assert overridden.run("mlp") == "mlp on mps by first"
    assert plain.run("mlp") == "mlp on cpu by second"
    assert overridden.run.__code__ is not plain.run.__code__


def test_a_removed_override_restores_the_dependency() -> None:
    worker = worker_class()("first")
    worker.override(device, lambda: "cuda")
    assert worker.run("mlp") == "mlp on cuda by first"

    worker.dependency_overrides.clear()

    assert worker.run("mlp") == "mlp on cpu by first"


def _failing_line(worker: Any) -> str:
    """The generated line a new instance's failing dependency call shows in its traceback."""
    failing = worker("second")
    with pytest.raises(RuntimeError, match="the dependency broke") as raised:
        failing.fail()
    lines = _generated_lines(raised)
    assert lines
    assert lines[0] is not None
    return lines[0]


def test_the_traceback_of_a_shared_version_shows_its_generated_line() -> None:
    worker = worker_class()
    worker("first")  # the shared version exists before the instance that fails

    line = _failing_line(worker)

    assert "# " in line
    assert "broken" in line


def test_the_line_cache_holds_the_shared_source_as_it_is() -> None:
    instance = worker_class()("first")
    source = generated_source(instance.run)

    names = [name for name in linecache.cache
             if f"{type(instance).__qualname__}.run shared" in name]

    assert names
    assert source in ["".join(linecache.getlines(name)) for name in names]


def test_a_missing_dependency_names_the_instance_that_must_provide_it() -> None:
    worker = worker_class()
    first, second = worker("first"), worker("second")

    with pytest.raises(MissingDependencyError) as raised:
        second.need()

    assert "Worker.need" in str(raised.value)
    assert "Service('second'" in str(raised.value)
    assert "Service('first'" not in str(raised.value)
    assert first.handlers.keys() == second.handlers.keys()


def test_the_line_cache_forgets_a_shared_version_with_its_class() -> None:
    def make() -> tuple[type[Service], list[str]]:
        class Local(DeclaredService):
            @handler
            def local_handler(self, device: str = Depends(device)) -> str:
                return device

        assert Local().local_handler() == "cpu"
        names = [name for name in linecache.cache if ".Local.local_handler shared" in name]
        return Local, names

    made, names = make()
    assert len(names) == 2  # the version and its stale twin
    assert all(name in linecache.cache for name in names)

    del made
    gc.collect()

    assert not any(name in linecache.cache for name in names)


def test_generator_handlers_share_their_version_and_close_per_call() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        log.append("open")
        yield "session"
        log.append("close")

    class Reader(DeclaredService):
        @handler
        def read(self, session: str = Depends(session)) -> str:
            return f"{self.name} read with {session}"

        @handler
        def stream(self, session: str = Depends(session)) -> Iterator[str]:
            log.append("streaming")  # the session is still open here
            yield f"{self.name} streams with {session}"

    first, second = Reader("first"), Reader("second")

    assert first.read.__code__ is second.read.__code__
    assert first.read() == "first read with session"
    assert second.read() == "second read with session"
    assert list(second.stream()) == ["second streams with session"]
    assert log == ["open", "close", "open", "close", "open", "streaming", "close"]


def test_a_cleared_line_cache_gets_the_shared_source_back_with_the_next_instance() -> None:
    worker = worker_class()
    worker("first")
    linecache.clearcache()

    assert "broken" in _failing_line(worker)
