"""The README's layout table, the package docstrings and docs/ follow the tree (issue 16).

A newcomer reads the layout table and the package docstrings first, so a module that moves or appears
without them being updated fails here: every package and every part of `server/`, `shared/`, `edge/`
and `scripts/` is named in its row of the table, every package has a docstring saying what it holds,
and every page of docs/ is linked from the README or from docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PACKAGES = ("shared", "edge", "simulate", "server", "visage")
# Rows that name each of their folder's parts (module, subpackage or file), with what they skip.
LISTED = {
    "shared/": ("export",),  # shared/export/ has its own row
    "edge/": (),
    "server/": (),
    "scripts/": (),
}


def layout_rows(text: str) -> dict[str, str]:
    """The README's layout table: path cell (without backticks) -> what lives there."""
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def parts(folder: Path) -> list[str]:
    """What a row about `folder` must name: modules and files (not `__init__.py`), and subfolders that
    hold Python code or are the server's templates, static files or translations."""
    found = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith((".", "__")):
            continue
        if child.is_dir():
            if any(child.rglob("*.py")) or child.name in ("templates", "static", "translations"):
                found.append(child.name + "/")
        elif folder.name == "scripts" or child.suffix == ".py":
            found.append(child.name)
    return found


def named(part: str, row: str) -> bool:
    """`part` appears in backticks, as `name.py`, `name` or `name/`."""
    stem = part.removesuffix("/").removesuffix(".py")
    return re.search(rf"`{re.escape(stem)}(\.py|/)?`", row) is not None or f"`{part}`" in row


def packages() -> list[Path]:
    """Every folder of Python code in the project's packages (migrations are Alembic's, not ours)."""
    found = []
    for top in PACKAGES:
        for folder in [REPO / top, *sorted((REPO / top).rglob("*"))]:
            skipped = "migrations" in folder.parts or "__pycache__" in folder.parts
            if folder.is_dir() and not skipped and any(folder.glob("*.py")):
                found.append(folder)
    return found


def test_the_table_is_read():
    rows = layout_rows(README.read_text(encoding="utf-8"))
    assert {"shared/", "edge/", "server/", "visage/", "simulate/", "scripts/", "docs/", "tests/"} <= set(rows)
    assert named("app.py", rows["server/"]) and not named("nothing_here.py", rows["server/"])


@pytest.mark.parametrize("row", sorted(LISTED))
def test_the_layout_row_names_every_part(row):
    text = layout_rows(README.read_text(encoding="utf-8"))[row]
    expected = [part for part in parts(REPO / row) if part.removesuffix("/") not in LISTED[row]]
    missing = [part for part in expected if not named(part, text)]
    assert not missing, f"the README's layout row `{row}` does not name {missing}"


def test_every_package_says_what_it_holds():
    without = []
    for folder in packages():
        init = folder / "__init__.py"
        if not init.exists() or not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))):
            without.append(str(folder.relative_to(REPO)))
    assert not without, f"packages without an __init__.py docstring: {without}"


def test_every_doc_page_is_linked():
    linked = README.read_text(encoding="utf-8") + (REPO / "docs" / "architecture.md").read_text(
        encoding="utf-8"
    )
    pages = sorted(path.name for path in (REPO / "docs").glob("*.md"))
    unlinked = [name for name in pages if name not in linked]
    assert not unlinked, (
        f"docs/ pages linked neither from the README nor from docs/architecture.md: {unlinked}"
    )
