"""The deepfake history in a real headless Chromium keeps itself current without a reload
(static/deepfake_live.js through the shared poll helper static/live.js): a running check's progress
bar moves, it ends with its probability and verdict and loses its Cancel button, and a check started
elsewhere (another tab, the API) appears on top. Rows are written to the database by the test (the
scoring pipeline itself is tested in test_browser_deepfake.py)."""

from __future__ import annotations

from types import SimpleNamespace

from tests.browser.test_browser_dashboard import open_home, running


def test_history_progress_and_new_checks_live(browser, tmp_path):
    from playwright.sync_api import expect

    from server.db.models import DeepfakeCheck, Job
    from server.db.models.deepfake import CheckStatus
    from server.db.models.jobs import JobStatus

    def seed(db, make_user, app, now):
        user = make_user("ana@family.example", "album_user")
        job = Job(
            kind="deepfake.score", payload={}, status=JobStatus.RUNNING, progress_done=4, progress_total=32
        )
        db.add(job)
        db.flush()
        check = DeepfakeCheck(
            owner_id=user.id,
            job_id=job.id,
            filename="clip.mp4",
            media_kind="video",
            size_bytes=10,
            sha256="0" * 64,
            status=CheckStatus.RUNNING,
        )
        db.add(check)
        db.commit()
        return SimpleNamespace(user=user.id, job=job.id, check=check.id)

    with running(tmp_path, seed) as live:
        w = live.world
        context, page, problems = open_home(browser, live, "ana@family.example")
        page.goto(f"{live.base}/deepfake")
        row = page.locator(f"#deepfake-history tr[data-check-id='{w.check}']")
        expect(row.locator(".check-status progress")).to_have_attribute("value", "4")
        expect(row.locator(".check-cancel")).to_have_count(1)

        with live.database.session() as db:
            db.get(Job, w.job).progress_done = 20
            db.commit()
        expect(row.locator(".check-status progress")).to_have_attribute("value", "20")  # no reload

        with live.database.session() as db:
            job = db.get(Job, w.job)
            job.status, job.progress_done = JobStatus.SUCCEEDED, 32
            check = db.get(DeepfakeCheck, w.check)
            check.status, check.probability, check.verdict = CheckStatus.DONE, 0.912, "likely_fake"
            db.add(
                DeepfakeCheck(
                    owner_id=w.user,
                    filename="other.jpg",
                    media_kind="image",
                    size_bytes=5,
                    sha256="1" * 64,
                    status=CheckStatus.QUEUED,
                )
            )
            db.commit()
        expect(row.locator(".check-status")).to_have_text("done")
        expect(row.locator(".check-probability")).to_have_text("91.2 %")
        expect(row.locator(".check-cancel")).to_have_count(0)
        first = page.locator("#deepfake-history tbody tr").first
        expect(first).to_contain_text("other.jpg")
        expect(first.locator(".check-status")).to_have_text("queued")
        expect(page.locator("#deepfake-history tbody tr")).to_have_count(2)
        page.screenshot(path="/tmp/visage-deepfake-live.png", full_page=True)
        assert problems == [], f"the browser reported errors: {problems}"
        context.close()
