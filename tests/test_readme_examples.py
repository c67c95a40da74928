"""The README's API examples work against the demo exactly as printed.

The lines are taken from README.md itself, so the test fails when the README drifts: every line of the
bash blocks of its "## The API" section, then every other bash line that calls the demo
(`localhost:8000`: the album and deepfake examples), in the README's order, run one by one in one bash
session from the repository root (variables such as $TOKEN carry from line to line). Only what belongs
to the test's own demo is put in: its port for 8000 and its instance folder for `instance/demo`.
One `visage demo` process serves all of them: `shared_demo` (tests/demo_support.py), the run that
tests/test_demo_system.py and tests/test_demo_restart.py read too.

Each line must exit 0; each `curl` must answer a JSON object that is not an error; the token line must
leave a token in $TOKEN; and the compare example's pairs must equal those of the `visage faces
compare` line after it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.demo_support import DemoRun

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARK = "@@@visage-readme-line"


def bash_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(the `## ` section a block is in, its lines) for every ```bash block, in order."""
    blocks, section, current = [], "", None
    for line in text.splitlines():
        if current is None and line.startswith("## "):
            section = line[3:].strip()
        elif current is None and line.strip() == "```bash":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append((section, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_examples(text: str | None = None) -> list[str]:
    """The lines this test runs (see the module docstring), comments and blank lines left out."""
    lines = []
    for section, block in bash_blocks(text if text is not None else README.read_text(encoding="utf-8")):
        for line in block:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if section == "The API" or "localhost:8000" in line:
                lines.append(line)
    return lines


def test_the_readme_examples_are_found_and_name_the_demo_port():
    lines = readme_examples()
    assert any(line.startswith("export TOKEN=$(") and "create-token" in line for line in lines)
    for path in ("/api/v1/me", "/api/v1/faces/compare", "/api/v1/album/photos", "/api/v1/album/searches",
                 "/api/v1/deepfake/checks"):  # fmt: skip
        assert any(line.startswith("curl ") and f"localhost:8000{path}" in line for line in lines), path
    assert any(line.startswith("visage faces compare ") for line in lines)
    assert "localhost:5000" not in README.read_text(encoding="utf-8")  # the demo serves 8000


def run_lines(lines: list[str], port: int, instance: Path) -> list[tuple[str, int, str, str]]:
    """Run `lines` in one bash session: (line, exit code, its stdout, $TOKEN's first 4 characters)."""
    script = []
    for line in lines:
        line = line.replace("localhost:8000", f"127.0.0.1:{port}").replace("instance/demo", str(instance))
        script += [line, f'printf \'\\n{MARK} %s %s\\n\' "$?" "${{TOKEN:0:4}}"']
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VISAGE_", "DATABASE_URL"))}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    parts = re.split(rf"\n{MARK} (\d+) (\S*)\n", "\n" + done.stdout)
    results = []
    for index, line in enumerate(lines):
        output, code, token = parts[3 * index], parts[3 * index + 1], parts[3 * index + 2]
        results.append((line, int(code), output, token))
    assert len(results) == len(lines), done.stderr[-2000:]
    return results


@pytest.mark.slow
def test_the_readme_examples_run_against_the_demo(shared_demo: DemoRun):
    results = run_lines(readme_examples(), shared_demo.web, shared_demo.instance)

    answers: dict[str, object] = {}
    for line, code, output, token in results:
        assert code == 0, f"{line!r} exited {code}: {output[-1000:]}"
        if line.startswith("export TOKEN="):
            assert token == "vsg_", f"{line!r} left no token in $TOKEN"
        if line.startswith("curl "):
            body = json.loads(output)
            assert isinstance(body, dict) and "error" not in body, f"{line!r} answered {output[:500]}"
            answers[line.split()[-1].rsplit("/api/v1", 1)[1]] = body
        if line.startswith("visage faces compare "):
            answers["cli"] = json.loads(output)

    compared = answers["/faces/compare"]
    cli = answers["cli"]
    assert isinstance(compared, dict) and isinstance(cli, dict)
    pairs = [p for p in compared["pairs"] if p["source_face"] == compared["source_face"]]
    assert [(p["similarity"], p["same_person"]) for p in pairs] == [
        (m["cosine"], m["same_person"]) for m in cli["matches"]
    ]
    assert compared["any_match"] is True
    assert answers["/me"]["email"] == "album@school.example"  # type: ignore[index]
