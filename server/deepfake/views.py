"""Deepfake web pages (blueprint `deepfake`): upload and history, one check's result, cancel, delete.

The upload form works without JavaScript (one POST with all files, then the history page);
server/static/deepfake.js sends each file on its own to the API instead, showing upload and scoring
progress per file. Pages show only the signed-in user's own checks; other ids are 404.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from werkzeug import Response

from server.auth.decorators import role_required
from server.db import db_session
from server.db.enums import Role
from server.deepfake import service, texts
from server.deepfake.charts import timeline_svg
from server.deepfake.schemas import DeepfakeCheck
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit
from server.web.live import refresh_seconds
from shared.deepfake.pipeline import NOTE, PipelineConfig

bp = Blueprint("deepfake", __name__)
bp.add_app_template_filter(texts.verdict_label, "deepfake_verdict")
bp.add_app_template_filter(texts.note, "deepfake_note")
bp.add_app_template_filter(texts.status_label, "deepfake_status")
bp.add_app_template_global(texts.page_words, "deepfake_words")
page = role_required(Role.ALBUM_USER, Role.INSTRUCTOR)


def _index(status: int = 200, refused: list[service.Refusal] | None = None) -> tuple[str, int]:
    settings = current_settings()
    checks = service.history(db_session, current_user.id, settings.deepfake.history_page)
    rows = [DeepfakeCheck.of(db_session, check, full=False).page() for check in checks]
    html = render_template(
        "deepfake/index.html",
        checks=rows,
        refused=refused or [],
        note=texts.note(NOTE),
        max_file_bytes=settings.deepfake.max_file_bytes,
        max_upload_bytes=settings.deepfake.max_upload_bytes,
        max_files=settings.deepfake.max_files_per_upload,
        refresh_seconds=refresh_seconds(),
    )
    return html, status


@bp.get("/deepfake")
@page
def index() -> tuple[str, int]:
    return _index()


@bp.post("/deepfake")
@page
def upload() -> Response | tuple[str, int]:
    uploads = files_in_request(("file",), cap=current_settings().deepfake.max_file_bytes)
    most = current_settings().deepfake.max_files_per_upload
    if not uploads:
        flash(gettext("Choose at least one video or photo to check."), "error")
        return _index(400)
    if len(uploads) > most:
        flash(
            gettext("%(num)d files selected: send at most %(most)d at a time.", num=len(uploads), most=most),
            "error",
        )
        return _index(400)
    checks, refused = service.submit_checks(db_session, current_user.id, uploads)
    if not checks:
        db_session.rollback()
        return _index(service.refusal_status(refused), refused)
    db_session.commit()
    flash(
        ngettext("%(num)d file queued for checking.", "%(num)d files queued for checking.", len(checks)),
        "success",
    )
    if refused:
        return _index(200, refused)
    return redirect(url_for("deepfake.index"), code=303)


@bp.get("/deepfake/checks/<bigid:check_id>")
@page
def result(check_id: int) -> str:
    check = service.owned_check(db_session, current_user.id, check_id)
    data = DeepfakeCheck.of(db_session, check).page()
    config = PipelineConfig()
    chart = (
        timeline_svg(check.result["timeline"], check.probability, config.real_below, config.fake_above)
        if check.result
        else None
    )
    return render_template("deepfake/result.html", check=data, chart=chart, config=config)


@bp.post("/deepfake/checks/<bigid:check_id>/cancel")
@page
def cancel(check_id: int) -> Response:
    """Cancel a queued or running check; back to the history or the check's page, as the form says."""
    check = service.owned_check(db_session, current_user.id, check_id)
    name = check.filename
    if service.cancel_check(db_session, check):
        db_session.commit()
        flash(gettext("The check of %(name)s was cancelled.", name=name), "success")
    else:
        db_session.rollback()
        flash(gettext("The check of %(name)s has already ended; it cannot be cancelled.", name=name), "error")
    if request.form.get("back") == "history":
        return redirect(url_for("deepfake.index"), code=303)
    return redirect(url_for("deepfake.result", check_id=check_id), code=303)


@bp.post("/deepfake/checks/<bigid:check_id>/delete")
@page
def delete(check_id: int) -> Response:
    check = service.owned_check(db_session, current_user.id, check_id)
    name = check.filename
    service.delete_check(db_session, check)
    db_session.commit()
    flash(gettext("The check of %(name)s was deleted.", name=name), "success")
    return redirect(url_for("deepfake.index"), code=303)


limit("deepfake.upload", "DEEPFAKE_MAX_UPLOAD_BYTES", "one request")
