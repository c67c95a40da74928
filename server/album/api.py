"""Album endpoints of /api/v1 (role album_user; administrators too, but only ever their own album).

Uploads are multipart/form-data: image files in `photos` (several allowed), zips in `zip`, optional
`album_id`, and `index=0` to store without queuing the analysis (then POST /album/index). Every id
in a URL that is not the caller's answers 404, exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request
from flask_login import current_user
from sqlalchemy import func, select

from server.album import access, library, people, search, service
from server.album.errors import AlbumError, NotFound
from server.album.serialize import (
    album_json,
    face_json,
    match_json,
    outcome_json,
    person_json,
    photo_json,
    search_json,
)
from server.api.endpoints import EMPTY_QUERY_VALUE, FILE, FILES, api_route, registry
from server.api.io import DATETIME, error_response, json_body, query_int
from server.db import db_session
from server.db.enums import Role
from server.db.models import Album, AlbumPerson, AlbumPhoto
from server.db.types import INT_MAX
from server.school import fields
from server.settings import current_settings
from server.storage import StorageMissing, storage
from server.uploads.files import files_in_request
from server.uploads.limits import limit

TAGS = ["album"]
ALBUM_USER = [Role.ALBUM_USER]
INT = {"type": "integer"}
NULL_INT = {"type": ["integer", "null"]}
STR = {"type": "string"}
NULL_STR = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
BOX = {"type": "array", "items": NUMBER, "description": "[x, y, width, height] in display pixels."}
CLAMPED = {"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX}

FACE = registry.schema(
    "AlbumFace",
    {
        "type": "object",
        "description": "A face found in a photo (its embedding is kept, not shown).",
        "properties": {
            "id": INT,
            "photo_id": INT,
            "box": BOX,
            "score": NUMBER,
            "sharpness": NUMBER,
            "quality": {"type": ["object", "null"]},
            "person_id": NULL_INT,
            "person_name": NULL_STR,
            "assigned_by": {"type": ["string", "null"], "enum": ["auto", "user", None]},
            "crop_url": NULL_STR,
        },
        "required": ["id", "photo_id", "box", "score", "person_id"],
    },
)
PHOTO = registry.schema(
    "AlbumPhoto",
    {
        "type": "object",
        "properties": {
            "id": INT,
            "album_id": NULL_INT,
            "filename": STR,
            "sha256": STR,
            "content_type": STR,
            "size_bytes": INT,
            "width": INT,
            "height": INT,
            "status": {"type": "string", "enum": ["pending", "indexing", "indexed", "failed"]},
            "error": NULL_STR,
            "blurred": {"type": ["boolean", "null"]},
            "sharpness": {"type": ["number", "null"]},
            "face_count": NULL_INT,
            "created_at": DATETIME,
            "indexed_at": {"type": ["string", "null"], "format": "date-time"},
            "thumbnail_url": STR,
            "original_url": STR,
            "faces": {"type": "array", "items": FACE},
        },
        "required": ["id", "filename", "sha256", "status", "width", "height", "thumbnail_url"],
    },
)
PHOTO_LIST = registry.schema(
    "AlbumPhotoList",
    {
        "type": "object",
        "properties": {
            "photos": {"type": "array", "items": PHOTO},
            "total": INT,
            "page": INT,
            "per_page": INT,
            "pages": {"type": "integer", "description": "How many pages the photos fill (at least 1)."},
            "counts": {
                "type": "object",
                "description": "All your photos (not only this page's) per analysis state.",
                "properties": {state: INT for state in library.STATES},
            },
        },
        "required": ["photos", "total", "page", "per_page", "pages"],
    },
)
JOB_REF = {"type": ["object", "null"], "properties": {"id": INT, "status": STR, "url": STR}}
UPLOAD = registry.schema(
    "AlbumUploadResult",
    {
        "type": "object",
        "description": "Per file: stored (a new photo), duplicate (the same bytes are already in your "
        "album: photo_id is that photo), rejected or ignored (with the reason).",
        "properties": {
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "filename": STR,
                        "status": {"type": "string", "enum": ["stored", "duplicate", "rejected", "ignored"]},
                        "reason": NULL_STR,
                        "photo_id": NULL_INT,
                    },
                },
            },
            "stored": INT,
            "duplicates": INT,
            "rejected": INT,
            "job": JOB_REF,
        },
        "required": ["files", "stored", "duplicates", "rejected", "job"],
    },
)
ALBUM = registry.schema(
    "Album",
    {
        "type": "object",
        "properties": {"id": INT, "name": STR, "photos": INT, "created_at": DATETIME},
        "required": ["id", "name", "photos"],
    },
)
ALBUM_BODY = {"type": "object", "properties": {"name": fields.text_schema(200)}, "required": ["name"]}
PERSON = registry.schema(
    "AlbumPerson",
    {
        "type": "object",
        "properties": {
            "id": INT,
            "name": NULL_STR,
            "hidden": {"type": "boolean"},
            "faces": INT,
            "cover_face_id": NULL_INT,
            "cover_url": NULL_STR,
            "feature_face_id": {
                "type": ["integer", "null"],
                "description": "The face you chose to show this person by (then also the cover); "
                "null: the sharpest face is the cover.",
            },
            "created_at": DATETIME,
        },
        "required": ["id", "name", "hidden", "faces"],
    },
)
PERSON_DETAIL = registry.schema(
    "AlbumPersonDetail",
    {
        "type": "object",
        "properties": {"person": PERSON, "faces": {"type": "array", "items": FACE}},
        "required": ["person", "faces"],
    },
)
SEARCH = registry.schema(
    "AlbumSearch",
    {
        "type": "object",
        "description": "A key photo's faces (largest first). Choose one by its `number`.",
        "properties": {
            "id": INT,
            "filename": STR,
            "photo_id": NULL_INT,
            "width": INT,
            "height": INT,
            "faces": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"number": INT, "box": BOX, "score": NUMBER, "face_id": NULL_INT},
                },
            },
            "image_url": STR,
            "created_at": DATETIME,
        },
        "required": ["id", "faces"],
    },
)
SEARCH_RESULT = registry.schema(
    "AlbumSearchResult",
    {
        "type": "object",
        "description": "`results` is null while the key shows several faces and none was chosen; else the "
        "caller's photos showing that person, best first, with the matching face.",
        "properties": {
            "search": SEARCH,
            "face": NULL_INT,
            "threshold": NUMBER,
            "results": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {"photo": PHOTO, "face": FACE, "similarity": NUMBER},
                },
            },
        },
        "required": ["search", "results", "threshold"],
    },
)
PERSON_PATCH = {
    "type": "object",
    "properties": {
        "name": people.NAME_SCHEMA,
        "hidden": {"type": "boolean"},
        "feature_face_id": {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": INT_MAX}, {"type": "null"}],
            "description": "One of this person's faces to show them by; null: the sharpest face again.",
        },
    },
}
MOVE_BODY = {
    "type": "object",
    "properties": {
        "person_id": {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": INT_MAX}, {"type": "null"}],
            "description": "One of your people; null or absent: a new person.",
        },
        "name": {**people.NAME_SCHEMA, "description": "The new person's name (with no person_id)."},
    },
}
MOVED = registry.schema(
    "AlbumFaceMoved",
    {
        "type": "object",
        "description": "The face in its new person, that person, and what the grouping then did: "
        "faces waiting for a person that now match one join it (`assigned`), as after an upload.",
        "properties": {
            "face": FACE,
            "person": PERSON,
            "grouping": {
                "type": "object",
                "properties": {"assigned": INT, "new_people": INT, "leftovers": INT},
                "required": ["assigned", "new_people", "leftovers"],
            },
        },
        "required": ["face", "person", "grouping"],
    },
)
MERGE_BODY = {
    "type": "object",
    "properties": {"person_ids": {"type": "array", "items": INT}},
    "required": ["person_ids"],
}
SPLIT_BODY = {
    "type": "object",
    "properties": {"face_ids": {"type": "array", "items": INT}, "name": people.NAME_SCHEMA},
    "required": ["face_ids"],
}
DELETED = {"type": "object", "properties": {"deleted": INT}, "required": ["deleted"]}


# Service errors as `{"error": ..., **details}` with their status; nothing of the request is kept.


def job_json(job: Any) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "status": str(getattr(job.status, "value", job.status)),
        "url": f"/api/v1/jobs/{job.id}",
    }


def int_list(body: dict[str, Any], key: str) -> list[int]:
    values = body.get(key)
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise AlbumError(f"'{key}' must be a list of integer ids")
    return values


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
    response=PHOTO_LIST,
    errors=[404],
    tags=TAGS,
    query=[
        {"name": "album_id", "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX}},
        {"name": "page", "schema": CLAMPED, "description": "Below 1 reads as 1."},
        {"name": "per_page", "schema": CLAMPED, "description": "Held within 1 to 500 (default 100)."},
    ],
)
def list_album_photos() -> dict[str, Any]:
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
    return {
        "photos": [photo_json(p) for p in found.photos],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "pages": found.pages,
        "counts": library.status_counts(db_session, current_user.id),
    }


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
    response=UPLOAD,
    status=201,
    errors=[400, 404, 413, 415, 422],
    tags=TAGS,
)
def upload_album_photos() -> tuple[dict[str, Any], int] | Response:
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
    body = {
        "files": [outcome_json(outcome) for outcome in result.outcomes],
        "stored": len(result.of("stored")),
        "duplicates": len(result.of("duplicate")),
        "rejected": len(result.of("rejected")),
        "job": job_json(result.job),
    }
    if not body["stored"] and not body["duplicates"]:
        reasons = "; ".join(f"{o.filename}: {o.reason}" for o in result.outcomes if o.reason)
        return error_response(422, f"no photo was stored ({reasons})", **body)
    return body, 201


limit("api.upload_album_photos", "ALBUM_MAX_UPLOAD_BYTES", "one upload to the album")


@api_route("/album/photos/<int:photo_id>", "GET", roles=ALBUM_USER, response=PHOTO, errors=[404], tags=TAGS)
def get_album_photo(photo_id: int) -> dict[str, Any]:
    """One of your photos with its faces (boxes in display pixels, person, quality)."""
    return photo_json(access.photo_for(db_session, current_user, photo_id), faces=True)


@api_route(
    "/album/photos/<int:photo_id>", "DELETE", roles=ALBUM_USER, response=DELETED, errors=[404], tags=TAGS
)
def delete_album_photo(photo_id: int) -> dict[str, Any]:
    """Delete a photo: the original, its thumbnail, its faces, their embeddings and crops."""
    photo = access.photo_for(db_session, current_user, photo_id)
    service.delete_photos(db_session, current_user.id, [photo])
    db_session.commit()
    return {"deleted": photo_id}


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
    response={"type": "object", "properties": {"photos": INT, "job": JOB_REF}, "required": ["photos", "job"]},
    tags=TAGS,
)
def index_album_photos() -> dict[str, Any]:
    """Queue the analysis of your photos still pending (after uploads sent with `index=0`)."""
    job, count = service.index_pending(db_session, current_user)
    db_session.commit()
    return {"photos": count, "job": job_json(job)}


@api_route("/album/library", "DELETE", roles=ALBUM_USER, response=DELETED, tags=TAGS)
def delete_album_library() -> dict[str, Any]:
    """Delete your whole album: every photo, face, embedding, person, album and search."""
    count = service.delete_library(db_session, current_user.id)
    db_session.commit()
    return {"deleted": count}


# --- faces ---------------------------------------------------------------------------------------


@api_route("/album/faces/<int:face_id>/crop", "GET", roles=ALBUM_USER, errors=[404], tags=TAGS)
def get_album_face_crop(face_id: int) -> Response:
    """The aligned crop of one of your faces (a small JPEG)."""
    face = access.face_for(db_session, current_user, face_id)
    if not face.crop_key:
        abort(404, f"face {face_id} has no crop")
    return stored_file(face.crop_key, "image/jpeg")


@api_route(
    "/album/faces/<int:face_id>/not-this-person",
    "POST",
    roles=ALBUM_USER,
    response=FACE,
    errors=[400, 404],
    tags=TAGS,
)
def reject_album_face(face_id: int) -> dict[str, Any]:
    """ "Not this person": take the face out of its person; grouping and searches remember it."""
    face = access.face_for(db_session, current_user, face_id)
    people.not_this_person(db_session, face)
    people.prune_empty(db_session, current_user.id)
    db_session.commit()
    return face_json(face)


WAITING = registry.schema(
    "AlbumWaitingFaces",
    {
        "type": "object",
        "description": "Faces in no person yet, newest first: `total` of them, the first `limit` listed.",
        "properties": {"faces": {"type": "array", "items": FACE}, "total": INT, "limit": INT},
        "required": ["faces", "total", "limit"],
    },
)


@api_route(
    "/album/faces/waiting",
    "GET",
    roles=ALBUM_USER,
    response=WAITING,
    tags=TAGS,
    query=[{"name": "limit", "schema": CLAMPED, "description": "Held within 1 to 500 (default 60)."}],
)
def list_waiting_album_faces() -> dict[str, Any]:
    """Your faces not in any person yet (a person needs three photos of one face; faces taken out of
    a person wait here too), newest first, as the people page lists them: put one into a person
    with POST /album/faces/{id}/person."""
    limit_ = min(500, max(1, query_int("limit", 60, -INT_MAX, INT_MAX)))
    faces = people.waiting_faces(db_session, current_user.id, limit_)
    return {
        "faces": [face_json(face) for face in faces],
        "total": people.waiting_count(db_session, current_user.id),
        "limit": limit_,
    }


@api_route(
    "/album/faces/<int:face_id>", "DELETE", roles=ALBUM_USER, response=DELETED, errors=[404], tags=TAGS
)
def delete_album_face(face_id: int) -> dict[str, Any]:
    """Delete a false face (a hand, a dark patch): its row, embedding and crop, its place in its
    person (a person left without faces goes) and in your search index. The photo stays."""
    face = access.face_for(db_session, current_user, face_id)
    service.delete_faces(db_session, current_user.id, [face])
    db_session.commit()
    return {"deleted": face_id}


@api_route(
    "/album/faces/<int:face_id>/person",
    "POST",
    roles=ALBUM_USER,
    request=MOVE_BODY,
    response=MOVED,
    errors=[400, 404, 409],
    tags=TAGS,
)
def move_album_face(face_id: int) -> dict[str, Any]:
    """Put a face into one of your people (`person_id`) or a new one (no `person_id`, optional
    `name`); also for faces not in any person yet. The face leaves its old person as with "not this
    person" (remembered by grouping and searches) and the grouping never moves it again; then your
    faces waiting for a person are offered to the people again, so matching ones join at once."""
    from flask import current_app

    face = access.face_for(db_session, current_user, face_id)
    body = json_body()
    target_id = body.get("person_id")
    if target_id is not None and (not isinstance(target_id, int) or isinstance(target_id, bool)):
        raise AlbumError("person_id must be the id of one of your people, or null for a new person")
    target = access.person_for(db_session, current_user, target_id) if target_id is not None else None
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise AlbumError("name must be a string or null")
    if target is not None and name not in (None, ""):
        raise AlbumError("name is for a new person: rename an existing one with PATCH /album/people/{id}")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    person, summary = people.move_and_regroup(app, db_session, face, target, name)
    return {
        "face": face_json(face, person),
        "person": person_summary(person),
        "grouping": {
            "assigned": summary.assigned,
            "new_people": summary.new_people,
            "leftovers": summary.leftovers,
        },
    }


# --- albums --------------------------------------------------------------------------------------


def album_counts() -> dict[int, int]:
    return dict(
        db_session.execute(
            select(AlbumPhoto.album_id, func.count(AlbumPhoto.id))
            .where(AlbumPhoto.owner_id == current_user.id, AlbumPhoto.album_id.is_not(None))
            .group_by(AlbumPhoto.album_id)
        ).all()
    )


def album_name(body: dict[str, Any]) -> str:
    """A one-line name of at most 200 characters (`server.school.fields.text`, as documented), its
    runs of spaces made one."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AlbumError("an album needs a name")
    return " ".join(people.line_text(name, "name", 200).split())  # runs of spaces become one


