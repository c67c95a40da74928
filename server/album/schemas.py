"""The JSON shapes of the album API: one pydantic model per shape, which validates the request,
serialises the answer and is the OpenAPI component of the same name (`server.api.shapes`).

Names are checked as the album's pages check them (`server.album.people.line_text`, i.e.
`server.school.fields.text`), ids as everywhere else (`server.school.fields.NullableId`); the
services then apply what needs the database (a person of yours, a face of this person)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from flask import url_for
from flask_babel import gettext
from pydantic import MISSING, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from server.album import people
from server.album.errors import AlbumError
from server.album.photos import Outcome
from server.album.search import Match
from server.api.shapes import Instant, RequestModel, ResponseModel
from server.db.models import Album as AlbumRow
from server.db.models import AlbumFace as FaceRow
from server.db.models import AlbumPerson as PersonRow
from server.db.models import AlbumPhoto as PhotoRow
from server.db.models import AlbumSearch as SearchRow
from server.db.types import INT_MAX
from server.i18n import N_
from server.school import fields
from server.school.fields import NullableId


def _person_name(value: Any) -> str | None:
    """Null or blank: no name; else a one-line name of at most 200 characters, runs of spaces one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return " ".join(people.line_text(value, "name", 200).split())
    except AlbumError as error:
        raise ValueError(error.message) from None


def _album_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("an album needs a name")
    return _person_name(value) or ""


