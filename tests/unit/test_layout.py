"""The map in the README's "Layout", held: which room of the project may import which. A room is a folder (or a
module); an import of another room of the project that is not listed here fails, with the file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("handlers", "infra", "local")

# room -> the rooms of the project its modules may import (a room may always import itself).
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    # The deployment package: nothing outside it exists on Lambda.
    "handlers": (),
    "infra": ("handlers",),
    # `pulumi up` against the emulator.
    "local.deploy": ("local.emulator", "infra"),
    # The embedded emulator and its patches of moto.
    "local.emulator": (),
    # The AWS services moto does not run, from the program's declarations.
    "local.services": ("local.deploy.topology", "local.emulator", "handlers.models.contract"),
    # Running the whole: up in order, down in reverse.
    "local.cloud": (
        "local.deploy",
        "local.emulator",
        "local.services",
        "local.ops.web",
        "handlers.models.contract",
    ),
    # The operators' tools, for any stack: the handlers' own logic on the target's clients.
    "local.ops": ("local.cloud.state", "handlers"),
    # The command line reaches every room of the local side.
    "local.cli": ("local",),
    "local.__main__": ("local.cli",),
    "local": (),  # local/__init__.py: a docstring
}


def _room(module: str) -> str:
    return max((room for room in MAY_IMPORT if module == room or module.startswith(room + ".")), key=len)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT_PACKAGES]


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return modules


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda value: str(value))
def test_each_room_imports_only_the_rooms_the_layout_allows(module: str, path: Path) -> None:
    room = _room(module)
    allowed = (room, *MAY_IMPORT[room])
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for line, name in _imports(path)
        if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)
    ]
    assert not wrong, f"{room} may import only {allowed}:\n" + "\n".join(wrong)


def test_the_rule_catches_a_handler_that_imports_outside_the_package(tmp_path: Path) -> None:
    module = tmp_path / "leak.py"
    module.write_text("from local.cloud import state\nimport handlers.dal\n")
    assert [name for _, name in _imports(module)] == ["local.cloud.state", "handlers.dal"]
    assert _room("handlers.logic.leak") == "handlers" and not MAY_IMPORT["handlers"]