def unique_album_name(name: str, album_id: int | None = None) -> None:
    clash = db_session.scalar(
        select(Album.id).where(
            Album.owner_id == current_user.id, Album.name == name, Album.id != (album_id or 0)
        )
    )
    if clash is not None:
        raise AlbumError(f"you already have an album named {name!r}", status=409)


@api_route(
    "/album/albums",
    "GET",
    roles=ALBUM_USER,
    response={"type": "array", "items": ALBUM},
    tags=TAGS,
)
def list_albums() -> list[dict[str, Any]]:
    """Your albums, by name, with their photo counts."""
    counts = album_counts()
    albums = db_session.scalars(select(Album).where(Album.owner_id == current_user.id).order_by(Album.name))
    return [album_json(album, counts.get(album.id, 0)) for album in albums]


@api_route(
    "/album/albums",
    "POST",
    roles=ALBUM_USER,
    request=ALBUM_BODY,
    response=ALBUM,
    status=201,
    errors=[409],
    tags=TAGS,
)
def create_album() -> tuple[dict[str, Any], int]:
    """Create an album."""
    name = album_name(json_body())
    unique_album_name(name)
    album = Album(owner_id=current_user.id, name=name)
    db_session.add(album)
    db_session.commit()
    return album_json(album, 0), 201


