"""Package layout: public import paths and the direction of internal imports (DESIGN.md)."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import torchsystem

PACKAGE = Path(torchsystem.__file__).parent

PUBLIC_NAMES = {
    "torchsystem": ["Aggregate", "Compiler", "Depends", "Events", "Event"],
    "torchsystem.depends": ["Depends", "inject", "Provider"],
    "torchsystem.domain": ["Aggregate", "Event", "Events"],
    "torchsystem.services": [
        "Service",
        "Producer",
        "Consumer",
        "Publisher",
        "Subscriber",
        "event",
        "Depends",
    ],
    "torchsystem.compiler": ["Compiler", "compile", "Depends"],
    "torchsystem.registry": [
        "register",
        "Registry",
        "gethash",
        "getname",
        "getarguments",
        "sethash",
        "setname",
        "getmetadata",
    ],
}

PUBLIC_PATHS = [(module, name) for module, names in PUBLIC_NAMES.items() for name in names]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` reads from (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports anywhere (``from pkg import sub`` counts
    ``pkg.sub``), so that lazy imports inside functions count too."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            found.append(source)
            found.extend(f"{source}.{alias.name}" for alias in node.names)
    return found


def _reachable(start: str) -> set[str]:
    """Internal modules ``start`` imports, directly or through other internal modules."""
    paths = {_module_name(path): path for path in _modules()}
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in seen or current not in paths:
            continue
        seen.add(current)
        todo.extend(name for name in _imports(paths[current]) if name in paths)
    return seen - {start}


@pytest.mark.parametrize(("module", "name"), PUBLIC_PATHS)
def test_public_import_path_exists(module: str, name: str) -> None:
    imported = importlib.import_module(module)

    assert getattr(imported, name) is not None


def test_depends_is_one_marker_everywhere() -> None:
    markers = {
        importlib.import_module(module).Depends
        for module, names in PUBLIC_NAMES.items()
        if "Depends" in names
    }

    assert len(markers) == 1


def test_domain_classes_are_the_same_from_every_path() -> None:
    domain = importlib.import_module("torchsystem.domain")

    assert torchsystem.Aggregate is domain.Aggregate
    assert torchsystem.Events is domain.Events
    assert torchsystem.Event is domain.Event


@pytest.mark.parametrize("path", _modules(), ids=_module_name)
def test_module_does_not_import_from_the_package_root(path: Path) -> None:
    assert _root_imports(path) == []


def _root_imports(path: Path) -> list[str]:
    """``import torchsystem`` / ``from torchsystem import x`` statements outside functions."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stack.append(child)
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name == "torchsystem")
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            if source == "torchsystem":
                found.extend(f"from torchsystem import {a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("layer", ["torchsystem.domain", "torchsystem.registry"])
def test_layer_does_not_depend_on_injection_or_services(layer: str) -> None:
    modules = [_module_name(path) for path in _modules()]
    assert layer in modules, f"{layer} is missing"
    inside = [name for name in modules if name == layer or name.startswith(f"{layer}.")]
    forbidden = ("torchsystem.depends", "torchsystem._injection", "torchsystem.services")

    reached = {
        name
        for start in inside
        for name in _reachable(start)
        if name == "torchsystem" or name.startswith(forbidden)
    }

    assert reached == set()


def test_domain_and_registry_do_not_import_each_other() -> None:
    modules = [_module_name(path) for path in _modules()]
    pairs = [
        ("torchsystem.domain", "torchsystem.registry"),
        ("torchsystem.registry", "torchsystem.domain"),
    ]

    crossing = [
        (start, name)
        for layer, other in pairs
        for start in modules
        if start == layer or start.startswith(f"{layer}.")
        for name in _reachable(start)
        if name == other or name.startswith(f"{other}.")
    ]

    assert crossing == []


@pytest.mark.parametrize("module", ["torchsystem.depends", "torchsystem.services"])
def test_importing_module_does_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "False"


BATTERIES = (
    "torchsystem.training", "torchsystem.consumers", "torchsystem.runs", "torchsystem.interfaces",
    "torchsystem.storage", "torchsystem.distributed",
)


def test_the_core_never_imports_the_batteries() -> None:
    core = [
        _module_name(path)
        for path in _modules()
        if not _module_name(path).startswith(BATTERIES)
    ]

    reached = {
        (start, name)
        for start in core
        for name in _reachable(start)
        if name.startswith(BATTERIES)
    }

    assert reached == set()


def test_tensorboard_loads_only_with_the_consumer_that_needs_it() -> None:
    # (tqdm cannot be checked the same way: importing torch already imports it)
    code = (
        "import sys, torchsystem, torchsystem.training, torchsystem.consumers; "
        "from torchsystem.consumers import (Background, EarlyStopping, EpochSummary, "
        "ProgressBar, TensorBoard); "
        "print(sorted(m for m in ('tensorboard', 'torch.utils.tensorboard') "
        "if m in sys.modules))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "[]"


def test_sqlalchemy_loads_only_with_the_run_records() -> None:
    code = (
        "import sys, torchsystem, torchsystem.training, torchsystem.consumers, "
        "torchsystem.__main__, torchsystem.storage; "
        "from torchsystem.consumers import EarlyStopping, EpochSummary, Background; "
        "print('sqlalchemy' in sys.modules)"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "False"


def test_the_runs_command_line_reads_without_torch() -> None:
    code = "import sys, torchsystem.runs.cli; print('torch' in sys.modules)"

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "False"
