"""The home dashboards in a real headless Chromium (Playwright), one per role, each updating itself
without a reload (static/dashboard.js through the shared poll helper static/live.js): rows written to
the database while the page is open show up in its counts.

- instructor: today's running session with its live counts; a student's sightings arrive and the
  "out now" count goes from 1 to 2; the unconfirmed session of yesterday and the next one are listed.
- administrator: devices online/offline and refused messages; a device comes online and a message
  is refused while the page is open.
- album user: an uploaded photo waiting for indexing, its thumbnail shown; it is indexed while the
  page is open.

Chromium, the live server and the sign-in form come from tests/browser/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

from tests.browser.conftest import add_user, make_app, open_signed_in, serving
from tests.conftest import data_path
from tests.server.live_seed import live_world, see_until


@contextmanager
def running(tmp_path, seed: Callable) -> Iterator[SimpleNamespace]:
    """A fresh app (1 s refresh, jobs not started) with `seed(db, make_user, app)`'s rows, served."""
    from server.db import get_db, utcnow

    app = make_app(tmp_path, LIVE_REFRESH_SECONDS=1, JOBS_START=False)
    database = get_db(app)
    now = utcnow().replace(microsecond=0)
    with database.session() as db:

        def make_user(email: str, role: str):
            return add_user(db, app, email, email.split("@")[0].title(), role)

        world = seed(db, make_user, app, now)
    try:
        with serving(app) as base:
            yield SimpleNamespace(base=base, world=world, database=database, now=now, app=app)
    finally:
        database.dispose()


def open_home(browser, live, email: str):
    return open_signed_in(browser, f"{live.base}/", email, width=1280, timeout_ms=10_000)


def test_instructor_dashboard_live_counts(browser, tmp_path):
    from playwright.sync_api import expect

    from server.db.models import LectureSession

    def seed(db, make_user, app, now):
        owner = make_user("olga@school.example", "instructor")
        w = live_world(db, owner, now)
        course = db.get(LectureSession, w.running).course
        db.add(
            LectureSession(
                course=course,
                starts_at=now + timedelta(days=3),
                ends_at=now + timedelta(days=3, hours=1),
                period_minutes=60,
            )
        )
        db.commit()
        return w

    with running(tmp_path, seed) as live:
        w = live.world
        context, page, problems = open_home(browser, live, "olga@school.example")
        expect(page.locator("#today-title")).to_contain_text("Today's sessions")
        card = page.locator(f"[data-session-card='{w.running}']")
        expect(card).to_contain_text("LIVE1 · Live roster")
        out = page.locator(f"[data-session='{w.running}'][data-count='out']")
        expect(out).to_have_text("1")  # Cho walked out 5 minutes ago
        expect(page.locator(f"[data-session='{w.running}'][data-count='students']")).to_have_text("3")
        expect(page.locator("#dash-next .session-card")).to_have_count(1)
        expect(page.locator("#dash-unconfirmed a")).to_have_attribute(
            "href", f"/attendance/sessions/{w.ended}"
        )
        expect(page.locator("#dashboard-state")).to_contain_text("Updated")  # the page polled once

        last = live.now - timedelta(minutes=4)  # Dan was in the room until 4 minutes ago
        with live.database.session() as db:
            see_until(db, w, w.dan, last)
        expect(out).to_have_text("2")  # no reload
        page.screenshot(path="/tmp/visage-dashboard-instructor.png", full_page=True)
        assert problems == [], f"the browser reported errors: {problems}"
        context.close()


def test_admin_dashboard_live_devices_and_refusals(browser, tmp_path):
    from playwright.sync_api import expect

    from server.db.models import Classroom, Device, DeviceHealth, RejectedMessage

    def seed(db, make_user, app, now):
        make_user("root@school.example", "admin")
        cam = Device(device_id="cam-1", name="Front camera", classroom=Classroom(name="R1"))
        db.add(cam)
        db.commit()
        return SimpleNamespace(cam=cam.id)

    with running(tmp_path, seed) as live:
        context, page, problems = open_home(browser, live, "root@school.example")
        online = page.locator("[data-field='admin.devices.online']")
        expect(online).to_have_text("0")
        expect(page.locator("[data-field='admin.devices.offline']")).to_have_text("1")
        expect(page.locator("#dash-admin")).to_contain_text("Offline: Front camera")
        refused = page.locator("[data-field='admin.rejected.last_24h']")
        expect(refused).to_have_text("0")
        with live.database.session() as db:
            db.add(DeviceHealth(device_id=live.world.cam, status="online", status_at=live.now))
            db.add(
                RejectedMessage(
                    topic="visage/cam-9/sightings",
                    device_id="cam-9",
                    reason="unknown_device",
                    detail="no such device",
                    payload_size=2,
                    payload_head=b"{}",
                )
            )
            db.commit()
        expect(online).to_have_text("1")  # no reload
        expect(page.locator("[data-field='admin.devices.offline']")).to_have_text("0")
        expect(refused).to_have_text("1")
        expect(page.locator("#dash-admin [data-join]")).to_be_hidden()  # no device offline any more
        page.screenshot(path="/tmp/visage-dashboard-admin.png", full_page=True)
        assert problems == [], f"the browser reported errors: {problems}"
        context.close()


def test_album_dashboard_recent_upload_indexed_live(browser, tmp_path):
    from playwright.sync_api import expect

    from server.auth.tokens import issue_token
    from server.db.models import AlbumPhoto

    photo = data_path("lfw_subset_10x10", "Tony_Blair", "Tony_Blair_0001.jpg")

    def seed(db, make_user, app, now):
        user = make_user("ana@family.example", "album_user")
        _row, token = issue_token(db, user, "test", None)
        db.commit()
        with photo.open("rb") as handle:
            response = app.test_client().post(
                "/api/v1/album/photos",
                headers={"Authorization": f"Bearer {token}"},
                data={"photos": (handle, photo.name)},
                content_type="multipart/form-data",
            )
        assert response.status_code in (200, 201, 202), response.get_data(as_text=True)
        return SimpleNamespace()

    with running(tmp_path, seed) as live:
        context, page, problems = open_home(browser, live, "ana@family.example")
        expect(page.locator("[data-field='album.photos.total']")).to_have_text("1")
        expect(page.locator("[data-field='album.photos.pending']")).to_have_text("1")
        indexed = page.locator("[data-field='album.photos.indexed']")
        expect(indexed).to_have_text("0")
        thumb = page.locator("#dash-album .thumbs img[alt='Tony_Blair_0001.jpg']")
        expect(thumb).to_be_visible()
        assert page.evaluate("(img) => img.naturalWidth", thumb.element_handle()) > 0  # served, not broken
        with live.database.session() as db:
            for row in db.query(AlbumPhoto):
                row.status = "indexed"
            db.commit()
        expect(indexed).to_have_text("1")  # no reload
        expect(page.locator("[data-field='album.photos.pending']")).to_have_text("0")
        page.screenshot(path="/tmp/visage-dashboard-album.png", full_page=True)
        assert problems == [], f"the browser reported errors: {problems}"
        context.close()
