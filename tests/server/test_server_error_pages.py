"""Errors that lead somewhere, and the site icon (issue 18).

A refused web form answers its 4xx page with the reason and a link back to the form it came from
(the page a view names, else the same-site page the request came from, never another site's); the
album's key-photo form re-renders itself with the reason; the API keeps its JSON errors. Every HTML
page links an icon that is served (200, an image), and /favicon.ico answers without signing in."""

from __future__ import annotations

import io
import re

import pytest

from tests.server.conftest import PASSWORD, csrf_token_from

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)"')
BACK_LINK = re.compile(r'<a href="([^"]*)" id="error-back"[^>]*>([^<]+)</a>')


@pytest.fixture
def ana(make_user):
    return make_user("album_user", email="ana@example.org")


def signed_in(client, login, user) -> str:
    """Sign in; the CSRF token of the album page."""
    login(client, user.email, PASSWORD)
    return csrf_token_from(client.get("/album").get_data(as_text=True))


def test_a_refused_form_links_back_to_the_form_it_came_from(client, login, ana):
    token = signed_in(client, login, ana)
    refused = client.post(
        "/album/albums",
        data={"csrf_token": token, "name": "  "},
        headers={"Referer": "http://localhost/album?page=2"},
    )
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    page = refused.get_data(as_text=True)
    assert "An album needs a name" in page
    assert BACK_LINK.search(page).groups() == ("/album?page=2", "Back to the form")
    assert 'href="/"' in page  # the start page stays offered

    # A face that is not the user's: 404 with the way back to the photo page the form was on.
    moved = client.post(
        "/album/faces/2147483000/move",
        data={"csrf_token": token, "person_id": "new"},
        headers={"Referer": "http://localhost/album/photos/5"},
    )
    assert moved.status_code == 404
    assert "You have no face with id 2147483000." in moved.get_data(as_text=True)
    assert BACK_LINK.search(moved.get_data(as_text=True)).group(1) == "/album/photos/5"

    # A Referer from another site is never offered as the way back.
    elsewhere = client.post(
        "/album/albums",
        data={"csrf_token": token, "name": ""},
        headers={"Referer": "https://evil.example/album"},
    )
    assert elsewhere.status_code == 400 and BACK_LINK.search(elsewhere.get_data(as_text=True)) is None
    # A page that is not there, opened directly: nothing to go back to but the start page.
    missing = client.get("/album/photos/2147483000")
    assert missing.status_code == 404 and BACK_LINK.search(missing.get_data(as_text=True)) is None


def test_a_key_photo_that_is_not_an_image_re_renders_the_search_form(client, login, ana):
    token = signed_in(client, login, ana)
    refused = client.post(
        "/album/search",
        data={"csrf_token": token, "key": (io.BytesIO(b"these are not the pixels you want"), "key.jpg")},
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="key-form"' in page and 'class="flash flash-error"' in page
    assert "not an image" in page
    # The same refusal through the API stays JSON.
    api = client.post(
        "/api/v1/album/searches",
        data={"key": (io.BytesIO(b"these are not the pixels you want"), "key.jpg")},
        headers={"X-CSRFToken": token},
    )
    assert api.status_code == 422 and api.mimetype == "application/json" and "error" in api.get_json()
    gone = client.delete("/api/v1/album/faces/2147483000", headers={"X-CSRFToken": token})
    assert gone.status_code == 404 and gone.get_json() == {"error": "you have no face with id 2147483000"}


def test_favicon_is_served_and_every_page_links_an_icon_that_loads(app, client, login, make_user):
    anonymous = client.get("/favicon.ico")
    assert anonymous.status_code == 200 and anonymous.mimetype == "image/vnd.microsoft.icon"
    assert anonymous.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    login_page = client.get("/login").get_data(as_text=True)
    assert ICON_LINK.findall(login_page)

    admin = make_user("admin", email="root@example.org")
    login(client, admin.email, PASSWORD)
    pages = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.rule.startswith(("/api/", "/static")):
            continue
        response = client.get(rule.rule)
        if response.status_code != 200 or not response.data.startswith(b"<!doctype html>"):
            continue  # redirects, downloads, the test suite's plain-text probes
        html = response.get_data(as_text=True)
        icons = ICON_LINK.findall(html)
        assert icons, rule.rule
        for href in icons:
            icon = client.get(href)
            assert icon.status_code == 200 and icon.mimetype.startswith("image/"), (rule.rule, href)
        pages += 1
    assert pages >= 8
