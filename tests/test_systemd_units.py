"""deploy/systemd: the units pass `systemd-analyze verify` (warnings count as failures), keep their
hardening, start real `visage` commands, and their `systemd-analyze security` exposure is what
docs/deployment.md records.

The units name the install layout (/opt/visage, its venv). Verification needs the executables to
exist, so each unit is checked as a copy whose /opt/visage paths point at this checkout and this
virtual environment; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "deploy" / "systemd"
SERVICES = sorted(path.name for path in UNITS.glob("*.service"))
SERVER_UNITS = [
    "visage-web.service",
    "visage-ingest@.service",
    "visage-worker.service",
    "visage-retention.service",
]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def require_systemd_analyze() -> None:
    if not Path(SYSTEMD_ANALYZE).exists():
        message = "systemd-analyze is not installed (apt-get install systemd)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def directives(name: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (keys may repeat), sections merged."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Copies of the units with /opt/visage paths pointing at this checkout and venv."""
    require_systemd_analyze()
    target = tmp_path_factory.mktemp("units")
    venv_bin = str(Path(sys.executable).parent)
    assert (Path(venv_bin) / "visage").exists(), "the visage command is not installed in this venv"
    assert (Path(venv_bin) / "gunicorn").exists(), "gunicorn is not installed (pip install -e '.[server]')"
    for unit in UNITS.iterdir():
        if unit.suffix in (".service", ".timer"):
            text = (
                unit.read_text().replace("/opt/visage/venv/bin", venv_bin).replace("/opt/visage", str(REPO))
            )
            (target / unit.name).write_text(text)
    return target


def test_the_units_pass_systemd_analyze_verify_without_warnings(installed):
    units = sorted(path.name for path in installed.iterdir())
    assert set(SERVICES) | {"visage-retention.timer"} == set(units)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *units],
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # "Unknown key ... ignoring" is a failure here


def test_the_verify_check_catches_a_broken_unit(installed, tmp_path):
    broken = (
        (installed / "visage-worker.service")
        .read_text()
        .replace("ProtectSystem=strict", "ProtectSystem=strictest")
    )
    (tmp_path / "broken.service").write_text(broken)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", "broken.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "protect system value" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_hardened(name):
    unit = directives(name)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert unit.get(key) == [value], f"{name}: {key}={value} expected, found {unit.get(key)}"
    assert "@system-service" in unit["SystemCallFilter"]
    assert unit["RestrictAddressFamilies"][0].split()[:3] == ["AF_UNIX", "AF_INET", "AF_INET6"]
    assert unit["User"] == ["visage"]
    assert unit["StateDirectory"], (
        f"{name} has no StateDirectory (ProtectSystem=strict leaves nothing writable)"
    )
    if unit["Type"] != ["oneshot"]:
        assert unit["Restart"] == ["on-failure"]


@pytest.mark.parametrize("name", SERVER_UNITS)
def test_server_units_read_the_environment_file(name):
    unit = directives(name)
    assert unit["EnvironmentFile"] == ["/etc/visage/visage.env"]
    assert unit["Environment"][0] == "VISAGE_INSTANCE_PATH=/var/lib/visage/instance"
    assert unit["StateDirectory"] == ["visage"]


def test_the_edge_unit_may_open_cameras_and_gpu_nodes_only():
    unit = directives("visage-edge.service")
    assert unit["DevicePolicy"] == ["closed"]
    allowed = unit["DeviceAllow"]
    assert "char-video4linux rw" in allowed
    assert {"/dev/nvidiactl rw", "/dev/nvmap rw", "/dev/nvhost-ctrl-gpu rw"} <= set(allowed)
    assert unit["SupplementaryGroups"] == ["video"]
    assert "PrivateDevices" not in unit  # it would hide the camera


@pytest.mark.parametrize("name", SERVICES)
def test_exec_lines_are_real_visage_commands(name):
    """Every `visage ...` a unit runs parses with the real command line (options exist and fit)."""
    from visage.cli import build_parser

    unit = directives(name)
    commands = unit.get("ExecStartPre", []) + unit["ExecStart"]
    for line in commands:
        argv = shlex.split(line.replace("%i", "1"))
        program = Path(argv[0]).name
        if program == "visage":
            args = build_parser().parse_args(argv[1:])
            assert callable(args.handler)
        else:
            assert program == "gunicorn"
            config = argv[argv.index("--config") + 1].replace("/opt/visage", str(REPO))
            assert Path(config).is_file()
            module, _, attribute = argv[-1].partition(":")
            assert (REPO / Path(*module.split("."))).with_suffix(".py").is_file() and attribute == "app"


def measured_exposure(installed: Path, name: str) -> float:
    unit = name.replace("@.service", "@1.service")
    if unit != name:
        shutil.copy(installed / name, installed / unit)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", unit],
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr
    return float(match.group(1))


def test_security_exposure_is_low_and_recorded_in_the_docs(installed):
    documented = dict(
        re.findall(
            r"^\| `(visage-[\w@-]+\.service)` \| (\d+\.\d) \|",
            (REPO / "docs/deployment.md").read_text(),
            re.M,
        )
    )
    assert set(documented) == set(SERVICES)
    for name in SERVICES:
        score = measured_exposure(installed, name)
        assert score <= 2.5, f"{name}: exposure {score} (systemd-analyze security; 0 is best, 10 worst)"
        assert abs(score - float(documented[name])) <= 0.2, (
            f"{name}: measured {score}, docs say {documented[name]}"
        )
