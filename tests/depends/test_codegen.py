"""The generated resolution code: its names, its size limits, its source and line cache."""

import inspect
import linecache
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest

from torchsystem.depends import Depends, Provider, generated_source, inject


def _chain(length: int) -> list[Callable[..., int]]:
    """``links[i]`` depends on ``links[i - 1]`` and returns ``i``."""
    links: list[Callable[..., int]] = []

    def root() -> int:
        return 0

    links.append(root)
    for index in range(1, length):

        def link(value: int = Depends(links[-1])) -> int:
            return value + 1

        link.__qualname__ = f"link{index}"
        links.append(link)
    return links


def test_parameters_named_like_generated_code_are_left_alone() -> None:
    log: list[str] = []

    def session() -> Iterator[str]:
        log.append("open")
        yield "session"
        log.append("close")

    def device() -> str:
        return "cpu"

    names = ["__fn", "__c0", "__v0", "__g0", "__M", "__R", "__stack", "__res", "__exc", "__e",
             "_di_fn", "_di_M", "_di_stack", "_di1_M"]
    source = (
        "def handler(" + ", ".join(f"{name}=0" for name in names)
        + ", s=Depends(session), d=Depends(device)):\n"
        + "    return [" + ", ".join(names) + ", s, d]\n"
    )
    namespace: dict[str, Any] = {"Depends": Depends, "session": session, "device": device}
    exec(source, namespace)
    handler = inject(Provider())(namespace["handler"])

    assert handler() == [0] * len(names) + ["session", "cpu"]
    assert handler(*range(len(names))) == [*range(len(names)), "session", "cpu"]
    assert log == ["open", "close", "open", "close"]


def test_a_function_named_like_generated_code_is_injected() -> None:
    def device() -> str:
        return "cpu"

    def __fn(_di_M: str = "m", d: str = Depends(device)) -> str:
        return f"{_di_M} {d}"

    assert inject(Provider())(__fn)() == "m cpu"


@pytest.mark.parametrize("length", [150, 1200])
def test_a_long_chain_of_shared_dependencies_is_resolved(length: int) -> None:
    links = _chain(length)

    @inject(Provider())
    def handler(a: int = Depends(links[-1]), b: int = Depends(links[-1])) -> tuple[int, int]:
        return a, b

    assert handler() == (length - 1, length - 1)


def test_a_long_chain_of_generator_dependencies_is_set_up_and_cleaned_up() -> None:
    log: list[int] = []
    links: list[Callable[..., Iterator[int]]] = []

    def root() -> Iterator[int]:
        yield 0
        log.append(0)

    links.append(root)
    for index in range(1, 300):

        def link(value: int = Depends(links[-1]), index: int = index) -> Iterator[int]:
            yield value + 1
            log.append(index)

        links.append(link)

    @inject(Provider())
    def handler(a: int = Depends(links[-1]), b: int = Depends(links[150])) -> tuple[int, int]:
        return a, b

    assert handler() == (299, 150)
    assert log == list(reversed(range(300)))


def test_generated_source_shows_the_resolution_code() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def train(model: str, device: str = Depends(device)) -> str:
        return f"{model} on {device}"

    source = generated_source(train)

    assert source.startswith("def train(model, device=")
    assert re.search(r"^ +device = \w+\[\d+\]\(\)  # \S+<locals>\.device$", source, re.M)
    assert source.rstrip().endswith("(model, device)")
    compile(source, "<check>", "exec")


def test_generated_source_follows_override_changes() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    def accelerator() -> str:
        return "cuda"

    @inject(provider)
    def train(device: str = Depends(device)) -> str:
        return device

    assert "accelerator" not in generated_source(train)
    provider.override(device, accelerator)
    assert re.search(
        r"device = \w+\[\d+\]\(\)  # \S+<locals>\.accelerator "
        r"\(override of \S+<locals>\.device\)$", generated_source(train), re.M,
    )


def test_generated_source_of_a_function_that_is_not_injected_is_refused() -> None:
    def plain(x: int) -> int:
        return x

    with pytest.raises(
        TypeError,
        match=r"^\S+<locals>\.plain is not an injected function \(inject returns a function "
        r"without Depends parameters unchanged\)$",
    ):
        generated_source(inject(Provider())(plain))


