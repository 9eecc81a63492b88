#!/usr/bin/env python3
"""Per-call cost of dependency injection and messaging: torchsystem against its peers.

Every scenario is timed for a hand-written floor (the same work written by hand), for
torchsystem, and for each peer that offers it: fast-depends and dependency-injector for
injection, pyee and blinker for messaging. All run in this one process, interleaved
repetition by repetition so machine noise hits every contender alike; the table shows
the best per-call time in microseconds. Each case is run once and checked (result,
clean-up and call counters) before it is timed.

Targets (issue "Performance"): each injection scenario at most 0.35x dependency-injector,
dispatch and publish at most 0.6x pyee, 100 events enqueued and committed at most 0.35x
pyee's 100 emits. The exit status is 1 when a target is missed (``--no-check`` to only
report).

    python benchmarks/di_messaging.py            # what the README reports
    python benchmarks/di_messaging.py --quick    # a faster, noisier run
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import sys
import timeit
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Benchmark the checkout this file belongs to, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLOOR, OURS = "hand-written", "torchsystem"
PEERS = ["fast-depends", "dependency-injector", "pyee", "blinker"]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    peer: str
    limit: float


SCENARIOS = [
    Scenario("deps2", "injected call, 2 plain deps", "dependency-injector", 0.35),
    Scenario("gen1", "1 generator dep (set-up + clean-up)", "dependency-injector", 0.35),
    Scenario("nest3", "3-level nested chain", "dependency-injector", 0.35),
    Scenario("diamond", "two deps sharing one leaf", "dependency-injector", 0.35),
    Scenario("explicit", "all deps passed explicitly", "dependency-injector", 0.35),
    Scenario("dispatch1", "dispatch an event to 1 consumer", "pyee", 0.6),
    Scenario("dispatch3", "dispatch to 3 consumers", "pyee", 0.6),
    Scenario("publish1", "publish to 1 subscriber", "pyee", 0.6),
    Scenario("events100", "100 events enqueued + committed", "pyee", 0.35),
]


@dataclass
class Case:
    """A statement timed in ``namespace``; ``check`` runs it once and returns a problem."""

    stmt: str
    namespace: dict[str, Any]
    expect: Any = None
    counters: dict[str, tuple[Callable[[], int], int]] = field(default_factory=dict)

    def check(self) -> str | None:
        before = {name: get() for name, (get, _) in self.counters.items()}
        value = eval(self.stmt, self.namespace)
        if self.expect is not None and value != self.expect:
            return f"returned {value!r}, expected {self.expect!r}"
        for name, (get, delta) in self.counters.items():
            if get() - before[name] != delta:
                return f"{name} changed by {get() - before[name]}, expected {delta}"
        return None


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def bump(self, *_: Any, **__: Any) -> None:
        self.value += 1

    def get(self) -> int:
        return self.value


@dataclass(slots=True)
class Trained:
    epoch: int
    loss: float


@dataclass(slots=True)
class Tick:
    index: int


def one() -> int:
    return 1


def two() -> int:
    return 2


def add(x: int, a: int, b: int) -> int:
    return x + a + b


# --------------------------------------------------------------------------- floors
def floor_cases() -> dict[str, Case]:
    closed = Counter()

    @contextmanager
    def resource() -> Any:
        try:
            yield 10
        finally:
            closed.bump()

    def with_resource(x: int) -> int:
        with resource() as value:
            return x + value

    leaf_calls = Counter()

    def leaf() -> int:
        leaf_calls.bump()
        return 1

    def inc(v: int) -> int:
        return v + 1

    def two_of(x: int, left: int, right: int) -> int:
        return x + left + right

    return {
        "deps2": Case("f(1, one(), two())", {"f": add, "one": one, "two": two}, 4),
        "gen1": Case("g(1)", {"g": with_resource}, 11, {"closed": (closed.get, 1)}),
        "nest3": Case("f(1, inc(inc(one())), 0)", {"f": add, "inc": inc, "one": one}, 4),
        "diamond": Case(
            "d(1, (v := leaf()), v)", {"d": two_of, "leaf": leaf}, 3,
            {"leaf": (leaf_calls.get, 1)},
        ),
        "explicit": Case("f(1, a=1, b=2)", {"f": add}, 4),
        **floor_messaging_cases(),
    }


def floor_messaging_cases() -> dict[str, Case]:
    def table_dispatch(handlers: int) -> Case:
        hits = Counter()
        table = {Trained: [hits.bump] * handlers}

        def dispatch(event: Any) -> None:
            for handler in table.get(type(event), ()):
                handler(event)

        return Case("dispatch(e)", {"dispatch": dispatch, "e": Trained(1, 0.5)}, None,
                    {"calls": (hits.get, handlers)})

    hits = Counter()
    topics = {"loss": [hits.bump]}

    def publish(message: Any, topic: str) -> None:
        for handler in topics.get(topic, ()):
            handler(message)

    ticks = Counter()
    handlers = {Tick: ticks.bump}
    queue: deque[Any] = deque()
    batch = [Tick(i) for i in range(100)]

    def run() -> None:
        for item in batch:
            queue.append(item)
        while queue:
            item = queue.popleft()
            handler = handlers.get(type(item))
            if handler is not None:
                handler(item)

    return {
        "dispatch1": table_dispatch(1),
        "dispatch3": table_dispatch(3),
        "publish1": Case("publish(0.5, 'loss')", {"publish": publish}, None,
                         {"calls": (hits.get, 1)}),
        "events100": Case("run()", {"run": run}, None, {"calls": (ticks.get, 100)}),
    }


# --------------------------------------------------------------------------- torchsystem
def injection_cases(depends: Any, decorate: Callable[[Any], Any]) -> dict[str, Case]:
    """The five injection scenarios for any FastAPI-style ``Depends`` + decorator."""
    closed = Counter()

    def resource() -> Any:
        try:
            yield 10
        finally:
            closed.bump()

    def level2(v: int = depends(one)) -> int:
        return v + 1

    def level3(v: int = depends(level2)) -> int:
        return v + 1

    leaf_calls, dep_calls = Counter(), Counter()

    def leaf() -> int:
        leaf_calls.bump()
        return 1

    def left(v: int = depends(leaf)) -> int:
        return v

    def right(v: int = depends(leaf)) -> int:
        return v

    def counted_one() -> int:
        dep_calls.bump()
        return 1

    def counted_two() -> int:
        dep_calls.bump()
        return 2

    def f(x: int, a: int = depends(one), b: int = depends(two)) -> int:
        return x + a + b

    def g(x: int, r: int = depends(resource)) -> int:
        return x + r

    def n(x: int, v: int = depends(level3)) -> int:
        return x + v

    def d(x: int, l: int = depends(left), r: int = depends(right)) -> int:  # noqa: E741
        return x + l + r

    def e(x: int, a: int = depends(counted_one), b: int = depends(counted_two)) -> int:
        return x + a + b

    return {
        "deps2": Case("f(1)", {"f": decorate(f)}, 4),
        "gen1": Case("g(1)", {"g": decorate(g)}, 11, {"closed": (closed.get, 1)}),
        "nest3": Case("n(1)", {"n": decorate(n)}, 4),
        "diamond": Case("d(1)", {"d": decorate(d)}, 3, {"leaf": (leaf_calls.get, 1)}),
        "explicit": Case("e(1, a=1, b=2)", {"e": decorate(e)}, 4, {"deps": (dep_calls.get, 0)}),
    }


def torchsystem_cases() -> dict[str, Case]:
    from torchsystem.depends import Depends, Provider, inject
    from torchsystem.domain import Events
    from torchsystem.services import Consumer, Producer, Publisher, Subscriber, event

    cases = injection_cases(Depends, inject(Provider()))

    @event
    class ModelTrained:
        epoch: int
        loss: float

    def dispatch(consumers: int) -> Case:
        hits, producer = Counter(), Producer()
        for _ in range(consumers):
            consumer = Consumer()

            def on_trained(event: ModelTrained) -> None:
                hits.bump()

            consumer.handler(on_trained)
            producer.register(consumer)
        return Case("producer.dispatch(e)", {"producer": producer, "e": ModelTrained(1, 0.5)},
                    None, {"calls": (hits.get, consumers)})

    hits, subscriber, publisher = Counter(), Subscriber(), Publisher()
    subscriber.register("loss", lambda metric: hits.bump())
    publisher.register(subscriber)
    ticks, events = Counter(), Events()
    events.handlers[Tick] = lambda tick: ticks.bump()
    batch = [Tick(i) for i in range(100)]
    enqueue, commit = events.enqueue, events.commit

    def run() -> None:
        for item in batch:
            enqueue(item)
        commit()

    return {
        **cases,
        "dispatch1": dispatch(1),
        "dispatch3": dispatch(3),
        "publish1": Case("publisher.publish(0.5, 'loss')", {"publisher": publisher}, None,
                         {"calls": (hits.get, 1)}),
        "events100": Case("run()", {"run": run}, None, {"calls": (ticks.get, 100)}),
    }


# --------------------------------------------------------------------------- peers
def fast_depends_cases() -> dict[str, Case]:
    from fast_depends import Depends, Provider, inject

    provider = Provider()
    return injection_cases(
        Depends, lambda fn: inject(fn, cast=False, dependency_provider=provider)
    )


def dependency_injector_cases() -> dict[str, Case]:
    import types

    from dependency_injector import containers, providers
    from dependency_injector.wiring import Closing, Provide, inject

    closed, leaf_calls, dep_calls = Counter(), Counter(), Counter()

    def resource() -> Any:
        try:
            yield 10
        finally:
            closed.bump()

    def inc(v: int) -> int:
        return v + 1

    def same(v: int) -> int:
        return v

    def leaf() -> int:
        leaf_calls.bump()
        return 1

    def counted(value: int) -> int:
        dep_calls.bump()
        return value

    class Container(containers.DeclarativeContainer):
        a = providers.Callable(one)
        b = providers.Callable(two)
        res = providers.Resource(resource)
        level1 = providers.Callable(one)
        level2 = providers.Callable(inc, v=level1)
        level3 = providers.Callable(inc, v=level2)
        shared = providers.Callable(leaf)
        left = providers.Callable(same, v=shared)
        right = providers.Callable(same, v=shared)
        ea = providers.Callable(counted, 1)
        eb = providers.Callable(counted, 2)

    @inject
    def f(x: int, a: int = Provide[Container.a], b: int = Provide[Container.b]) -> int:
        return x + a + b

    @inject
    def g(x: int, r: int = Closing[Provide[Container.res]]) -> int:
        return x + r

    @inject
    def n(x: int, v: int = Provide[Container.level3]) -> int:
        return x + v

    @inject
    def d(x: int, l: int = Provide[Container.left], r: int = Provide[Container.right]) -> int:  # noqa: E741
        return x + l + r

    @inject
    def e(x: int, a: int = Provide[Container.ea], b: int = Provide[Container.eb]) -> int:
        return x + a + b

    module = types.ModuleType("di_messaging_wired")
    module.f, module.g, module.n, module.d, module.e = f, g, n, d, e  # type: ignore[attr-defined]
    container = Container()
    container.wire(modules=[module])
    # dependency-injector has no per-call cache: the shared leaf runs once per branch.
    return {
        "deps2": Case("f(1)", {"f": module.f, "_keep": container}, 4),
        "gen1": Case("g(1)", {"g": module.g}, 11, {"closed": (closed.get, 1)}),
        "nest3": Case("n(1)", {"n": module.n}, 4),
        "diamond": Case("d(1)", {"d": module.d}, 3, {"leaf": (leaf_calls.get, 2)}),
        "explicit": Case("e(1, a=1, b=2)", {"e": module.e}, 4, {"deps": (dep_calls.get, 0)}),
    }


def pyee_cases() -> dict[str, Case]:
    from pyee import EventEmitter

    def emitter(handlers: int) -> Case:
        hits, emitter = Counter(), EventEmitter()
        for _ in range(handlers):
            emitter.on(Trained, lambda event: hits.bump())  # one distinct function each
        return Case("ee.emit(type(e), e)", {"ee": emitter, "e": Trained(1, 0.5)}, None,
                    {"calls": (hits.get, handlers)})

    hits, topics = Counter(), EventEmitter()
    topics.on("loss", lambda metric: hits.bump())
    ticks, ticker = Counter(), EventEmitter()
    ticker.on(Tick, lambda tick: ticks.bump())
    batch = [Tick(i) for i in range(100)]

    def run() -> None:  # 100 emits: pyee has no queue, so this is its best case
        for item in batch:
            ticker.emit(Tick, item)

    return {
        "dispatch1": emitter(1),
        "dispatch3": emitter(3),
        "publish1": Case("ee.emit('loss', 0.5)", {"ee": topics}, None, {"calls": (hits.get, 1)}),
        "events100": Case("run()", {"run": run}, None, {"calls": (ticks.get, 100)}),
    }


def blinker_cases() -> dict[str, Case]:
    import blinker

    keep: list[Any] = []  # blinker holds receivers weakly

    def signal(receivers: int) -> Case:
        hits, sig = Counter(), blinker.Signal()
        for _ in range(receivers):
            def receive(sender: Any, **_: Any) -> None:
                hits.bump()

            keep.append(receive)
            sig.connect(receive)
        return Case("signals[type(e)].send(e)", {"signals": {Trained: sig}, "e": Trained(1, 0.5)},
                    None, {"calls": (hits.get, receivers)})

    hits, namespace = Counter(), blinker.Namespace()

    def on_loss(sender: Any, **_: Any) -> None:
        hits.bump()

    namespace.signal("loss").connect(on_loss)
    ticks, ticked = Counter(), blinker.Signal()

    def on_tick(sender: Any, **_: Any) -> None:
        ticks.bump()

    ticked.connect(on_tick)
    keep += [on_loss, on_tick]
    batch = [Tick(i) for i in range(100)]

    def run() -> None:
        for item in batch:
            ticked.send(item)

    return {
        "dispatch1": signal(1),
        "dispatch3": signal(3),
        "publish1": Case("ns.signal('loss').send(0.5)", {"ns": namespace, "_keep": keep}, None,
                         {"calls": (hits.get, 1)}),
        "events100": Case("run()", {"run": run}, None, {"calls": (ticks.get, 100)}),
    }


BUILDERS: dict[str, Callable[[], dict[str, Case]]] = {
    FLOOR: floor_cases,
    OURS: torchsystem_cases,
    "fast-depends": fast_depends_cases,
    "dependency-injector": dependency_injector_cases,
    "pyee": pyee_cases,
    "blinker": blinker_cases,
}


# --------------------------------------------------------------------------- harness
def build(names: list[str]) -> tuple[dict[str, dict[str, Case]], dict[str, str]]:
    built, skipped = {}, {}
    for name in names:
        try:
            built[name] = BUILDERS[name]()
        except ImportError as error:
            skipped[name] = f"not installed ({error.name})"
    return built, skipped


def _calibrate(timer: timeit.Timer, min_time: float) -> int:
    """Loop count for which one repetition lasts about ``min_time`` seconds."""
    count = 1
    while True:
        taken = timer.timeit(count)
        if taken >= min_time / 10 or count >= 10**7:
            return max(1, int(count * min_time / taken)) if taken > 0 else count
        count *= 10


def measure(cases: dict[str, Case], repeat: int, min_time: float) -> dict[str, float]:
    """Best per-call microseconds of each case, repetitions interleaved across cases."""
    timers = {name: timeit.Timer(case.stmt, globals=case.namespace) for name, case in cases.items()}
    numbers = {name: _calibrate(timer, min_time) for name, timer in timers.items()}
    best = {name: float("inf") for name in cases}
    for _ in range(repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name] * 1e6)
    return best


def run(built: dict[str, dict[str, Case]], repeat: int, min_time: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario in SCENARIOS:
        cases = {name: impl[scenario.key] for name, impl in built.items() if scenario.key in impl}
        problems = {name: case.check() for name, case in cases.items()}
        timings = measure(cases, repeat, min_time)
        failed = {name: problem for name, problem in problems.items() if problem}
        results[scenario.key] = {"us": timings, "problems": failed}
        print(f"  {scenario.key:10s} done", file=sys.stderr, flush=True)
    return results


def verdict(scenario: Scenario, timings: dict[str, float]) -> tuple[float | None, str]:
    if OURS not in timings or scenario.peer not in timings:
        return None, "n/a"
    ratio = timings[OURS] / timings[scenario.peer]
    return ratio, "ok" if ratio <= scenario.limit else "MISSED"


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def report(results: dict[str, Any], names: list[str]) -> bool:
    """Print the markdown table; return whether every target was met."""
    header = ["scenario", *names, "target", "ratio", ""]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    met = True
    for scenario in SCENARIOS:
        timings = results[scenario.key]["us"]
        ratio, status = verdict(scenario, timings)
        met = met and status != "MISSED"
        target = f"<= {scenario.limit}x {scenario.peer}"
        cells = [fmt(timings.get(name)) for name in names]
        print(f"| {scenario.title} | " + " | ".join(cells)
              + f" | {target} | {fmt(ratio)}{'x' if ratio is not None else ''} | {status} |")
    for scenario in SCENARIOS:
        for name, problem in results[scenario.key]["problems"].items():
            met = False
            print(f"check failed: {name} / {scenario.key}: {problem}")
    return met


def describe_machine() -> str:
    versions = []
    for dist in ["torchsystem", *PEERS]:
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    cpu = platform.processor() or platform.machine()
    return (f"Python {platform.python_version()} on {platform.system()} {cpu}, "
            f"{os.cpu_count()} CPUs; " + ", ".join(versions))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="repetitions, best kept (7)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 0.05 s")
    parser.add_argument("--smoke", action="store_true", help="run once, briefly; no check")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0")
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.min_time = 3, 0.05
    if args.smoke:
        args.repeat, args.min_time, args.no_check = 1, 0.001, True
    names = [FLOOR, OURS, *PEERS]
    built, skipped = build(names)
    gc.collect()
    results = run(built, args.repeat, args.min_time)
    print(describe_machine())
    print(f"best of {args.repeat} x ~{args.min_time}s, microseconds per call (lower is better)")
    for name, why in skipped.items():
        print(f"{name}: {why}")
    print()
    met = report(results, [name for name in names if name in built])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": describe_machine(), "results": results}, handle, indent=1)
    if args.no_check:
        return 0
    if skipped or not met:
        print("\nFAILED: a target missed, a check failed or a peer missing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
