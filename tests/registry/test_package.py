"""The ``torchsystem.registry`` package: public names and import hygiene."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import torchsystem.registry

PACKAGE = pathlib.Path(torchsystem.registry.__file__).parent
FORBIDDEN = ("torch", "torchsystem.depends", "torchsystem.services", "torchsystem.domain")


def test_public_names() -> None:
    from torchsystem import registry

    assert sorted(registry.__all__) == [
        "NotRegisteredError",
        "Registry",
        "getarguments",
        "gethash",
        "getmetadata",
        "getname",
        "register",
        "sethash",
        "setname",
    ]

    @registry.register
    class Model:
        def __init__(self, width: int) -> None:
            pass

    assert registry.getarguments(Model(3)) == {"width": 3}


def imported_modules(path: pathlib.Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append(node.module)
    return found


def test_registry_imports_neither_torch_nor_sibling_layers() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 4
    for path in modules:
        for module in imported_modules(path):
            assert module != "torchsystem", f"{path.name} imports from torchsystem directly"
            top = [name for name in FORBIDDEN if module == name or module.startswith(f"{name}.")]
            assert top == [], f"{path.name} imports {module}"


def test_importing_the_registry_does_not_load_torch() -> None:
    code = "import sys, torchsystem.registry; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_private_modules_declare_their_names() -> None:
    from torchsystem.registry import (
        _canonical,
        _capture,
        _inherit,
        _instance,
        _options,
        accessors,
        catalog,
    )

    assert _instance.__all__ == ["ARGUMENTS", "HASH", "NAME", "name_of", "nest", "read", "write"]
    assert _inherit.__all__ == ["follow_subclasses"]
    assert _options.__all__ == [
        "MARKER", "Capture", "check_exclusions", "pick_excluded", "registered_options",
    ]
    assert _capture.__all__ == [
        "Capture", "capture", "ensure_class", "init_parameters", "registered_options",
    ]
    assert _canonical.__all__ == ["UnencodableError", "canonical", "dumps"]
    assert catalog.__all__ == ["NotRegisteredError", "Registry", "annotation_name"]
    assert accessors.__all__ == [
        "getarguments", "gethash", "getmetadata", "getname", "register", "sethash", "setname",
    ]