def test_tracebacks_show_the_generated_lines() -> None:
    def broken() -> str:
        raise KeyError("no device")

    provider = Provider()

    @inject(provider)
    def train(device: str = Depends(broken)) -> str:
        return device

    for _ in range(3):  # the current version's lines stay in the cache
        provider.override(broken, lambda: "cpu")
        assert train() == "cpu"
        del provider.dependency_overrides[broken]
    with pytest.raises(KeyError) as excinfo:
        train()
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    generated = [frame for frame in frames if frame.filename.startswith("<torchsystem inject")]

    assert len(generated) == 2  # the stale twin, then the version it compiled
    assert generated[0].filename.endswith(" stale>")
    assert re.fullmatch(r"<torchsystem inject \S+<locals>\.train 0x[0-9a-f]+ #\d+>",
                        generated[1].filename)
    assert generated[1].line is not None
    assert generated[1].line.endswith("<locals>.broken")


def test_the_signature_is_the_functions_own() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def train(model: str, device: str = Depends(device), *, epochs: int = 3) -> str:
        return model

    assert inspect.signature(train) == inspect.signature(train.__wrapped__)  # type: ignore[attr-defined]
    own = inspect.signature(train, follow_wrapped=False).parameters
    assert list(own)[:3] == ["model", "device", "epochs"]
    assert str(own["device"]) == "device: str = <resolved by dependency injection>"
    assert str(own["epochs"]) == "epochs: int = 3"
    hidden = list(own.values())[3:]  # this version's objects, bound when a call starts
    assert [p.kind for p in hidden] == [inspect.Parameter.KEYWORD_ONLY]
    assert hidden[0].name.startswith("_di")
    assert train.__name__ == "train"
    assert train.__doc__ is None


def test_override_changes_do_not_grow_the_line_cache() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def train(device: str = Depends(device)) -> str:
        return device

    def entries() -> int:
        return sum("train" in name and "torchsystem" in name for name in list(linecache.cache))

    train()
    before = entries()
    for index in range(200):
        provider.override(device, lambda index=index: f"cuda:{index}")
        assert train() == f"cuda:{index}"

    assert entries() <= before + 1


def test_generated_source_of_methods_of_every_kind() -> None:
    def device() -> str:
        return "cpu"

    class Trainer:
        @inject(Provider())
        def method(self, device: str = Depends(device)) -> str:
            return device

        @inject(Provider())
        @staticmethod
        def static(device: str = Depends(device)) -> str:
            return device

        @inject(Provider())
        @classmethod
        def build(cls, device: str = Depends(device)) -> str:
            return device

    sources = [
        generated_source(Trainer().method),
        generated_source(Trainer.__dict__["static"]),
        generated_source(Trainer.build),
        generated_source(Trainer.__dict__["build"]),
    ]

    assert [source.split("(")[0] for source in sources] == [
        "def method", "def static", "def build", "def build"
    ]


def test_a_dependency_name_that_is_not_printable_is_shown_safely() -> None:
    def device() -> str:
        return "cpu"

    device.__qualname__ = "bad\nname\u2028here"

    @inject(Provider())
    def train(device: str = Depends(device)) -> str:
        return device

    source = generated_source(train)

    assert train() == "cpu"
    assert re.search(r"  # \S*bad\?name\?here$", source, re.M)
    assert len(source.splitlines()) == len(source.split("\n")) - 1


def test_the_line_cache_forgets_a_function_that_is_garbage_collected() -> None:
    import gc

    def device() -> str:
        return "cpu"

    def make() -> tuple[Callable[[], str], list[str]]:
        @inject(Provider())
        def collected(device: str = Depends(device)) -> str:
            return device

        return collected, [name for name in linecache.cache if "collected" in name]

    handler, names = make()
    assert handler() == "cpu"
    assert len(names) == 2  # the stale twin and the first version
    assert all(name in linecache.cache for name in names)

    del handler
    gc.collect()

    assert not any(name in linecache.cache for name in names)


