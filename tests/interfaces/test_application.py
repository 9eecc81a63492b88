"""The application object: injection, overrides and the job a handler runs in."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

import pytest

from torchsystem.depends import Depends
from torchsystem.interfaces import Application, JobContext, current_job
from torchsystem.interfaces.executors import ThreadExecutor
from torchsystem.interfaces.jobs import Jobs, QueueFull, UnknownJob


@dataclass
class Greet:
    name: str = "world"


def greeting() -> str:
    return "hello"


def make() -> Application:
    app = Application("greeter", devices=["cpu", "meta"])

    @app.command
    def greet(command: Greet, word: Annotated[str, Depends(greeting)],
              job: Annotated[JobContext, Depends(current_job)]) -> str:
        return f"{word} {command.name} on {job.device} in job {job.command}"

    return app


def test_handlers_are_injected_and_a_test_overrides_any_dependency() -> None:
    app = make()

    before = app.execute(Greet("digits"))
    app.override(greeting, lambda: "bonjour")

    assert before == "hello digits on cpu in job greet"
    assert app.execute(Greet("digits")) == "bonjour digits on cpu in job greet"


def test_current_job_outside_a_handler_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"current_job\(\) is only known inside a command "
                                           r"handler run by an application"):
        current_job()


def test_jobs_spread_over_devices_and_report_results() -> None:
    app = make()
    with Jobs(app, ThreadExecutor(app)) as jobs:
        first, second = jobs.submit("greet", {"name": "a"}), jobs.submit("greet", {})
        results = {jobs.wait(job.id, 30).result for job in (first, second)}

    assert jobs.devices == ("cpu", "meta")
    assert results <= {f"hello {n} on {d} in job greet" for n in ("a", "world")
                       for d in ("cpu", "meta")}
    assert len(results) == 2


def test_jobs_refuse_unknown_ids_and_a_full_queue() -> None:
    app = make()
    jobs = Jobs(app, ThreadExecutor(app), max_queued=1)  # not started: nothing runs
    jobs.submit("greet", {})

    with pytest.raises(QueueFull, match=r"1 jobs already wait for a device \(max_queued=1\)"):
        jobs.submit("greet", {})
    with pytest.raises(UnknownJob, match=r"no job 'nope'; the latest jobs: [0-9a-f]{12}"):
        jobs.get("nope")
    with pytest.raises(ValueError, match=r"Jobs needs at least one device"):
        Jobs(app, ThreadExecutor(app), devices=[])


def test_ended_jobs_beyond_keep_are_forgotten() -> None:
    app = make()
    with Jobs(app, ThreadExecutor(app), devices=["cpu"], keep=2) as jobs:
        keys = [jobs.wait(jobs.submit("greet", {}).id, 30).id for _ in range(4)]
        keys.append(jobs.submit("greet", {}).id)

    assert [job.id for job in jobs.list()] == [keys[4], keys[3], keys[2]]


def test_a_job_waits_with_a_bounded_timeout() -> None:
    gate = threading.Event()
    app = Application(devices=["cpu"])

    @app.command
    def greet(command: Greet) -> None:
        gate.wait(30)

    with Jobs(app, ThreadExecutor(app)) as jobs:
        job = jobs.submit("greet", {})
        with pytest.raises(TimeoutError, match=f"job {job.id} is still running after 0.05 s"):
            jobs.wait(job.id, 0.05)
        gate.set()
        assert jobs.wait(job.id, 30).status == "finished"
