"""The unknown-face review in a real headless Chromium (Playwright): an unknown face shows its crop,
larger on hover and large in a dialog on click; the assign control lists the roster ranked by
similarity with nothing pre-selected; assigning decides the whole cluster (both tracks of the same
person); the assigned face is added to the student's enrolment and removed again.

Faces are real LFW photos embedded by the real face core (tests/server/unknown_faces_seed.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.browser.conftest import add_user, make_app, open_signed_in, serving
from tests.server.attendance_seed import build_world
from tests.server.unknown_faces_seed import add_unknown_faces, embed_photos


@pytest.fixture(scope="module")
def faces(analyzer):
    return embed_photos(analyzer)


@pytest.fixture
def live(tmp_path, analyzer, faces) -> Iterator[SimpleNamespace]:
    from server.db import get_db
    from server.faces.analyzer import EXTENSION_KEY

    app = make_app(tmp_path, ATTENDANCE_REFRESH_SECONDS=60)
    app.extensions[EXTENSION_KEY] = analyzer  # the session's face core, not a second copy
    database = get_db(app)
    with database.session() as db:
        owner = add_user(db, app, "olga@school.example", "Olga Owner", "instructor")
        other = add_user(db, app, "oscar@school.example", "Oscar Other", "instructor")
        world = build_world(db, owner, other)
        world.tracks = add_unknown_faces(db, world, faces)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, world=world, database=database)
    finally:
        database.dispose()


def test_unknown_faces_crop_suggestions_cluster_and_learning_in_chromium(browser, live):
    from playwright.sync_api import expect

    from server.db.models import FaceTemplate, LearnedFace, Sighting

    w = live.world
    context, page, problems = open_signed_in(
        browser, f"{live.base}/attendance/sessions/{w.session}", "olga@school.example"
    )
    page.wait_for_url(f"**/attendance/sessions/{w.session}")

    # The unknown face shows its crop (loaded, not "no image").
    x1 = page.locator("li.face", has_text="track x1")
    crop = x1.locator(".face-zoom img")
    expect(crop).to_be_visible()
    assert crop.evaluate("img => img.complete && img.naturalWidth") > 0
    assert x1.locator(".no-thumb").count() == 0
    # Larger on hover...
    small = crop.bounding_box()
    crop.hover()
    page.wait_for_function(
        "img => img.getBoundingClientRect().width >= 150", arg=crop.element_handle(), timeout=5_000
    )
    assert crop.bounding_box()["width"] > 2 * small["width"]
    # ...and large on click, in a dialog.
    x1.locator(".face-zoom").click()
    dialog = page.locator("#face-dialog")
    expect(dialog).to_be_visible()
    large = dialog.locator("img")
    expect(large).to_have_attribute("src", f"/api/v1/sightings/{w.tracks.x1}/thumbnail")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=large.element_handle())
    assert large.bounding_box()["width"] >= 300
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # Ranked suggestions, nothing pre-selected.
    select = x1.locator("select[name=student_id]")
    assert select.input_value() == ""
    suggested = select.locator("optgroup[label='Most alike'] option")
    assert 1 <= suggested.count() <= 3
    first = suggested.first.inner_text()
    assert first.startswith("Ada Lovelace (2026001) · 0.")
    scores = [float(s) for s in suggested.evaluate_all("els => els.map(e => e.dataset.score)")]
    assert scores == sorted(scores, reverse=True)
    # Both tracks of the same person are one cluster: the button says so.
    assert "2 faces in 1 session" in x1.locator(".cluster-info").inner_text()

    # Assign the cluster to the top suggestion.
    select.select_option(label=first)
    x1.get_by_role("button", name="Assign all 2 faces").click()
    expect(page.locator(".flash").first).to_contain_text(
        "2 faces of this person assigned to Ada Lovelace in 1 session"
    )
    x2 = page.locator("li.face", has_text="track x2")
    expect(x2).to_contain_text("Assigned to Ada Lovelace")
    with live.database.session() as db:
        assert (
            db.query(Sighting)
            .filter(Sighting.track_id.in_(["x1", "x2"]), Sighting.student_id == w.s1)
            .count()
            == 12
        )

    # Add the face to Ada's enrolment, then remove it again.
    with live.database.session() as db:
        photos_before = db.query(FaceTemplate).filter(FaceTemplate.student_id == w.s1).count()
    page.locator("li.face", has_text="track x1").get_by_role(
        "button", name="Add to Ada Lovelace's enrolment"
    ).click()
    expect(page.locator(".flash").first).to_contain_text("Face added to Ada Lovelace's enrolment")
    learned = page.locator("#learned-faces li.face")
    expect(learned).to_have_count(1)
    expect(learned).to_contain_text("Ada Lovelace (2026001)")
    with live.database.session() as db:
        assert db.query(LearnedFace).count() == 1
        assert db.query(FaceTemplate).filter(FaceTemplate.student_id == w.s1).count() > photos_before
    expect(page.locator("#audit-log")).to_contain_text("crop added to the enrolment")
    learned.get_by_role("button", name="Remove from the enrolment").click()
    expect(page.locator(".flash").first).to_contain_text("Learned face removed from Ada Lovelace's enrolment")
    expect(page.locator("#learned-faces li.face")).to_have_count(0)
    with live.database.session() as db:
        assert db.query(LearnedFace).count() == 0
    assert problems == []
    context.close()