def test_dependency_values_are_passed_by_position_while_the_signature_allows() -> None:
    def a() -> int:
        return 1

    def b() -> int:
        return 2

    def mixed(x: int = Depends(a), y: int = Depends(b), z: int = 3, w: int = Depends(a),
              v: int = Depends(b), *, k: int = Depends(b)) -> tuple[int, ...]:
        return x, y, z, w, v, k

    @inject(Provider())
    def handler(value: tuple[int, ...] = Depends(mixed)) -> tuple[int, ...]:
        return value

    source = generated_source(handler)

    assert handler() == (1, 2, 3, 1, 2, 2)
    assert re.search(
        r"value = _di_V\[\d\]\(_di_v0, _di_v1, w=_di_v0, v=_di_v1, k=_di_v1\)  # \S+\.mixed$",
        source, re.M,
    )


def test_dependencies_needed_by_the_same_parameters_share_one_block() -> None:
    def leaf() -> int:
        return 1

    def middle(value: int = Depends(leaf)) -> int:
        return value + 1

    def top(value: int = Depends(middle)) -> int:
        return value + 1

    @inject(Provider())
    def handler(a: int = Depends(top), b: int = Depends(leaf)) -> tuple[int, int]:
        return a, b

    source = generated_source(handler)
    conditions = [line.strip() for line in source.splitlines() if line.strip().startswith("if ")]

    assert handler() == (3, 1)
    assert handler(b=5) == (3, 5)
    assert handler(a=0) == (0, 1)
    assert conditions == ["if a is _di_M or b is _di_M:", "if b is _di_M:", "if a is _di_M:"]


@pytest.mark.parametrize(
    ("taken", "prefix"),
    [(["model"], "_di_"), (["_di_x"], "_di1_"), (["_di_x", "_di1_y"], "_di2_")],
)
def test_generated_names_take_the_first_prefix_no_parameter_starts_with(
    taken: list[str], prefix: str
) -> None:
    def device() -> str:
        return "cpu"

    params = ", ".join(f"{name}=0" for name in taken)
    namespace: dict[str, Any] = {"Depends": Depends, "device": device}
    exec(f"def handler({params}, d=Depends(device)):\n    return d\n", namespace)
    handler = inject(Provider())(namespace["handler"])

    assert handler() == "cpu"
    assert f"d is {prefix}M" in generated_source(handler)


def test_positional_only_parameters_stay_positional_only() -> None:
    def device() -> str:
        return "cpu"

    @inject(Provider())
    def handler(model: str, device: str = Depends(device), /) -> str:
        return f"{model} on {device}"

    assert handler("mlp") == "mlp on cpu"
    assert handler("mlp", "cuda") == "mlp on cuda"
    with pytest.raises(TypeError, match="positional-only"):
        handler("mlp", device="cuda")  # type: ignore[call-arg]

    @inject(Provider())
    def mixed(model: str, device: str = Depends(device), /, epochs: int = 1) -> str:
        return f"{model} on {device} for {epochs}"

    assert mixed("mlp", epochs=2) == "mlp on cpu for 2"
    with pytest.raises(TypeError, match="positional-only"):
        mixed(model="mlp")  # type: ignore[call-arg]


def test_a_callable_object_or_an_odd_name_is_injected_as_injected() -> None:
    def device() -> str:
        return "cpu"

    class Handler:
        def __call__(self, device: str = Depends(device)) -> str:
            return device

    def named(device: str = Depends(device)) -> str:
        return device

    named.__name__ = "class"

    for function in (Handler(), named):
        injected = inject(Provider())(function)
        assert injected() == "cpu"
        assert generated_source(injected).startswith("def injected(")


