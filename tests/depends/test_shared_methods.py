"""Bound methods of many instances: compiled once per function, resolved per instance.

A ``DeclaredService`` (``Training`` among them) injects each handler bound to each
instance. While an instance's provider has no override, its handlers run code compiled
once for the function; overrides, errors and tracebacks stay the instance's own.
"""

import gc
import linecache
import traceback
from collections.abc import Iterator

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


def test_instances_run_one_compiled_version_of_a_handler() -> None:
    first, second = Worker("first"), Worker("second")

    assert first.run.__code__ is second.run.__code__
    assert first.run is not second.run
    assert (first.run("mlp"), second.run("cnn")) == ("mlp on cpu by first", "cnn on cpu by second")


def test_an_override_on_one_instance_leaves_the_other_alone() -> None:
    first, second = Worker("first"), Worker("second")
    first.override(device, lambda: "cuda")

    assert first.run("mlp") == "mlp on cuda by first"
    assert second.run("mlp") == "mlp on cpu by second"
    assert Worker("third").run("mlp") == "mlp on cpu by third"
    assert "device" in generated_source(first.run)
    assert generated_source(second.run) == generated_source(Worker().run)


def test_an_instance_made_with_overrides_in_force_compiles_them() -> None:
    provider = Provider()
    provider.override(device, lambda: "mps")

    overridden, plain = Worker("first", provider=provider), Worker("second")

    assert overridden.run("mlp") == "mlp on mps by first"
    assert plain.run("mlp") == "mlp on cpu by second"
    assert overridden.run.__code__ is not plain.run.__code__


def test_a_removed_override_restores_the_dependency() -> None:
    worker = Worker("first")
    worker.override(device, lambda: "cuda")
    assert worker.run("mlp") == "mlp on cuda by first"

    worker.dependency_overrides.clear()

    assert worker.run("mlp") == "mlp on cpu by first"


def test_the_traceback_of_a_shared_version_shows_its_generated_line() -> None:
    Worker("first")  # the shared version exists before the instance that fails
    worker = Worker("second")
    with pytest.raises(RuntimeError, match="the dependency broke") as raised:
        worker.fail()

    frames = traceback.extract_tb(raised.tb)
    generated = [frame for frame in frames if frame.filename.startswith("<torchsystem inject")]
    assert generated, [frame.filename for frame in frames]
    assert generated[0].line is not None
    assert "# " in generated[0].line
    assert "broken" in generated[0].line


def test_a_missing_dependency_names_the_instance_that_must_provide_it() -> None:
    first, second = Worker("first"), Worker("second")

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

    first, second = Reader("first"), Reader("second")

    assert first.read.__code__ is second.read.__code__
    assert first.read() == "first read with session"
    assert second.read() == "second read with session"
    assert log == ["open", "close", "open", "close"]


def test_a_cleared_line_cache_gets_the_shared_source_back_with_the_next_instance() -> None:
    Worker("first")
    linecache.clearcache()
    worker = Worker("second")

    with pytest.raises(RuntimeError, match="the dependency broke") as raised:
        worker.fail()

    lines = [frame.line for frame in traceback.extract_tb(raised.tb)
             if frame.filename.startswith("<torchsystem inject")]
    assert lines
    assert all(line and "broken" in line for line in lines[:1])
