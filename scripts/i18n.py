"""The translation catalogues of the server (server/translations/), in four commands.

    python scripts/i18n.py extract          # messages.pot from the code and templates, then each .po updated
    python scripts/i18n.py merge FILE.po    # copy FILE's translations into ko for msgids the catalogue has
    python scripts/i18n.py compile          # every .po -> .mo (what the server reads)
    python scripts/i18n.py check            # untranslated or fuzzy msgids of ko; exit 1 when there are any

A new string: mark it (`_("...")` in a template, `gettext("...")` in Python), run `extract`, add the
Korean to a fragment .po (or to server/translations/ko/LC_MESSAGES/messages.po), `merge` it,
`compile`, and commit the .pot, .po and .mo together. docs/i18n.md has the rules and the glossary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "server" / "translations"
POT = TRANSLATIONS / "messages.pot"
MAPPING = ROOT / "babel.cfg"
LOCALES = ("ko",)  # English is the source language: its msgids are the text
TARGET = "ko"  # the catalogue `merge` writes into and `check` checks

# Beyond Babel's defaults (_, gettext, ngettext, N_, ...): the message of `abort(404, "...")` and the
# first argument of the service errors (server/errors.py), which reach the client as {"error": ...}
# or the error page and are translated there.
KEYWORDS = (
    "abort:2",
    "lazy_gettext",
    "lazy_ngettext:1,2",
    "ServiceError:1",
    "Invalid:1",
    "Forbidden:1",
    "NotFound:1",
    "Conflict:1",
    "TooLarge:1",
    "Unprocessable:1",
    "Unavailable:1",
)


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True, include_previous=False)  # no wrap, as extract


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    """The .pot from babel.cfg (file names, no line numbers: fewer changes in review), then each
    locale's .po updated (new msgids untranslated, no fuzzy guesses, vanished ones dropped).
    f-strings are skipped (a value built into the text cannot be looked up): quiet about them."""
    os.chdir(ROOT)  # locations relative to the repository
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    POT.parent.mkdir(parents=True, exist_ok=True)
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        pybabel(
            "extract", "-F", str(MAPPING), *keywords, "--add-location=file", "--sort-output",
            "--no-wrap", "--project=Visage", "-o", str(POT), "server",
        )  # fmt: skip
    lines = said.getvalue().splitlines()
    skipped = sum("Skipping f-string" in line for line in lines)
    for line in lines:
        if "Skipping f-string" not in line:
            print(line, file=sys.stderr)
    if skipped:
        print(f"{skipped} f-strings skipped (a message with a value built in stays English)")
    for locale in LOCALES:
        if not po_path(locale).exists():
            pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", locale, "--no-wrap")
        pybabel(
            "update", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", locale,
            "--no-fuzzy-matching", "--ignore-obsolete", "--no-wrap",
        )  # fmt: skip
    print(f"{POT.relative_to(ROOT)}: {len(read_catalog(POT))} msgids")


def merge(fragment: Path, locale: str = TARGET) -> int:
    """Copy each translated message of `fragment` into `locale`'s catalogue where that msgid exists
    (plural forms included); the merged ones lose a fuzzy flag. Returns how many were copied; msgids
    the catalogue does not hold (not extracted yet, or gone) are listed and skipped."""
    target_path = po_path(locale)
    target = read_catalog(target_path, locale)
    source = read_catalog(fragment, locale)
    copied, unknown = 0, []
    for message in source:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not message.id or not all(strings):
            continue
        existing = target.get(message.id, message.context)
        if existing is None:
            unknown.append(message.id if isinstance(message.id, str) else message.id[0])
            continue
        existing.string = message.string
        existing.flags.discard("fuzzy")
        copied += 1
    write_catalog(target, target_path)
    for msgid in unknown:
        print(f"not in the catalogue (run extract first?): {msgid!r}", file=sys.stderr)
    print(f"{copied} translations merged into {target_path.relative_to(ROOT)}")
    return copied


def compile_all() -> None:
    """Each locale's .po as the .mo beside it (fuzzy entries left out, as gettext does)."""
    for locale in LOCALES:
        path = po_path(locale)
        if not path.exists():
            continue
        catalog = read_catalog(path, locale)
        with path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        print(f"{path.with_suffix('.mo').relative_to(ROOT)}: {len(catalog)} messages")


def problems(locale: str = TARGET) -> list[str]:
    """One line per untranslated or fuzzy msgid of `locale`'s catalogue."""
    lines = []
    for message in read_catalog(po_path(locale), locale):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        where = ", ".join(sorted({path for path, _line in message.locations})) or "?"
        if not all(strings):
            lines.append(f"untranslated ({where}): {msgid!r}")
        elif message.fuzzy:
            lines.append(f"fuzzy ({where}): {msgid!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("extract", help="messages.pot from the sources, then each .po updated")
    merging = commands.add_parser("merge", help="copy a fragment .po's translations into ko")
    merging.add_argument("fragment", type=Path)
    commands.add_parser("compile", help="every .po to its .mo")
    commands.add_parser("check", help="list untranslated or fuzzy msgids of ko (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract()
    elif args.command == "merge":
        if not args.fragment.is_file():
            parser.error(f"no such fragment file: {args.fragment}")
        merge(args.fragment)
    elif args.command == "compile":
        compile_all()
    else:
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} msgids of {TARGET} need work" if found else f"{TARGET}: every msgid translated")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
