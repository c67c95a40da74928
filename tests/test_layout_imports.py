"""The layout's import rules, read from the source (ast), so a violation fails before it runs anywhere.

Data flows one way (camera -> edge -> MQTT -> ingest -> DB -> attendance -> UI), and each layer installs on
its own machine: `edge/` runs on a device with only `.[edge]`, so it never imports the server; the server
never imports the device agent; `shared/` (the face core both use) imports neither; and only `shared/`
(plus `bench/` and `scripts/`, which measure and build it) touches onnxruntime or PyTorch, so every model
is loaded behind one interface. `simulate/` is a whole-system harness and may import edge and server.

Inside the server, uploads (`server/uploads/`) and face analysis (`server/faces/`) are common ground that
enrolment, the album, deepfake checks, faces compare and review all stand on: they import none of those
areas, and the album and deepfake checks never reach into enrolment for them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIMES = ("onnxruntime", "torch")
RULES: dict[str, tuple[str, ...]] = {
    "edge": ("server", "simulate"),
    "server": ("edge", "simulate"),
    "shared": ("edge", "server", "simulate", "visage"),
}
MAY_LOAD_MODELS = ("shared", "bench", "scripts")
AREAS = ("server.enrolment", "server.album", "server.deepfake", "server.faces_api", "server.attendance")
SERVER_RULES: dict[str, tuple[str, ...]] = {
    "server/uploads": AREAS,
    "server/faces": AREAS,
    "server/album": ("server.enrolment",),
    "server/deepfake": ("server.enrolment",),
}


def imported_roots(path: Path) -> set[str]:
    """Top-level packages a module imports (absolute imports only; relative ones stay in the package)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def imported_modules(path: Path) -> set[str]:
    """Every module a module imports, dotted (`from server import enrolment` counts as `server.enrolment`)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def sources(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))


def violations(top: str) -> list[str]:
    found = []
    for path in sources(top):
        roots = imported_roots(path)
        forbidden = set(RULES.get(top, ())) | (set() if top in MAY_LOAD_MODELS else set(RUNTIMES))
        found += [f"{path.relative_to(REPO)} imports {name}" for name in sorted(roots & forbidden)]
    return found


@pytest.mark.parametrize("top", ["edge", "server", "shared", "simulate", "visage"])
def test_each_layer_imports_only_what_its_machine_has(top):
    assert sources(top), f"{top}/ has no Python files: the layout changed, update this test"
    assert violations(top) == []


def test_the_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import onnxruntime as ort\nfrom server.db import get_db\nfrom . import sibling\n")
    assert imported_roots(bad) == {"onnxruntime", "server"}


@pytest.mark.parametrize("package", sorted(SERVER_RULES))
def test_server_common_ground_imports_no_area(package):
    assert sources(package), f"{package}/ has no Python files: the layout changed, update this test"
    found = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in sources(package)
        for module in sorted(imported_modules(path))
        if within(module, SERVER_RULES[package])
    ]
    assert found == []


def test_the_server_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from server import enrolment\nfrom server.uploads.files import Upload\n")
    modules = imported_modules(bad)
    assert within("server.enrolment", SERVER_RULES["server/album"]) and "server.enrolment" in modules
    assert not any(within(module, SERVER_RULES["server/album"]) for module in modules - {"server.enrolment"})
