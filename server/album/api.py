"""Album endpoints of /api/v1 (role album_user; administrators too, but only ever their own album).

Uploads are multipart/form-data: image files in `photos` (several allowed), zips in `zip`, optional
`album_id`, and `index=0` to store without queuing the analysis (then POST /album/index). Every id
in a URL that is not the caller's answers 404, exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import func, select

from server.album import access, library, people, search, service
from server.album.errors import AlbumError, NotFound
from server.album.schemas import (
    Album as AlbumShape,
)
from server.album.schemas import (
    AlbumDeleted,
    AlbumFace,
    AlbumFaceMove,
    AlbumFaceMoved,
    AlbumGrouping,
    AlbumIndexQueued,
    AlbumJobRef,
    AlbumMatch,
    AlbumMerge,
    AlbumPersonDetail,
    AlbumPersonUpdate,
    AlbumPhotoCounts,
    AlbumPhotoList,
    AlbumRequest,
    AlbumSearch,
    AlbumSearchRequest,
    AlbumSearchResult,
    AlbumSplit,
    AlbumUploadedFile,
    AlbumUploadResult,
    AlbumWaitingFaces,
)
from server.album.schemas import AlbumPerson as PersonShape
from server.album.schemas import AlbumPhoto as PhotoShape
from server.api.endpoints import EMPTY_QUERY_VALUE, FILE, FILES, api_route, registry
from server.api.io import error_response, query_int
from server.api.shapes import read_body
from server.db import db_session
from server.db.enums import Role
from server.db.models import Album, AlbumPerson, AlbumPhoto
from server.db.types import INT_MAX
from server.settings import current_settings
from server.storage import StorageMissing, storage
from server.uploads.files import files_in_request
from server.uploads.limits import limit
from server.uploads.reasons import reason_text

TAGS = ["album"]
ALBUM_USER = [Role.ALBUM_USER]
CLAMPED = {"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX}


def stored_file(key: str, mimetype: str, download_name: str | None = None) -> Response:
    try:
        data = storage().get(key)
    except StorageMissing:
        abort(404, "the file is missing from storage")
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if download_name:
        response.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{_quote(download_name)}"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# --- photos ------------------------------------------------------------------------------------


@api_route(
    "/album/photos",
    "GET",
    roles=ALBUM_USER,
    response=AlbumPhotoList,
    errors=[404],
    tags=TAGS,
    query=[
        {"name": "album_id", "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX}},
        {"name": "page", "schema": CLAMPED, "description": "Below 1 reads as 1."},
        {"name": "per_page", "schema": CLAMPED, "description": "Held within 1 to 500 (default 100)."},
    ],
)
def list_album_photos() -> AlbumPhotoList:
    """Your photos, newest first (optionally one album's), 100 per page by default; the library page
    (/album) pages the same way with the same `page` and `per_page`."""
    album_id = query_int("album_id", None, 1, INT_MAX)
    album = access.album_for(db_session, current_user, album_id) if album_id is not None else None
    found = library.photo_page(
        db_session,
        current_user.id,
        query_int("page", 1, -INT_MAX, INT_MAX),  # out of range: clamped, as always
        query_int("per_page", library.PER_PAGE, -INT_MAX, INT_MAX),
        album,
    )
    return AlbumPhotoList(
        photos=[PhotoShape.of(p) for p in found.photos],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        counts=AlbumPhotoCounts(**library.status_counts(db_session, current_user.id)),
    )


FORM_ID = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": INT_MAX}, EMPTY_QUERY_VALUE]}
UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "photos": {**FILES, "description": "Image files (also accepted as `photo`, `file`, `files`)."},
        "photo": FILES,
        "file": FILES,
        "files": FILES,
        "zip": {**FILES, "description": "Zips of photos (folders, junk and nested archives are skipped)."},
        "album_id": {**FORM_ID, "description": "One of your albums to put the photos in."},
        "index": {"type": "string", "description": "`0`, `false` or `no`: do not queue the analysis yet."},
    },
    "anyOf": [{"required": [name]} for name in ("photos", "photo", "file", "files", "zip")],
}


@api_route(
    "/album/photos",
    "POST",
    roles=ALBUM_USER,
    form=UPLOAD_FORM,
    response=AlbumUploadResult,
    status=201,
    errors=[400, 404, 413, 415, 422],
    tags=TAGS,
)
def upload_album_photos() -> tuple[AlbumUploadResult, int] | Response:
    """Upload photos: image files in `photos` and/or zips in `zip` (multipart/form-data).

    Optional form fields: `album_id` (one of your albums) and `index` (`0`: do not queue the analysis
    yet). Each file is stored unchanged, or refused with its reason (not an image, truncated, too
    large, empty); the same bytes already in your album are reported as a duplicate. A zip with
    `../` or absolute member names, symbolic links, encryption or a zip bomb is refused as a whole
    (400/413) and nothing is stored. 201 when at least one photo was stored or recognised as a
    duplicate, 422 with the same report when none was. The stored photos are analysed by one
    background job (`job`, see GET /jobs/{id})."""
    if request.mimetype != "multipart/form-data":
        abort(415, "send the files as multipart/form-data")
    album = None
    if request.form.get("album_id"):
        try:
            album = access.album_for(db_session, current_user, int(request.form["album_id"]))
        except ValueError:
            raise AlbumError("album_id must be an integer") from None
    cap = current_settings().album.max_photo_bytes
    files = files_in_request(("photos", "photo", "file", "files"), cap=cap)
    archives = files_in_request(("zip",))
    index = request.form.get("index", "1") not in ("0", "false", "no")
    result = service.upload(db_session, current_user, files, archives, album, index=index)
    try:
        db_session.commit()
    except BaseException:
        result.written.discard()
        raise
    body = AlbumUploadResult(
        files=[AlbumUploadedFile.of(outcome) for outcome in result.outcomes],
        stored=len(result.of("stored")),
        duplicates=len(result.of("duplicate")),
        rejected=len(result.of("rejected")),
        job=AlbumJobRef.of(result.job),
    )
    if not body.stored and not body.duplicates:
        reasons = "; ".join(f"{o.filename}: {reason_text(o.reason)}" for o in result.outcomes if o.reason)
        message = gettext("no photo was stored (%(reasons)s)", reasons=reasons)
        return error_response(422, message, **body.model_dump(mode="json"))
    return body, 201


limit("api.upload_album_photos", "ALBUM_MAX_UPLOAD_BYTES", "one upload to the album")


@api_route(
    "/album/photos/<int:photo_id>", "GET", roles=ALBUM_USER, response=PhotoShape, errors=[404], tags=TAGS
)
def get_album_photo(photo_id: int) -> PhotoShape:
    """One of your photos with its faces (boxes in display pixels, person, quality)."""
    return PhotoShape.of(access.photo_for(db_session, current_user, photo_id), faces=True)


@api_route(
    "/album/photos/<int:photo_id>", "DELETE", roles=ALBUM_USER, response=AlbumDeleted, errors=[404], tags=TAGS
)
def delete_album_photo(photo_id: int) -> AlbumDeleted:
    """Delete a photo: the original, its thumbnail, its faces, their embeddings and crops."""
    photo = access.photo_for(db_session, current_user, photo_id)
    service.delete_photos(db_session, current_user.id, [photo])
    db_session.commit()
    return AlbumDeleted(deleted=photo_id)


@api_route("/album/photos/<int:photo_id>/original", "GET", roles=ALBUM_USER, errors=[404], tags=TAGS)
def get_album_photo_original(photo_id: int) -> Response:
    """The photo's original bytes, exactly as uploaded."""
    photo = access.photo_for(db_session, current_user, photo_id)
    return stored_file(photo.storage_key, photo.content_type, photo.filename)


@api_route("/album/photos/<int:photo_id>/thumbnail", "GET", roles=ALBUM_USER, errors=[404], tags=TAGS)
def get_album_photo_thumbnail(photo_id: int) -> Response:
    """A JPEG thumbnail of the photo (EXIF orientation applied), at most 320 px on its longer side."""
    photo = access.photo_for(db_session, current_user, photo_id)
    return stored_file(photo.thumbnail_key, "image/jpeg")


@api_route(
    "/album/index",
    "POST",
    roles=ALBUM_USER,
    response=AlbumIndexQueued,
    tags=TAGS,
)
def index_album_photos() -> AlbumIndexQueued:
    """Queue the analysis of your photos still pending (after uploads sent with `index=0`)."""
    job, count = service.index_pending(db_session, current_user)
    db_session.commit()
    return AlbumIndexQueued(photos=count, job=AlbumJobRef.of(job))


@api_route("/album/library", "DELETE", roles=ALBUM_USER, response=AlbumDeleted, tags=TAGS)
def delete_album_library() -> AlbumDeleted:
    """Delete your whole album: every photo, face, embedding, person, album and search."""
    count = service.delete_library(db_session, current_user.id)
    db_session.commit()
    return AlbumDeleted(deleted=count)


# --- faces ---------------------------------------------------------------------------------------


@api_route("/album/faces/<int:face_id>/crop", "GET", roles=ALBUM_USER, errors=[404], tags=TAGS)
def get_album_face_crop(face_id: int) -> Response:
    """The aligned crop of one of your faces (a small JPEG)."""
    face = access.face_for(db_session, current_user, face_id)
    if not face.crop_key:
        abort(404, gettext("face %(id)s has no crop", id=face_id))
    return stored_file(face.crop_key, "image/jpeg")


@api_route(
    "/album/faces/<int:face_id>/not-this-person",
    "POST",
    roles=ALBUM_USER,
    response=AlbumFace,
    errors=[400, 404],
    tags=TAGS,
)
def reject_album_face(face_id: int) -> AlbumFace:
    """ "Not this person": take the face out of its person; grouping and searches remember it."""
    face = access.face_for(db_session, current_user, face_id)
    people.not_this_person(db_session, face)
    people.prune_empty(db_session, current_user.id)
    db_session.commit()
    return AlbumFace.of(face)


@api_route(
    "/album/faces/waiting",
    "GET",
    roles=ALBUM_USER,
    response=AlbumWaitingFaces,
    tags=TAGS,
    query=[{"name": "limit", "schema": CLAMPED, "description": "Held within 1 to 500 (default 60)."}],
)
def list_waiting_album_faces() -> AlbumWaitingFaces:
    """Your faces not in any person yet (a person needs three photos of one face; faces taken out of
    a person wait here too), newest first, as the people page lists them: put one into a person
    with POST /album/faces/{id}/person."""
    limit_ = min(500, max(1, query_int("limit", 60, -INT_MAX, INT_MAX)))
    faces = people.waiting_faces(db_session, current_user.id, limit_)
    return AlbumWaitingFaces(
        faces=[AlbumFace.of(face) for face in faces],
        total=people.waiting_count(db_session, current_user.id),
        limit=limit_,
    )


@api_route(
    "/album/faces/<int:face_id>", "DELETE", roles=ALBUM_USER, response=AlbumDeleted, errors=[404], tags=TAGS
)
def delete_album_face(face_id: int) -> AlbumDeleted:
    """Delete a false face (a hand, a dark patch): its row, embedding and crop, its place in its
    person (a person left without faces goes) and in your search index. The photo stays."""
    face = access.face_for(db_session, current_user, face_id)
    service.delete_faces(db_session, current_user.id, [face])
    db_session.commit()
    return AlbumDeleted(deleted=face_id)


@api_route(
    "/album/faces/<int:face_id>/person",
    "POST",
    roles=ALBUM_USER,
    request=AlbumFaceMove,
    response=AlbumFaceMoved,
    errors=[400, 404, 409],
    tags=TAGS,
)
def move_album_face(face_id: int, body: AlbumFaceMove) -> AlbumFaceMoved:
    """Put a face into one of your people (`person_id`) or a new one (no `person_id`, optional
    `name`); also for faces not in any person yet. The face leaves its old person as with "not this
    person" (remembered by grouping and searches) and the grouping never moves it again; then your
    faces waiting for a person are offered to the people again, so matching ones join at once."""
    from flask import current_app

    face = access.face_for(db_session, current_user, face_id)
    target = (
        access.person_for(db_session, current_user, body.person_id) if body.person_id is not None else None
    )
    name = body.name
    if target is not None and name is not None:
        raise AlbumError("name is for a new person: rename an existing one with PATCH /album/people/{id}")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    person, summary = people.move_and_regroup(app, db_session, face, target, name)
    return AlbumFaceMoved(
        face=AlbumFace.of(face, person),
        person=person_summary(person),
        grouping=AlbumGrouping(
            assigned=summary.assigned, new_people=summary.new_people, leftovers=summary.leftovers
        ),
    )


# --- albums --------------------------------------------------------------------------------------


def album_counts() -> dict[int, int]:
    return dict(
        db_session.execute(
            select(AlbumPhoto.album_id, func.count(AlbumPhoto.id))
            .where(AlbumPhoto.owner_id == current_user.id, AlbumPhoto.album_id.is_not(None))
            .group_by(AlbumPhoto.album_id)
        ).all()
    )


def unique_album_name(name: str, album_id: int | None = None) -> None:
    clash = db_session.scalar(
        select(Album.id).where(
            Album.owner_id == current_user.id, Album.name == name, Album.id != (album_id or 0)
        )
    )
    if clash is not None:
        raise AlbumError(gettext("you already have an album named %(name)s", name=repr(name)), status=409)


@api_route(
    "/album/albums",
    "GET",
    roles=ALBUM_USER,
    response=list[AlbumShape],
    tags=TAGS,
)
def list_albums() -> list[AlbumShape]:
    """Your albums, by name, with their photo counts."""
    counts = album_counts()
    albums = db_session.scalars(select(Album).where(Album.owner_id == current_user.id).order_by(Album.name))
    return [AlbumShape.of(album, counts.get(album.id, 0)) for album in albums]


@api_route(
    "/album/albums",
    "POST",
    roles=ALBUM_USER,
    request=AlbumRequest,
    response=AlbumShape,
    status=201,
    errors=[409],
    tags=TAGS,
)
def create_album(body: AlbumRequest) -> tuple[AlbumShape, int]:
    """Create an album."""
    unique_album_name(body.name)
    album = Album(owner_id=current_user.id, name=body.name)
    db_session.add(album)
    db_session.commit()
    return AlbumShape.of(album, 0), 201


@api_route(
    "/album/albums/<int:album_id>",
    "PATCH",
    roles=ALBUM_USER,
    request=AlbumRequest,
    response=AlbumShape,
    errors=[404, 409],
    tags=TAGS,
)
def rename_album(album_id: int, body: AlbumRequest) -> AlbumShape:
    """Rename an album."""
    album = access.album_for(db_session, current_user, album_id)
    unique_album_name(body.name, album.id)
    album.name = body.name
    db_session.commit()
    return AlbumShape.of(album, album_counts().get(album.id, 0))


@api_route(
    "/album/albums/<int:album_id>", "DELETE", roles=ALBUM_USER, response=AlbumDeleted, errors=[404], tags=TAGS
)
def delete_album(album_id: int) -> AlbumDeleted:
    """Delete an album; its photos stay in your library (delete them one by one to remove them)."""
    album = access.album_for(db_session, current_user, album_id)
    db_session.delete(album)
    db_session.commit()
    return AlbumDeleted(deleted=album_id)


# --- search --------------------------------------------------------------------------------------


def search_answer(found: Any, number: int | None) -> AlbumSearchResult:
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if number is None and len(found.faces) == 1:
        number = 0
    results = None
    if number is not None:
        results = [AlbumMatch.of(match) for match in search.run(app, db_session, found, number)]
    return AlbumSearchResult(
        search=AlbumSearch.of(found), face=number, threshold=search.threshold(app), results=results
    )


def face_number(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AlbumError("face must be the number of a face of the key photo") from None


SEARCH_FORM = {
    "type": "object",
    "properties": {
        "key": {**FILE, "description": "The key photo."},
        "photo_id": {**FORM_ID, "description": "Or one of your photos as the key."},
        "face": {**FORM_ID, "description": "Which face of the key to search for (1 = the largest)."},
    },
    "anyOf": [
        {"required": ["key"]},
        {"required": ["photo_id"], "properties": {"photo_id": {"type": "integer", "minimum": 1}}},
    ],
}


@api_route(
    "/album/searches",
    "POST",
    roles=ALBUM_USER,
    # JSON is read in the view (the form is the other way): documented, not read, by api_route
    request=registry.shape(AlbumSearchRequest, "validation"),
    form=SEARCH_FORM,
    response=AlbumSearchResult,
    status=201,
    errors=[400, 404, 409, 413, 415, 422, 503],
    tags=TAGS,
)
def create_album_search() -> tuple[AlbumSearchResult, int]:
    """Search your photos by a key photo: upload it (multipart/form-data, file field `key`) or name
    one of your photos (JSON `{"photo_id": 12}` or form field `photo_id`); optional `face` (number).

    With one face in the key (or `face` given) the results come at once; with several, the answer
    lists the faces with their boxes and `results` is null: choose one with GET
    /album/searches/{id}?face=N. Only your own photos are searched."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.is_json:
        body = read_body(AlbumSearchRequest)
        photo_id, number = body.photo_id, body.face
    elif request.mimetype == "multipart/form-data" or request.mimetype == "application/x-www-form-urlencoded":
        photo_id, number = request.form.get("photo_id"), face_number(request.form.get("face"))
    else:
        abort(415, 'send a key photo as multipart/form-data (field `key`) or JSON {"photo_id": ...}')
    if photo_id not in (None, ""):
        try:
            photo = access.photo_for(db_session, current_user, int(photo_id))
        except (TypeError, ValueError):
            raise AlbumError("photo_id must be an integer") from None
        found = search.from_photo(app, db_session, current_user, photo)
    else:
        keys = files_in_request(("key",), cap=current_settings().album.max_photo_bytes)
        if len(keys) != 1:
            raise AlbumError("attach exactly one key photo (field `key`) or give a photo_id")
        found = search.from_upload(app, db_session, current_user, keys[0])
    answer = search_answer(found, number)
    db_session.commit()
    return answer, 201


limit("api.create_album_search", "ALBUM_MAX_PHOTO_BYTES", "a key photo")


@api_route(
    "/album/searches/<int:search_id>",
    "GET",
    roles=ALBUM_USER,
    response=AlbumSearchResult,
    errors=[400, 404],
    tags=TAGS,
    query=[
        {"name": "face", "schema": {"type": "integer"}, "description": "Which face of the key to search for."}
    ],
)
def get_album_search(search_id: int) -> AlbumSearchResult:
    """A saved search's faces, and its results for the chosen `face`."""
    found = access.search_for(db_session, current_user, search_id)
    return search_answer(found, face_number(request.args.get("face")))


@api_route("/album/searches/<int:search_id>/image", "GET", roles=ALBUM_USER, errors=[404], tags=TAGS)
def get_album_search_image(search_id: int) -> Response:
    """The key photo of a search, small (JPEG), to draw its face boxes on."""
    found = access.search_for(db_session, current_user, search_id)
    if found.image is not None:
        response = Response(found.image, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response
    if found.photo_id is None:
        raise NotFound("this search keeps no image")
    photo = access.photo_for(db_session, current_user, found.photo_id)
    return stored_file(photo.thumbnail_key, "image/jpeg")


# --- people --------------------------------------------------------------------------------------


def person_summary(person: AlbumPerson, counts: dict[int, int] | None = None) -> PersonShape:
    counts = counts if counts is not None else people.face_counts(db_session, current_user.id)
    feature = people.feature_face(db_session, person)
    cover = feature if feature is not None else people.cover_face(db_session, person)
    return PersonShape.of(person, counts.get(person.id, 0), cover, feature)


@api_route(
    "/album/people",
    "GET",
    roles=ALBUM_USER,
    response=list[PersonShape],
    tags=TAGS,
    query=[
        {
            "name": "hidden",
            "schema": {"type": "string"},
            "description": "`true`, `1` or `yes` (any case): the hidden people only; else the others.",
        }
    ],
)
def list_album_people() -> list[PersonShape]:
    """The people found among your faces (named first), with face counts."""
    hidden = request.args.get("hidden", "false").lower() in ("1", "true", "yes")
    counts = people.face_counts(db_session, current_user.id)
    return [person_summary(p, counts) for p in people.people_of(db_session, current_user.id, hidden=hidden)]


@api_route(
    "/album/people/<int:person_id>",
    "GET",
    roles=ALBUM_USER,
    response=AlbumPersonDetail,
    errors=[404],
    tags=TAGS,
)
def get_album_person(person_id: int) -> AlbumPersonDetail:
    """A person and their faces."""
    person = access.person_for(db_session, current_user, person_id)
    faces = people.faces_of(db_session, person)
    return AlbumPersonDetail(
        person=person_summary(person), faces=[AlbumFace.of(face, person) for face in faces]
    )


@api_route(
    "/album/people/<int:person_id>",
    "PATCH",
    roles=ALBUM_USER,
    request=AlbumPersonUpdate,
    response=PersonShape,
    errors=[404],
    tags=TAGS,
)
def update_album_person(person_id: int, body: AlbumPersonUpdate) -> PersonShape:
    """Name (null or "" clears it), hide/show a person, or choose their feature face
    (`feature_face_id`: one of the person's faces; null goes back to the sharpest)."""
    person = access.person_for(db_session, current_user, person_id)
    sent = body.model_fields_set
    if "feature_face_id" in sent:
        chosen = body.feature_face_id
        face = access.face_for(db_session, current_user, chosen) if chosen is not None else None
        people.choose_feature(db_session, person, face)
    if "name" in sent:
        people.rename(person, body.name)
    if "hidden" in sent:
        people.set_hidden(person, body.hidden)
    db_session.commit()
    return person_summary(person)


@api_route(
    "/album/people/<int:person_id>/merge",
    "POST",
    roles=ALBUM_USER,
    request=AlbumMerge,
    response=PersonShape,
    errors=[404],
    tags=TAGS,
)
def merge_album_people(person_id: int, body: AlbumMerge) -> PersonShape:
    """Merge other people into this one (their faces move here; they are deleted)."""
    person = access.person_for(db_session, current_user, person_id)
    others = [access.person_for(db_session, current_user, pid) for pid in body.person_ids]
    people.merge(db_session, person, others)
    db_session.commit()
    return person_summary(person)


@api_route(
    "/album/people/<int:person_id>/split",
    "POST",
    roles=ALBUM_USER,
    request=AlbumSplit,
    response=PersonShape,
    status=201,
    errors=[404],
    tags=TAGS,
)
def split_album_person(person_id: int, body: AlbumSplit) -> tuple[PersonShape, int]:
    """Move some of a person's faces into a new person (optionally named); answers the new person."""
    person = access.person_for(db_session, current_user, person_id)
    faces = [access.face_for(db_session, current_user, fid) for fid in body.face_ids]
    new = people.split(db_session, person, faces, body.name)
    db_session.commit()
    return person_summary(new), 201
