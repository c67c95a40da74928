"""The API for people in a real headless Chromium (Playwright): the home page's API card opens Swagger UI
(served from the installed package, no CDN) rendering the operations of /api/v1/openapi.json, and the
API tokens page creates a token shown once, lists it, and revokes it; the token works on the API until
it is revoked. No script error or CSP refusal on the way.

Chromium and the live server come from tests/browser/conftest.py; without Chromium the test skips with a
message, except under CI=true, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import requests

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems

EMAIL = "dana@example.org"


@pytest.fixture
def live(tmp_path) -> Iterator[SimpleNamespace]:
    from server.db import get_db

    app = make_app(tmp_path)
    database = get_db(app)
    with database.session() as db:
        add_user(db, app, EMAIL, "Dana", "album_user")
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base)
    finally:
        database.dispose()


def test_the_api_card_opens_swagger_ui_with_the_operations(browser, live):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watch_problems(page)
    page.goto(live.base + "/")
    sign_in(page, EMAIL)
    page.get_by_role("link", name="API", exact=True).click()
    expect(page).to_have_url(live.base + "/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Visage API")
    compare = page.locator(".opblock-post", has_text="/faces/compare")
    expect(compare).to_be_visible()
    expect(page.locator(".opblock-get", has_text="/me").first).to_be_visible()
    assert page.locator(".opblock").count() > 50  # every operation of the document is listed
    compare.locator(".opblock-summary").click()  # opens with its multipart body described
    expect(compare.locator(".opblock-body")).to_contain_text("source_photo_id")
    scripts = page.eval_on_selector_all("script[src]", "nodes => nodes.map(n => n.src)")
    assert scripts and all(src.startswith(live.base + "/") for src in scripts), scripts  # no CDN
    assert problems == []


def test_a_token_is_created_shown_once_listed_and_revoked(browser, live):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watch_problems(page, http_errors=False)  # the failed form post below is a 400 on purpose
    page.goto(live.base + "/")
    sign_in(page, EMAIL)
    page.get_by_role("link", name="API tokens").first.click()
    expect(page.locator("#no-tokens")).to_be_visible()

    page.click("button:has-text('Create token')")  # no name: refused with the message, nothing made
    expect(page.locator(".field-error")).to_contain_text("required")
    expect(page.locator("#no-tokens")).to_be_visible()

    page.fill("#token-name", "nightly upload")
    page.select_option("#token-expires", "30")
    page.click("button:has-text('Create token')")
    token = page.locator("#new-token-value").input_value()
    assert token.startswith("vsg_") and len(token) > 40
    row = page.locator("#tokens tbody tr", has_text="nightly upload")
    expect(row).to_contain_text(token[:12])
    expect(row.locator(".token-state")).to_have_text("active")
    me = requests.get(live.base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["email"] == EMAIL

    page.goto(live.base + "/account/tokens")  # shown once: a later visit lists it without the secret
    assert token not in page.content()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(row).to_contain_text(token[:12])

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash")).to_contain_text("revoked")
    expect(row.locator(".token-state")).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    gone = requests.get(live.base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert gone.status_code == 401
    assert problems == []