@api_route(
    "/album/albums/<int:album_id>",
    "PATCH",
    roles=ALBUM_USER,
    request=ALBUM_BODY,
    response=ALBUM,
    errors=[404, 409],
    tags=TAGS,
)
def rename_album(album_id: int) -> dict[str, Any]:
    """Rename an album."""
    album = access.album_for(db_session, current_user, album_id)
    name = album_name(json_body())
    unique_album_name(name, album.id)
    album.name = name
    db_session.commit()
    return album_json(album, album_counts().get(album.id, 0))


@api_route(
    "/album/albums/<int:album_id>", "DELETE", roles=ALBUM_USER, response=DELETED, errors=[404], tags=TAGS
)
def delete_album(album_id: int) -> dict[str, Any]:
    """Delete an album; its photos stay in your library (delete them one by one to remove them)."""
    album = access.album_for(db_session, current_user, album_id)
    db_session.delete(album)
    db_session.commit()
    return {"deleted": album_id}


# --- search --------------------------------------------------------------------------------------


def search_answer(found: Any, number: int | None) -> dict[str, Any]:
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if number is None and len(found.faces) == 1:
        number = 0
    results = None
    if number is not None:
        results = [match_json(match) for match in search.run(app, db_session, found, number)]
    return {
        "search": search_json(found),
        "face": number,
        "threshold": search.threshold(app),
        "results": results,
    }


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
SEARCH_BODY = {
    "type": "object",
    "properties": {
        "photo_id": {"type": "integer", "minimum": 1, "maximum": INT_MAX},
        "face": {"type": ["integer", "null"], "description": "Which face of the key to search for."},
    },
    "required": ["photo_id"],
}


