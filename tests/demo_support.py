"""`visage demo` as a subprocess, for the tests that read a running demo over HTTP and MQTT.

Starting the demo costs about 100 s on two busy cores (composing the lecture, enrolling), so one run is
shared (the session fixture `shared_demo` in tests/conftest.py) by tests/test_demo_system.py,
tests/test_readme_examples.py and tests/test_demo_restart.py, which stops it with Ctrl-C and starts it
again on the same instance folder. Each run has its own process group on free ports, as a terminal's
foreground job has.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests

from server.broker import free_port

REPO = Path(__file__).resolve().parents[1]
READY_S = 240.0  # composing the lecture (~40 s) and enrolling on two busy cores
SEATS = "12"  # half the default class: composes and plays faster, same code path
T = TypeVar("T")


class Demo:
    """The `visage demo` subprocess and its output, read line by line in a thread."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("VISAGE_CONFIG", None)
        env.pop("DATABASE_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "visage.cli", "demo", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: what a terminal's Ctrl-C reaches
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.output[-60:]))

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class DemoRun:
    """A started demo and what its banner printed: URL, logins, the demo lecture's id."""

    demo: Demo
    instance: Path
    faces: Path
    web: int
    broker: int
    base: str
    text: str  # the output up to the "running" line
    logins: dict[str, str]
    session_id: int
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, instance: Path, faces: Path) -> DemoRun:
        """`visage demo --seats 12` on free ports, once it says it is running (READY_S at most)."""
        started = time.monotonic()
        web, broker = free_port(), free_port()
        demo = Demo(["--port", str(web), "--broker-port", str(broker), "--instance", str(instance),
                     "--faces", str(faces), "--seats", SEATS])  # fmt: skip
        try:
            ready = demo.wait_for(r"Visage demo is running: (http://\S+)", READY_S)
        except BaseException:
            demo.kill()
            raise
        text = "\n".join(demo.output)
        logins = dict(re.findall(r"^\s+\w+\s+(\S+@\S+)\s+password: (\S+)$", text, re.M))
        session_id = int(re.search(r"session (\d+)", text).group(1))
        return cls(demo, instance, faces, web, broker, ready.group(1), text, logins, session_id, started)

    @property
    def running(self) -> bool:
        return self.demo.process.poll() is None

    def stop(self) -> None:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it; exit code 0, the
        farewell line, and no process of the group left."""
        os.killpg(self.demo.process.pid, signal.SIGINT)
        assert self.demo.process.wait(90) == 0, "\n".join(self.demo.output[-40:])
        self.demo.wait_for(r"visage demo: stopped\.", 5)
        time.sleep(0.5)
        assert not self.demo.group_alive(), "a process of the demo outlived it"

    def kill(self) -> None:
        """What a failed test leaves: SIGKILL to the group if anything of it is alive."""
        if self.running or self.demo.group_alive():
            self.demo.kill()


def sign_in(base: str, email: str, password: str) -> requests.Session:
    http = requests.Session()
    page = http.get(base + "login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, "no CSRF token on the sign-in page"
    answer = http.post(
        base + "login", data={"email": email, "password": password, "csrf_token": token.group(1)}, timeout=30
    )
    assert answer.ok and "/login" not in answer.url, f"sign-in of {email} failed"
    assert http.get(base + "api/v1/me", timeout=30).json()["email"] == email
    return http


def csrf(http: requests.Session, base: str) -> str:
    page = http.get(base, timeout=30)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token, "no CSRF token on the home page"
    return token.group(1)


def poll(check: Callable[[], T], timeout: float, every: float = 3.0) -> T:
    """`check()` until it returns something truthy; the last value otherwise (for the message)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
