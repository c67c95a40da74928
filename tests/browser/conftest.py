"""What every browser test needs: Debian's Chromium driven by Playwright, the app on a real HTTP
server, and the sign-in form. Kept in one place so each test file holds only its own scenario.

Chromium is Debian's package (`apt-get install chromium`; scripts/test.sh installs it when
missing), driven by Playwright for Python without Playwright's own browser download. Without it
the tests skip with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import unavailable

CHROMIUM = Path(os.environ.get("VISAGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (starting it costs about a second)."""
    if not CHROMIUM.exists():
        unavailable(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium chromium-driver)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def make_app(tmp_path: Path, **config: Any):
    """The app on a fresh, migrated SQLite database under tmp_path, with cheap password hashing;
    `config` adds the test's own settings."""
    from server.app import create_app
    from server.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'visage.db'}"
    upgrade(url)
    return create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(16),
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
            **config,
        }
    )


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve `app` on a real threaded HTTP server on a free localhost port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def album_served(tmp_path: Path, analyzer) -> Iterator[SimpleNamespace]:
    """The album scenarios' site: a fresh app with the session's face core and its job runner
    started (one worker thread), album user ana@family.example, served; yields base and app."""
    from server import jobs
    from server.db import get_db
    from server.faces.analyzer import EXTENSION_KEY

    app = make_app(tmp_path, JOBS_START=False, JOBS_THREADS=1, JOBS_POLL_SECONDS=0.5)
    app.extensions[EXTENSION_KEY] = analyzer  # the session's models, already loaded
    database = get_db(app)
    with database.session() as db:
        add_user(db, app, "ana@family.example", "Ana Album", "album_user")
    jobs.start(app, force=True)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, app=app)
    finally:
        jobs.stop(app)
        database.dispose()


def watch_problems(page, *, http_errors: bool = True) -> list[str]:
    """Collect script errors, CSP refusals (console errors) and, unless the scenario expects some,
    HTTP error responses (the browser's own favicon probe aside); the test asserts the list is empty."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    if http_errors:
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
    return problems


def add_user(db, app, email: str, display_name: str, role: str):
    """Create an account that signs in with PASSWORD, hashed with the app's cheap test settings:
    every scenario starts with one or more of these."""
    from server.auth.accounts import create_user
    from server.auth.passwords import passwords

    return create_user(
        db, passwords(app), email=email, display_name=display_name, role=role, password=PASSWORD
    )


def open_signed_in(
    browser, url: str, email: str, *, width: int = 1400, height: int = 1000, timeout_ms: int = 15_000
) -> tuple[Any, Any, list[str]]:
    """A fresh browser context (its own cookies) opened at `url` and signed in as `email` on the
    /login it redirects to, with problems watched from the first request: the start of most
    scenarios. Returns (context, page, problems); the test closes the context."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems = watch_problems(page)
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    sign_in(page, email)
    return context, page, problems


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    """Fill and submit the sign-in form the page shows (after a redirect to /login)."""
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
