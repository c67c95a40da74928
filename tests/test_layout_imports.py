"""The layout's import rules, read from the source (ast), so a violation fails before it runs anywhere.

Data flows one way (camera -> edge -> MQTT -> ingest -> DB -> attendance -> UI), and each layer installs on
its own machine: `edge/` runs on a device with only `.[edge]`, so it never imports the server; the server
never imports the device agent; `shared/` (the face core both use) imports neither; and only `shared/`
(plus `bench/` and `scripts/`, which measure and build it) touches onnxruntime or PyTorch, so every model
is loaded behind one interface. `simulate/` is a whole-system harness and may import edge and server.
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


def imported_roots(path: Path) -> set[str]:
    """Top-level packages a module imports (absolute imports only; relative ones stay in the package)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


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
