"""The calibrated threshold on the course page in a real headless Chromium (issue 15, X4): an
administrator sees the course's pair counts and the rates at the calibrated and the global
threshold, accepts the course's threshold (confirming it is below the global default when it is),
sees it in use, and goes back to the global default. Real SFace embeddings of lfw_subset_10x10.
Skips without Chromium, except under CI=true, where it fails.
"""

from __future__ import annotations

import secrets

import numpy as np

from tests.browser.conftest import add_user, make_app, serving, sign_in, watch_problems


def test_admin_accepts_and_reverts_the_calibrated_threshold_on_the_course_page(
    browser, lfw10_faces, tmp_path
):
    from playwright.sync_api import expect

    from server.db import get_db
    from server.db.enums import FaceKind
    from server.db.models import AuditLog, Course, FaceTemplate, Student
    from server.faces.embeddings import to_bytes
    from server.faces.model import DEFAULT_MODEL
    from server.school.calibration import propose
    from shared.embed import require_embedder

    names, vectors = lfw10_faces
    app = make_app(tmp_path)
    database = get_db(app)
    with database.session() as db:
        add_user(db, app, "root@school.example", "Root", "admin")
        students = {n: Student(student_number=secrets.token_hex(5), name=n) for n in sorted(set(names))}
        course = Course(code="CAL101", title="Calibrated", students=list(students.values()))
        db.add(course)
        for name, vector in zip(names, np.asarray(vectors, np.float32), strict=True):
            face = FaceTemplate(kind=FaceKind.PHOTO, embedding=to_bytes(vector), dim=128, model=DEFAULT_MODEL)
            face.student = students[name]
            db.add(face)
        db.commit()
        course_id = course.id
    ids = {name: i for i, name in enumerate(sorted(set(names)))}
    global_threshold = float(require_embedder(DEFAULT_MODEL)["strict_threshold"])
    expected = propose(np.array([ids[n] for n in names]), vectors, DEFAULT_MODEL, global_threshold)
    assert expected.threshold is not None

    with serving(app) as base:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        problems = watch_problems(page)
        page.goto(f"{base}/courses/{course_id}")
        sign_in(page, "root@school.example")
        section = page.locator("#calibration")
        expect(section.locator("h2")).to_have_text("Recognition threshold")
        expect(section.locator("[data-genuine-pairs]")).to_contain_text("450")
        expect(section.locator("[data-impostor-pairs]")).to_contain_text("4,500")
        expect(section.locator("[data-proposed]")).to_contain_text(str(expected.threshold))
        expect(section.locator("[data-global]")).to_contain_text(str(global_threshold))
        expect(section.locator("[data-threshold-in-use]")).to_have_text(f"{global_threshold:.4g}")

        if expected.below_global:
            section.locator("input[name=confirm_below_global]").check()
        section.get_by_role("button", name="Use the calibrated threshold").click()
        expect(page.locator(".flash").first).to_contain_text(f"calibrated threshold {expected.threshold:g}")
        expect(section.locator("[data-threshold-in-use]")).to_have_text(f"{expected.threshold:.4g}")
        expect(section).to_contain_text("calibrated for this course")

        section.get_by_role("button", name="Back to the global default").click()
        expect(page.locator(".flash").first).to_contain_text("uses the global threshold again")
        expect(section.locator("[data-threshold-in-use]")).to_have_text(f"{global_threshold:.4g}")
        assert problems == []
        page.close()

    with database.session() as db:
        rows = db.query(AuditLog).filter(AuditLog.entity_type == "course").order_by(AuditLog.id)
        actions = [row.action for row in rows]
    assert actions == ["course.calibration.accept", "course.calibration.revert"]
