"""scripts/i18n.py on a throwaway catalogue: `merge` copies a fragment's Korean into the catalogue for
the msgids it holds (plural forms too, fuzzy flags cleared, unknown msgids reported and skipped),
`check` lists what is untranslated or fuzzy, and `compile` writes the .mo that gettext reads."""

from __future__ import annotations

import importlib.util
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tool(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "TRANSLATIONS", tmp_path / "translations")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    return module


def write(path: Path, catalog: Catalog) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)
    return path


def test_merge_check_and_compile(tool, tmp_path, capsys):
    catalog = Catalog(locale="ko")
    catalog.add("Roster")
    catalog.add("Sessions", "세션", flags=["fuzzy"])
    catalog.add(("%(num)d student", "%(num)d students"), ("",))
    catalog.add("Save", "저장")
    write(tool.po_path("ko"), catalog)
    assert sorted(tool.problems()) == [
        "fuzzy (?): 'Sessions'",
        "untranslated (?): '%(num)d student'",
        "untranslated (?): 'Roster'",
    ]

    fragment = Catalog(locale="ko")
    fragment.add("Roster", "수강생 명단")
    fragment.add("Sessions", "수업")
    fragment.add(("%(num)d student", "%(num)d students"), ("학생 %(num)d명",))
    fragment.add("Not extracted yet", "아직 없음")
    fragment.add("Left empty", "")
    assert tool.merge(write(tmp_path / "ko_fragment.po", fragment)) == 3
    assert "Not extracted yet" in capsys.readouterr().err
    assert tool.problems() == []

    tool.compile_all()
    with tool.po_path("ko").with_suffix(".mo").open("rb") as handle:
        compiled = GNUTranslations(handle)
    assert compiled.gettext("Roster") == "수강생 명단" and compiled.gettext("Sessions") == "수업"
    assert compiled.ngettext("%(num)d student", "%(num)d students", 3) == "학생 %(num)d명"
    assert compiled.gettext("Save") == "저장" and compiled.gettext("Not extracted yet") == "Not extracted yet"


def test_check_exits_1_while_something_is_untranslated(tool):
    catalog = Catalog(locale="ko")
    catalog.add("Roster")
    write(tool.po_path("ko"), catalog)
    assert tool.main(["check"]) == 1
    catalog = Catalog(locale="ko")
    catalog.add("Roster", "수강생 명단")
    write(tool.po_path("ko"), catalog)
    assert tool.main(["check"]) == 0
