"""Album web pages (blueprint `album`): the library (upload with a progress bar per file, thumbnails,
analysis progress), a photo with its faces outlined, search by key photo, people.

Forms call the same services as the API and work without JavaScript; `static/album.js` adds the
per-file upload progress (XHR to the API, then one indexing job) and waits for the analysis.
Success: a flash message and a redirect. Refusal: the flash says why, with the 4xx status.
Face boxes are drawn as SVG over the image (no inline styles: the CSP forbids them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug import Response

from server.album import access, people, search, service
from server.album.errors import AlbumError
from server.album.library import PER_PAGE, photo_page
from server.api.io import query_int
from server.auth.decorators import role_required
from server.db import db_session
from server.db.enums import Role
from server.db.models import Album, AlbumPerson, AlbumPhoto
from server.db.types import INT_MAX
from server.errors import ServiceError
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit
from server.web.live import refresh_seconds as live_refresh_seconds

bp = Blueprint("album", __name__, url_prefix="/album")
WAITING_SHOWN = 60  # faces not in a person yet shown on the people page (newest first)
album_page = role_required(Role.ALBUM_USER)


def sentence(message: str) -> str:
    """A message as a sentence: a capital first letter (not when it starts with a file name, which
    keeps its own case) and a full stop."""
    if "." not in message.split(" ", 1)[0].rstrip(".:"):
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def mine(lookup: Callable[[], Any]) -> Any:
    """The looked-up row, or the 404 page (another user's ids look unknown)."""
    try:
        return lookup()
    except ServiceError as error:
        abort(error.status, sentence(error.message))


def local(url: str | None) -> str | None:
    """`url` if it is a path on this site (a form's `next`), else None: never a link elsewhere."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return None


def back_to(url: str) -> None:
    """Where the error page of this request links back to: the page with the form that was sent."""
    g.error_back = url


def attempt(action: Callable[[], Response]) -> Response:
    """Run a form action; a refusal rolls back and answers the error page with its 4xx, the reason
    and a link back to the form (`back_to`, else the page the form was on)."""
    try:
        return action()
    except ServiceError as error:
        db_session.rollback()
        abort(error.status, sentence(error.message))
    except ValueError:
        db_session.rollback()
        abort(400, gettext("The form has a value that is not a number where one is needed."))


def app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def app_limits() -> dict[str, Any]:
    album = current_settings().album
    return {
        "photo_bytes": album.max_photo_bytes,
        "upload_bytes": album.max_upload_bytes,
        "files": album.max_files_per_upload,
    }


# --- library -------------------------------------------------------------------------------------


@bp.get("")
@album_page
def library() -> str:
    album_id = query_int("album", None, 1, INT_MAX)
    album = mine(lambda: access.album_for(db_session, current_user, album_id)) if album_id else None
    found = photo_page(
        db_session,
        current_user.id,
        query_int("page", 1, -INT_MAX, INT_MAX),
        query_int("per_page", PER_PAGE, -INT_MAX, INT_MAX),
        album,
    )
    counts = dict(
        db_session.execute(
            select(AlbumPhoto.status, func.count())
            .where(AlbumPhoto.owner_id == current_user.id)
            .group_by(AlbumPhoto.status)
        ).all()
    )
    albums = list(
        db_session.scalars(select(Album).where(Album.owner_id == current_user.id).order_by(Album.name))
    )
    return render_template(
        "album/library.html",
        photos=found.photos,
        paging=found,
        album=album,
        albums=albums,
        counts=counts,
        limits=app_limits(),
        refresh_seconds=live_refresh_seconds(),
    )


@bp.post("/upload")
@album_page
def upload() -> Response:
    """The form without JavaScript: all files in one request, then one indexing job."""

    def action() -> Response:
        album = None
        if request.form.get("album_id"):
            album = access.album_for(db_session, current_user, int(request.form["album_id"]))
        # Read whole (no per-photo cap): a zip may be larger than a photo; the request limit holds.
        files = files_in_request(("photos",))
        zips = [item for item in files if item.filename.lower().endswith(".zip")] + files_in_request(("zip",))
        images = [item for item in files if not item.filename.lower().endswith(".zip")]
        result = service.upload(db_session, current_user, images, zips, album)
        try:
            db_session.commit()
        except BaseException:
            result.written.discard()
            raise
        stored, duplicates = len(result.of("stored")), len(result.of("duplicate"))
        flash(
            gettext(
                "%(stored)s stored, %(duplicates)s; faces are being analysed.",
                stored=ngettext("%(num)d photo", "%(num)d photos", stored),
                duplicates=ngettext("%(num)d duplicate", "%(num)d duplicates", duplicates),
            ),
            "info",
        )
        for outcome in result.of("rejected"):
            flash(sentence(f"{outcome.filename}: {outcome.reason}"), "error")
        return redirect(url_for("album.library"), 303)

    return attempt(action)


limit("album.upload", "ALBUM_MAX_UPLOAD_BYTES", "one upload to the album")


@bp.post("/index")
@album_page
def index_pending() -> Response:
    """Queue the analysis of photos still waiting (e.g. after an upload whose job failed)."""
    job, count = service.index_pending(db_session, current_user)
    db_session.commit()
    flash(
        ngettext(
            "Analysing %(num)d photo in the background.", "Analysing %(num)d photos in the background.", count
        )
        if job
        else gettext("Nothing is waiting for analysis."),
        "info",
    )
    return redirect(url_for("album.library"), 303)


@bp.post("/albums")
@album_page
def create_album() -> Response:
    def action() -> Response:
        name = " ".join(request.form.get("name", "").split())
        if not name or len(name) > 200:
            raise AlbumError(gettext("an album needs a name of at most 200 characters"))
        if db_session.scalar(select(Album.id).where(Album.owner_id == current_user.id, Album.name == name)):
            raise AlbumError(gettext("you already have an album named %(name)s", name=repr(name)), status=409)
        album = Album(owner_id=current_user.id, name=name)
        db_session.add(album)
        db_session.commit()
        return redirect(url_for("album.library", album=album.id), 303)

    return attempt(action)


# --- one photo -----------------------------------------------------------------------------------


@bp.get("/photos/<int:photo_id>")
@album_page
def photo(photo_id: int) -> str:
    row = mine(lambda: access.photo_for(db_session, current_user, photo_id))
    everyone = people.people_of(db_session, current_user.id, hidden=None)
    return render_template("album/photo.html", photo=row, faces=row.faces, everyone=everyone)


@bp.post("/photos/<int:photo_id>/delete")
@album_page
def delete_photo(photo_id: int) -> Response:
    row = mine(lambda: access.photo_for(db_session, current_user, photo_id))
    service.delete_photos(db_session, current_user.id, [row])
    db_session.commit()
    flash(gettext("Deleted %(name)s with its faces.", name=row.filename), "info")
    return redirect(url_for("album.library"), 303)


@bp.post("/faces/<int:face_id>/not-this-person")
@album_page
def not_this_person(face_id: int) -> Response:
    face = mine(lambda: access.face_for(db_session, current_user, face_id))
    back = request.form.get("next") or url_for("album.photo", photo_id=face.photo_id)
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("album.photo", photo_id=face.photo_id)

    def action() -> Response:
        person_id = people.not_this_person(db_session, face)
        people.prune_empty(db_session, current_user.id)
        db_session.commit()
        flash(gettext("Noted: that face is not this person."), "info")
        if person_id is not None and db_session.get(AlbumPerson, person_id) is None:
            return redirect(url_for("album.people_page"), 303)  # the person had no other face
        return redirect(back, 303)

    return attempt(action)


@bp.post("/faces/<int:face_id>/delete")
@album_page
def delete_face(face_id: int) -> Response:
    """A false face (a hand, a dark patch) goes; the photo stays."""
    face = mine(lambda: access.face_for(db_session, current_user, face_id))
    photo_id = face.photo_id
    back = local(request.form.get("next")) or url_for("album.photo", photo_id=photo_id)
    back_to(back)

    def action() -> Response:
        service.delete_faces(db_session, current_user.id, [face])
        db_session.commit()
        flash(gettext("Deleted that face; the photo stays."), "info")
        return redirect(back, 303)

    return attempt(action)


@bp.post("/faces/<int:face_id>/move")
@album_page
def move_face(face_id: int) -> Response:
    """Into one of the user's people (`person_id`) or a new one (`person_id` "new", optional `name`)."""
    face = mine(lambda: access.face_for(db_session, current_user, face_id))
    back = local(request.form.get("next")) or url_for("album.photo", photo_id=face.photo_id)
    back_to(back)

    def action() -> Response:
        wanted = request.form.get("person_id", "")
        new = wanted in ("", "new")
        target = None if new else access.person_for(db_session, current_user, int(wanted))
        name = request.form.get("name") if target is None else None
        person, summary = people.move_and_regroup(app(), db_session, face, target, name)
        joined = (
            " "
            + ngettext(
                "%(num)d more waiting face joined them.",
                "%(num)d more waiting faces joined them.",
                summary.assigned,
            )
            if summary.assigned
            else ""
        )
        flash(gettext("Moved the face to %(name)s.", name=person_label(person)) + joined, "info")
        return redirect(back, 303)

    return attempt(action)


# --- search --------------------------------------------------------------------------------------


@bp.get("/search")
@album_page
def search_page() -> str:
    return render_template("album/search.html", found=None, results=None, recent=recent_keys())


def recent_keys() -> list[AlbumPhoto]:
    """The user's latest analysed photos with faces, offered as keys on the search page."""
    return list(
        db_session.scalars(
            select(AlbumPhoto)
            .where(
                AlbumPhoto.owner_id == current_user.id,
                AlbumPhoto.status == "indexed",
                AlbumPhoto.face_count > 0,
            )
            .order_by(AlbumPhoto.created_at.desc(), AlbumPhoto.id.desc())
            .limit(24)
        )
    )


@bp.post("/search")
@album_page
def start_search() -> Response | tuple[str, int]:
    """A refused key (not an image, too large, no face) re-renders the search form with the reason
    and its 4xx status, so the user can pick another photo at once."""
    back_to(url_for("album.search_page"))
    try:
        return start_search_action()
    except ServiceError as error:
        db_session.rollback()
        flash(sentence(error.message), "error")
        page = render_template("album/search.html", found=None, results=None, recent=recent_keys())
        return page, error.status
    except ValueError:
        db_session.rollback()
        abort(400, gettext("The form has a value that is not a number where one is needed."))


def start_search_action() -> Response:
    """Start a search from the form: an uploaded key or one of the user's photos (and face)."""
    if request.form.get("photo_id"):
        row = access.photo_for(db_session, current_user, int(request.form["photo_id"]))
        found = search.from_photo(app(), db_session, current_user, row)
    else:
        keys = files_in_request(("key",), cap=current_settings().album.max_photo_bytes)
        if len(keys) != 1:
            raise AlbumError(gettext("choose one key photo"))
        found = search.from_upload(app(), db_session, current_user, keys[0])
    db_session.commit()
    face = 0 if len(found.faces) == 1 else None
    wanted = request.form.get("face_id", type=int)
    for number, key_face in enumerate(found.faces):
        if wanted is not None and key_face.get("face_id") == wanted:
            face = number
    return redirect(url_for("album.search_results", search_id=found.id, face=face), 303)


limit("album.start_search", "ALBUM_MAX_PHOTO_BYTES", "a key photo")


@bp.get("/searches/<int:search_id>")
@album_page
def search_results(search_id: int) -> str | tuple[str, int]:
    found = mine(lambda: access.search_for(db_session, current_user, search_id))
    number = query_int("face", None, 0, INT_MAX)
    results = None
    if number is not None:
        try:
            results = search.run(app(), db_session, found, number)
        except ServiceError as error:
            flash(sentence(error.message), "error")
            return render_template("album/search.html", found=found, chosen=None, results=None), error.status
    return render_template(
        "album/search.html", found=found, chosen=number, results=results, threshold=search.threshold(app())
    )


# --- people --------------------------------------------------------------------------------------


@bp.get("/people")
@album_page
def people_page() -> str:
    hidden = request.args.get("hidden") == "1"
    everyone = people.people_of(db_session, current_user.id, hidden=hidden)
    counts = people.face_counts(db_session, current_user.id)
    covers = {person.id: people.cover_face(db_session, person) for person in everyone}
    waiting = people.waiting_faces(db_session, current_user.id, WAITING_SHOWN)
    return render_template(
        "album/people.html",
        everyone=everyone,
        counts=counts,
        covers=covers,
        hidden=hidden,
        waiting=waiting,
        waiting_total=people.waiting_count(db_session, current_user.id),
    )


@bp.get("/people/<int:person_id>")
@album_page
def person_page(person_id: int) -> str:
    person = mine(lambda: access.person_for(db_session, current_user, person_id))
    faces = people.faces_of(db_session, person)
    others = [p for p in people.people_of(db_session, current_user.id, hidden=None) if p.id != person.id]
    feature = people.feature_face(db_session, person)
    return render_template("album/person.html", person=person, faces=faces, others=others, feature=feature)


@bp.post("/people/<int:person_id>")
@album_page
def update_person(person_id: int) -> Response:
    person = mine(lambda: access.person_for(db_session, current_user, person_id))
    back = url_for("album.person_page", person_id=person.id)

    def action() -> Response:
        what = request.form.get("action", "rename")
        if what == "rename":
            people.rename(person, request.form.get("name"))
            flash(
                gettext("Named %(name)s.", name=person.name) if person.name else gettext("Name cleared."),
                "info",
            )
        elif what in ("hide", "show"):
            people.set_hidden(person, what == "hide")
            flash(
                gettext("Hidden from the people page.") if person.hidden else gettext("Shown again."), "info"
            )
        elif what == "merge":
            other = access.person_for(db_session, current_user, int(request.form.get("other_id") or 0))
            moved = people.merge(db_session, person, [other])
            flash(
                ngettext("Merged: %(num)d face moved here.", "Merged: %(num)d faces moved here.", moved),
                "info",
            )
        elif what == "split":
            ids = [int(value) for value in request.form.getlist("face_ids")]
            faces = [access.face_for(db_session, current_user, face_id) for face_id in ids]
            new = people.split(db_session, person, faces, request.form.get("name"))
            db_session.commit()
            flash(
                ngettext(
                    "Split %(num)d face into a new person.",
                    "Split %(num)d faces into a new person.",
                    len(faces),
                ),
                "info",
            )
            return redirect(url_for("album.person_page", person_id=new.id), 303)
        elif what == "feature":
            wanted = request.form.get("face_id") or ""
            face = access.face_for(db_session, current_user, int(wanted)) if wanted else None
            people.choose_feature(db_session, person, face)
            flash(
                gettext("Feature photo chosen.") if face else gettext("Shown by the sharpest face again."),
                "info",
            )
        else:
            raise AlbumError(gettext("unknown action %(action)s", action=repr(what)))
        db_session.commit()
        return redirect(back, 303)

    return attempt(action)


@bp.app_template_filter("person_label")
def person_label(person: AlbumPerson | None) -> str:
    if person is None:
        return gettext("unknown")
    return person.name or gettext("Person %(id)d", id=person.id)