@api_route(
    "/album/searches",
    "POST",
    roles=ALBUM_USER,
    request=SEARCH_BODY,
    form=SEARCH_FORM,
    response=SEARCH_RESULT,
    status=201,
    errors=[400, 404, 409, 413, 415, 422, 503],
    tags=TAGS,
)
def create_album_search() -> tuple[dict[str, Any], int]:
    """Search your photos by a key photo: upload it (multipart/form-data, file field `key`) or name
    one of your photos (JSON `{"photo_id": 12}` or form field `photo_id`); optional `face` (number).

    With one face in the key (or `face` given) the results come at once; with several, the answer
    lists the faces with their boxes and `results` is null: choose one with GET
    /album/searches/{id}?face=N. Only your own photos are searched."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.is_json:
        body = json_body()
        photo_id, number = body.get("photo_id"), face_number(body.get("face"))
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
    response=SEARCH_RESULT,
    errors=[400, 404],
    tags=TAGS,
    query=[{"name": "face", "schema": INT, "description": "Which face of the key to search for."}],
)
def get_album_search(search_id: int) -> dict[str, Any]:
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


def person_summary(person: AlbumPerson, counts: dict[int, int] | None = None) -> dict[str, Any]:
    counts = counts if counts is not None else people.face_counts(db_session, current_user.id)
    feature = people.feature_face(db_session, person)
    cover = feature if feature is not None else people.cover_face(db_session, person)
    return person_json(person, counts.get(person.id, 0), cover, feature)


@api_route(
    "/album/people",
    "GET",
    roles=ALBUM_USER,
    response={"type": "array", "items": PERSON},
    tags=TAGS,
    query=[
        {
            "name": "hidden",
            "schema": {"type": "string"},
            "description": "`true`, `1` or `yes` (any case): the hidden people only; else the others.",
        }
    ],
)
def list_album_people() -> list[dict[str, Any]]:
    """The people found among your faces (named first), with face counts."""
    hidden = request.args.get("hidden", "false").lower() in ("1", "true", "yes")
    counts = people.face_counts(db_session, current_user.id)
    return [person_summary(p, counts) for p in people.people_of(db_session, current_user.id, hidden=hidden)]


@api_route(
    "/album/people/<int:person_id>", "GET", roles=ALBUM_USER, response=PERSON_DETAIL, errors=[404], tags=TAGS
)
def get_album_person(person_id: int) -> dict[str, Any]:
    """A person and their faces."""
    person = access.person_for(db_session, current_user, person_id)
    faces = people.faces_of(db_session, person)
    return {"person": person_summary(person), "faces": [face_json(face, person) for face in faces]}


@api_route(
    "/album/people/<int:person_id>",
    "PATCH",
    roles=ALBUM_USER,
    request=PERSON_PATCH,
    response=PERSON,
    errors=[404],
    tags=TAGS,
)
def update_album_person(person_id: int) -> dict[str, Any]:
    """Name (null or "" clears it), hide/show a person, or choose their feature face
    (`feature_face_id`: one of the person's faces; null goes back to the sharpest)."""
    person = access.person_for(db_session, current_user, person_id)
    body = json_body()
    if "feature_face_id" in body:
        chosen = body["feature_face_id"]
        if chosen is not None and (not isinstance(chosen, int) or isinstance(chosen, bool)):
            raise AlbumError("feature_face_id must be the id of one of this person's faces, or null")
        face = access.face_for(db_session, current_user, chosen) if chosen is not None else None
        people.choose_feature(db_session, person, face)
    if "name" in body:
        if body["name"] is not None and not isinstance(body["name"], str):
            raise AlbumError("name must be a string or null")
        people.rename(person, body["name"])
    if "hidden" in body:
        if not isinstance(body["hidden"], bool):
            raise AlbumError("hidden must be true or false")
        people.set_hidden(person, body["hidden"])
    db_session.commit()
    return person_summary(person)


@api_route(
    "/album/people/<int:person_id>/merge",
    "POST",
    roles=ALBUM_USER,
    request=MERGE_BODY,
    response=PERSON,
    errors=[404],
    tags=TAGS,
)
def merge_album_people(person_id: int) -> dict[str, Any]:
    """Merge other people into this one (their faces move here; they are deleted)."""
    person = access.person_for(db_session, current_user, person_id)
    others = [access.person_for(db_session, current_user, pid) for pid in int_list(json_body(), "person_ids")]
    people.merge(db_session, person, others)
    db_session.commit()
    return person_summary(person)


@api_route(
    "/album/people/<int:person_id>/split",
    "POST",
    roles=ALBUM_USER,
    request=SPLIT_BODY,
    response=PERSON,
    status=201,
    errors=[404],
    tags=TAGS,
)
def split_album_person(person_id: int) -> tuple[dict[str, Any], int]:
    """Move some of a person's faces into a new person (optionally named); answers the new person."""
    person = access.person_for(db_session, current_user, person_id)
    body = json_body()
    faces = [access.face_for(db_session, current_user, fid) for fid in int_list(body, "face_ids")]
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise AlbumError("name must be a string or null")
    new = people.split(db_session, person, faces, name)
    db_session.commit()
    return person_summary(new), 201
