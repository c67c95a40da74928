"""Deepfake pages without JavaScript: upload form, history, result page with verdict, honest note,
inline SVG timeline and face crops; refusals and failed checks say why."""

from __future__ import annotations

import io
import re

import pytest

from tests.server.conftest import PASSWORD, csrf_token_from
from tests.server.test_server_deepfake_support import (
    deepfake_pipeline,  # noqa: F401  (fixture)
    real_frame,
    run_jobs,
    share_pipeline,
    stored_files,
    users,
)


@pytest.fixture
def alice(app, client, make_user, make_token, login, deepfake_pipeline):  # noqa: F811
    share_pipeline(app, deepfake_pipeline)
    people = users(make_user, make_token)
    login(client, "alice@example.org", PASSWORD)
    return people


def post_files(client, *named: tuple[str, bytes]):
    token = csrf_token_from(client.get("/deepfake").get_data(as_text=True))
    data = {"csrf_token": token, "file": [(io.BytesIO(payload), name) for name, payload in named]}
    return client.post("/deepfake", data=data, content_type="multipart/form-data")


def test_upload_form_then_history_then_result_page(app, client, alice):
    page = client.get("/deepfake")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in html and "No checks yet" in html
    assert "Deepfake check</a>" in html  # the nav link
    answer = post_files(client, real_frame())
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/deepfake")
    history = client.get("/deepfake").get_data(as_text=True)
    assert "lynaeydofd_fr0.jpg" in history and "queued" in history
    check_id = int(re.search(r'data-check-id="(\d+)"', history).group(1))
    waiting = client.get(f"/deepfake/checks/{check_id}").get_data(as_text=True)
    assert "Waiting in the queue" in waiting

    run_jobs(app)
    result = client.get(f"/deepfake/checks/{check_id}")
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert re.search(r'class="check-verdict">(Likely real|Uncertain|Likely fake)<', html)
    probability = float(re.search(r"Probability that the faces are fake: <strong>([\d.]+) %", html).group(1))
    assert 0.0 <= probability <= 100.0
    assert "65%" in html and "not a proof" in html
    assert "<svg" in html and html.count('class="frame-score"') == 1
    face_urls = re.findall(r'<img src="(/api/v1/deepfake/checks/\d+/faces/\d+\.jpg)"', html)
    assert face_urls and client.get(face_urls[0]).data[:3] == b"\xff\xd8\xff"
    assert "done" in client.get("/deepfake").get_data(as_text=True)


def test_refused_file_gives_the_page_again_with_the_reason(client, alice, app):
    answer = post_files(client, ("slides.mp4", b"%PDF-1.7 not a video\n" * 10))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 415 and "not an image or a video" in html and "slides.mp4" in html
    assert stored_files(app) == []


def test_a_failed_check_shows_its_reason_and_delete_works(app, client, alice):
    data = real_frame()[1]
    post_files(client, ("broken.jpg", data[: len(data) // 3]))  # a JPEG cut short
    run_jobs(app)
    html = client.get("/deepfake").get_data(as_text=True)
    check_id = int(re.search(r'data-check-id="(\d+)"', html).group(1))
    assert "failed" in html and "broken.jpg" in html
    result = client.get(f"/deepfake/checks/{check_id}").get_data(as_text=True)
    assert "The check failed: broken.jpg: the image is corrupt or truncated" in result
    token = csrf_token_from(result)
    gone = client.post(f"/deepfake/checks/{check_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert client.get(f"/deepfake/checks/{check_id}").status_code == 404


def test_a_queued_check_has_a_cancel_button_that_cancels_it_and_a_done_one_has_none(app, client, alice):
    post_files(client, real_frame())
    history = client.get("/deepfake").get_data(as_text=True)
    check_id = int(re.search(r'data-check-id="(\d+)"', history).group(1))
    cancel_action = f'action="/deepfake/checks/{check_id}/cancel"'
    assert cancel_action in history
    page = client.get(f"/deepfake/checks/{check_id}").get_data(as_text=True)
    assert cancel_action in page and ">Cancel</button>" in page

    answer = client.post(
        f"/deepfake/checks/{check_id}/cancel", data={"csrf_token": csrf_token_from(page), "back": "history"}
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/deepfake")
    history = client.get("/deepfake").get_data(as_text=True)
    assert "was cancelled" in history and 'data-status="cancelled"' in history
    assert cancel_action not in history and stored_files(app) == []
    page = client.get(f"/deepfake/checks/{check_id}").get_data(as_text=True)
    assert "The check was cancelled" in page and cancel_action not in page
    assert run_jobs(app) == 0
    again = client.post(f"/deepfake/checks/{check_id}/cancel", data={"csrf_token": csrf_token_from(page)})
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/deepfake/checks/{check_id}")
    assert "has already ended" in client.get(f"/deepfake/checks/{check_id}").get_data(as_text=True)
    no_token = client.post(f"/deepfake/checks/{check_id}/cancel")
    assert no_token.status_code == 400  # CSRF, like every form

    post_files(client, real_frame())
    run_jobs(app)
    history = client.get("/deepfake").get_data(as_text=True)
    done_id = int(re.search(r'data-check-id="(\d+)" data-status="done"', history).group(1))
    assert f'action="/deepfake/checks/{done_id}/cancel"' not in history
    page = client.get(f"/deepfake/checks/{done_id}").get_data(as_text=True)
    assert "/cancel" not in page and ">Cancel</button>" not in page