def test_the_line_cache_holds_the_stale_twin_and_the_last_two_versions() -> None:
    provider = Provider()

    def device() -> str:
        return "cpu"

    @inject(provider)
    def cached(device: str = Depends(device)) -> str:
        return device

    def entries() -> list[str]:
        return sorted(name for name in linecache.cache if "<locals>.cached " in name)

    first = entries()
    assert [name.rsplit(" ", 1)[1] for name in first] == ["#1>", "stale>"]
    for index in range(5):
        provider.override(device, lambda index=index: f"cuda:{index}")
        assert cached() == f"cuda:{index}"
    names = entries()

    versions = sorted(int(name.rsplit("#", 1)[1][:-1]) for name in names if "#" in name)

    assert len(names) == 3
    assert [name for name in names if name.endswith(" stale>")] == first[1:]
    assert versions == [versions[1] - 1, versions[1]]  # the newest two
    newest = next(name for name in names if name.endswith(f" #{versions[1]}>"))
    assert "".join(linecache.getlines(newest)) == generated_source(cached)


def test_the_line_cache_of_two_functions_of_one_name_is_their_own() -> None:
    import gc

    def device() -> str:
        return "cpu"

    def make() -> Callable[[], str]:
        @inject(Provider())
        def twin(device: str = Depends(device)) -> str:
            return device

        return twin

    kept, dropped = make(), make()
    kept_names = [name for name in linecache.cache if str(kept.__injection__.name) in name  # type: ignore[attr-defined]
                  and f"{id(kept.__injection__):#x}" in name]  # type: ignore[attr-defined]
    del dropped
    gc.collect()

    assert len(kept_names) == 2
    assert all(name in linecache.cache for name in kept_names)


def test_a_cleared_line_cache_breaks_nothing() -> None:
    import gc

    provider = Provider()

    def device() -> str:
        return "cpu"

    def make() -> Callable[[], str]:
        @inject(provider)
        def cleared(device: str = Depends(device)) -> str:
            return device

        return cleared

    handler = make()
    linecache.clearcache()
    for index in range(3):
        provider.override(device, lambda index=index: f"cuda:{index}")
        assert handler() == f"cuda:{index}"
    linecache.clearcache()
    del handler
    gc.collect()  # the forgetting finaliser must not raise (unraisable errors fail the test)


def test_the_whole_source_of_a_generator_dependency_is_pinned() -> None:
    """Indentation included: the statements are nested exactly as deep as they must be."""

    def session() -> Iterator[str]:
        yield "session"

    @inject(Provider())
    def read(query: str, session: str = Depends(session)) -> str:
        return query

    lines = generated_source(read).splitlines()

    assert lines[:11] == [
        "def read(query, session=_di_M, *, _di_V=_di_M):",
        "    _di_stack = []",
        "    try:",
        "        try:",
        "            if session is _di_M:",
        lines[5],  # the call, with a comment naming the dependency
        "                try:",
        "                    session = _di_next(_di_g0)",
        "                except _di_StopIteration:",
        "                    _di_noyield(_di_g0)",
        "                _di_stack.append(_di_g0)",
    ]
    assert lines[5].startswith("                _di_g0 = _di_V[1]()  # ")
    assert lines[11:] == [
        "        except _di_NotImplementedError as _di_e:",
        "            _di_V[0](_di_e)",
        "            raise",
        "        _di_res = _di_fn(query, session)",
        "    except _di_BaseException as _di_exc:",
        "        _di_unwind(_di_stack, _di_exc)",
        "        raise",
        "    _di_close(_di_stack)",
        "    return _di_res",
    ]


def _shared() -> str:
    return "s"


def test_the_whole_source_of_a_shared_value_and_a_required_parameter_is_pinned() -> None:
    @inject(Provider())
    def handler(a: Annotated[str, Depends(_shared)], b: Annotated[str, Depends(_shared)],
                query: str) -> str:
        return a + b + query

    lines = generated_source(handler).splitlines()

    assert handler(query="q") == "ssq"
    assert lines == [
        "def handler(a=_di_M, b=_di_M, query=_di_R, *, _di_V=_di_M):",
        "    if query is _di_R:",
        "        _di_required('query')",
        "    try:",
        "        if a is _di_M or b is _di_M:",
        lines[5],
        "        if a is _di_M:",
        "            a = _di_v0",
        "        if b is _di_M:",
        "            b = _di_v0",
        "    except _di_NotImplementedError as _di_e:",
        "        _di_V[0](_di_e)",
        "        raise",
        "    return _di_fn(a, b, query)",
    ]
    assert lines[5].startswith("            _di_v0 = _di_V[1]()  # ")