def _id_list(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(N_("must be a list of integer ids"))
    if not all(1 <= v <= INT_MAX for v in value):
        raise ValueError(gettext("must be a list of integer ids from 1 to %(most)s", most=INT_MAX))
    return value


def _field_said(check: Callable[[Any], Any]) -> BeforeValidator:
    """`check`'s sentence prefixed with the field's name (`'person_ids' must be ...`)."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return check(value)
        except ValueError as error:
            raise ValueError(
                gettext("'%(name)s' %(problem)s", name=info.field_name, problem=gettext(str(error)))
            ) from None

    return BeforeValidator(validate)


PersonName = Annotated[str | None, BeforeValidator(_person_name), WithJsonSchema(people.NAME_SCHEMA)]
IdList = Annotated[
    list[int],
    _field_said(_id_list),
    WithJsonSchema({"type": "array", "items": fields.ID_SCHEMA}),
]
Box = Annotated[
    list[float], Field(description="[x, y, width, height] in display pixels.", min_length=4, max_length=4)
]


# --- requests ----------------------------------------------------------------------------------


class AlbumRequest(RequestModel):
    name: Annotated[str, BeforeValidator(_album_name), WithJsonSchema(fields.text_schema(200))]


class AlbumPersonUpdate(RequestModel):
    """Only the fields sent change."""

    name: PersonName = None
    hidden: bool = None  # type: ignore[assignment]  # absent: unchanged
    feature_face_id: NullableId = Field(
        None, description="One of this person's faces to show them by; null: the sharpest face again."
    )


class AlbumFaceMove(RequestModel):
    person_id: NullableId = Field(None, description="One of your people; null or absent: a new person.")
    name: PersonName = Field(None, description="The new person's name (with no person_id).")


class AlbumMerge(RequestModel):
    person_ids: IdList


class AlbumSplit(RequestModel):
    face_ids: IdList
    name: PersonName = None


class AlbumSearchRequest(RequestModel):
    """A search by one of your photos as JSON (a key photo upload is multipart/form-data)."""

    photo_id: int = Field(ge=1, le=INT_MAX)
    face: int | None = Field(None, description="Which face of the key to search for.")


# --- responses ---------------------------------------------------------------------------------


def box(face: FaceRow) -> list[float]:
    """[x, y, width, height] in the photo's display pixels (EXIF orientation applied)."""
    return [face.box_x, face.box_y, face.box_w, face.box_h]


class AlbumFace(ResponseModel):
    """A face found in a photo (its embedding is kept, not shown)."""

    id: int
    photo_id: int
    box: Box
    score: float
    sharpness: float
    quality: dict[str, Any] | None
    person_id: int | None
    person_name: str | None
    assigned_by: Literal["auto", "user"] | None
    crop_url: str | None

    @classmethod
    def of(cls, face: FaceRow, person: PersonRow | None = None) -> AlbumFace:
        person = person if person is not None else face.person
        return cls(
            id=face.id,
            photo_id=face.photo_id,
            box=box(face),
            score=round(face.score, 4),
            sharpness=round(face.sharpness, 1),
            quality=face.quality,
            person_id=face.person_id,
            person_name=person.name if person is not None else None,
            assigned_by=face.assigned_by,
            crop_url=url_for("api.get_album_face_crop", face_id=face.id) if face.crop_key else None,
        )


class AlbumPhoto(ResponseModel):
    """A photo; one photo's own answer adds its `faces`, lists leave them out."""

    id: int
    album_id: int | None
    filename: str
    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    status: Literal["pending", "indexing", "indexed", "failed"]
    error: str | None
    blurred: bool | None
    sharpness: float | None
    face_count: int | None
    created_at: Instant
    indexed_at: Instant | None
    thumbnail_url: str
    original_url: str
    faces: list[AlbumFace] | MISSING = MISSING

    @classmethod
    def of(cls, photo: PhotoRow, *, faces: bool = False) -> AlbumPhoto:
        shape = cls(
            id=photo.id,
            album_id=photo.album_id,
            filename=photo.filename,
            sha256=photo.sha256,
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            width=photo.width,
            height=photo.height,
            status=photo.status,
            error=photo.error,
            blurred=photo.blurred,
            sharpness=None if photo.sharpness is None else round(photo.sharpness, 1),
            face_count=photo.face_count,
            created_at=photo.created_at,
            indexed_at=photo.indexed_at,
            thumbnail_url=url_for("api.get_album_photo_thumbnail", photo_id=photo.id),
            original_url=url_for("api.get_album_photo_original", photo_id=photo.id),
        )
        if faces:
            shape.faces = [AlbumFace.of(face) for face in photo.faces]
        return shape


class AlbumPhotoCounts(ResponseModel):
    """All your photos (not only this page's) per analysis state."""

    pending: int
    indexing: int
    indexed: int
    failed: int


class AlbumPhotoList(ResponseModel):
    photos: list[AlbumPhoto]
    total: int
    page: int
    per_page: int
    pages: int = Field(description="How many pages the photos fill (at least 1).")
    counts: AlbumPhotoCounts


class AlbumJobRef(ResponseModel):
    """The background job that analyses the photos (GET /jobs/{id})."""

    id: int
    status: str
    url: str

    @classmethod
    def of(cls, job: Any) -> AlbumJobRef | None:
        if job is None:
            return None
        return cls(
            id=job.id, status=str(getattr(job.status, "value", job.status)), url=f"/api/v1/jobs/{job.id}"
        )


class AlbumUploadedFile(ResponseModel):
    filename: str
    status: Literal["stored", "duplicate", "rejected", "ignored"]
    reason: str | None
    photo_id: int | None

    @classmethod
    def of(cls, outcome: Outcome) -> AlbumUploadedFile:
        return cls(
            filename=outcome.filename,
            status=outcome.status,
            reason=outcome.reason,
            photo_id=outcome.photo.id if outcome.photo is not None else None,
        )


class AlbumUploadResult(ResponseModel):
    """Per file: stored (a new photo), duplicate (the same bytes are already in your album: photo_id
    is that photo), rejected or ignored (with the reason)."""

    files: list[AlbumUploadedFile]
    stored: int
    duplicates: int
    rejected: int
    job: AlbumJobRef | None


class AlbumIndexQueued(ResponseModel):
    photos: int
    job: AlbumJobRef | None


class Album(ResponseModel):
    id: int
    name: str
    photos: int
    created_at: Instant

    @classmethod
    def of(cls, album: AlbumRow, photos: int) -> Album:
        return cls(id=album.id, name=album.name, photos=photos, created_at=album.created_at)


class AlbumPerson(ResponseModel):
    id: int
    name: str | None
    hidden: bool
    faces: int
    cover_face_id: int | None
    cover_url: str | None
    feature_face_id: int | None = Field(
        description="The face you chose to show this person by (then also the cover); null: the "
        "sharpest face is the cover."
    )
    created_at: Instant

    @classmethod
    def of(
        cls, person: PersonRow, faces: int, cover: FaceRow | None, feature: FaceRow | None = None
    ) -> AlbumPerson:
        return cls(
            id=person.id,
            name=person.name,
            hidden=person.hidden,
            faces=faces,
            cover_face_id=cover.id if cover is not None else None,
            cover_url=url_for("api.get_album_face_crop", face_id=cover.id) if cover is not None else None,
            feature_face_id=feature.id if feature is not None else None,
            created_at=person.created_at,
        )


class AlbumPersonDetail(ResponseModel):
    person: AlbumPerson
    faces: list[AlbumFace]


class AlbumGrouping(ResponseModel):
    assigned: int
    new_people: int
    leftovers: int


class AlbumFaceMoved(ResponseModel):
    """The face in its new person, that person, and what the grouping then did: faces waiting for a
    person that now match one join it (`assigned`), as after an upload."""

    face: AlbumFace
    person: AlbumPerson
    grouping: AlbumGrouping


class AlbumWaitingFaces(ResponseModel):
    """Faces in no person yet, newest first: `total` of them, the first `limit` listed."""

    faces: list[AlbumFace]
    total: int
    limit: int


class AlbumSearchFace(ResponseModel):
    number: int
    box: Box
    score: float
    face_id: int | None


class AlbumSearch(ResponseModel):
    """A key photo's faces (largest first). Choose one by its `number`."""

    id: int
    filename: str
    photo_id: int | None
    width: int
    height: int
    faces: list[AlbumSearchFace]
    image_url: str
    created_at: Instant

    @classmethod
    def of(cls, search: SearchRow) -> AlbumSearch:
        return cls(
            id=search.id,
            filename=search.filename,
            photo_id=search.photo_id,
            width=search.width,
            height=search.height,
            faces=[
                AlbumSearchFace(
                    number=number,
                    box=[
                        face["box"][0],
                        face["box"][1],
                        face["box"][2] - face["box"][0],
                        face["box"][3] - face["box"][1],
                    ],
                    score=face["score"],
                    face_id=face.get("face_id"),
                )
                for number, face in enumerate(search.faces)
            ],
            image_url=url_for("api.get_album_search_image", search_id=search.id),
            created_at=search.created_at,
        )


class AlbumMatch(ResponseModel):
    photo: AlbumPhoto
    face: AlbumFace
    similarity: float

    @classmethod
    def of(cls, match: Match) -> AlbumMatch:
        return cls(
            photo=AlbumPhoto.of(match.photo),
            face=AlbumFace.of(match.face),
            similarity=round(match.similarity, 4),
        )


class AlbumSearchResult(ResponseModel):
    """`results` is null while the key shows several faces and none was chosen; else the caller's
    photos showing that person, best first, with the matching face."""

    search: AlbumSearch
    face: int | None
    threshold: float
    results: list[AlbumMatch] | None


class AlbumDeleted(ResponseModel):
    deleted: int
