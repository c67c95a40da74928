"""Album operations as the API and the web pages both call them (the caller commits).

Uploads: files and/or one zip; a zip that is hostile or broken as a whole (path traversal, symbolic
links, zip bomb, too many members, encrypted) is refused before anything is stored. Single files are
judged one by one: the good ones are stored, the others are listed with their reason. The stored
photos of one request are indexed by one background job.

Deletion is for privacy: a photo goes with its faces (rows, embeddings, crops), its thumbnail and its
original; a user's whole library goes at once (`delete_library`, also run when a user row is deleted).
Files are removed after the database has committed (`after_commit`), so a failed transaction never
leaves rows pointing at deleted files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from server.album import people
from server.album.errors import AlbumError
from server.album.faceindex import forget_owner, index_cache
from server.album.indexing import submit_index
from server.album.photos import Outcome, Written, add_photos, archive_uploads, owner_prefix
from server.db.models import Album, AlbumFace, AlbumFaceRejection, AlbumPerson, AlbumPhoto, AlbumSearch, User
from server.settings import current_settings
from server.storage import StorageError, storage
from server.uploads.archive import PhotoArchive
from server.uploads.files import Upload
from server.uploads.policy import upload_shape

PENDING_DELETES = "album.pending_deletes"


@dataclass
class UploadResult:
    outcomes: list[Outcome]
    written: Written
    job: Any = None

    def of(self, status: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]


def open_archive(data: bytes) -> PhotoArchive:
    limits = current_settings().album
    return PhotoArchive(
        data,
        max_members=limits.zip_max_members,
        max_total=limits.zip_max_total_bytes,
        max_ratio=limits.zip_max_ratio,
        max_member_bytes=limits.max_photo_bytes,
    )


def upload(
    session: Session,
    owner: User,
    files: list[Upload],
    archives: list[Upload],
    album: Album | None = None,
    *,
    index: bool = True,
) -> UploadResult:
    """Store the photos of a request; queue their indexing unless `index` is False (the web page
    uploads file by file and asks for one job at the end)."""
    if not files and not archives:
        raise AlbumError("no photo in the request: attach image files or a zip of photos")
    most = current_settings().album.max_files_per_upload
    if len(files) > most:
        raise AlbumError(
            gettext(
                "%(num)d files in one request: send at most %(most)d at a time, or a zip",
                num=len(files),
                most=most,
            )
        )
    skipped: list[Outcome] = []
    candidates = list(files)
    for item in archives:
        archive = open_archive(item.data)  # refuses the whole request: nothing stored yet
        photos, ignored = archive_uploads(archive)
        candidates.extend(photos)
        skipped.extend(ignored)
    written = Written(storage())
    try:
        outcomes = add_photos(
            session,
            written,
            owner,
            candidates,
            album=album,
            max_bytes=current_settings().album.max_photo_bytes,
            thumbnail_px=current_settings().album.thumbnail_px,
            shape=upload_shape(),
        )
        result = UploadResult(outcomes + skipped, written)
        stored = [outcome.photo.id for outcome in result.of("stored") if outcome.photo is not None]
        if stored and index:
            result.job = submit_index(session, owner.id, stored)
    except BaseException:
        written.discard()
        raise
    return result


def index_pending(session: Session, owner: User) -> tuple[Any, int]:
    """Queue one job for the owner's photos still waiting for analysis: (job or None, photo count)."""
    pending = session.scalars(
        select(AlbumPhoto.id).where(AlbumPhoto.owner_id == owner.id, AlbumPhoto.status == "pending")
    ).all()
    if not pending:
        return None, 0
    return submit_index(session, owner.id, list(pending)), len(pending)


def photo_files(session: Session, photos: list[AlbumPhoto]) -> list[str]:
    keys = [key for photo in photos for key in (photo.storage_key, photo.thumbnail_key)]
    ids = [photo.id for photo in photos]
    if ids:
        keys += [
            key
            for key in session.scalars(select(AlbumFace.crop_key).where(AlbumFace.photo_id.in_(ids)))
            if key
        ]
    return keys


def delete_photos(session: Session, owner_id: int, photos: list[AlbumPhoto]) -> int:
    """Delete photos with their faces; their files go once the transaction commits."""
    keys = photo_files(session, photos)
    ids = [photo.id for photo in photos]
    if ids:
        session.execute(delete(AlbumFace).where(AlbumFace.photo_id.in_(ids)))
        session.execute(delete(AlbumSearch).where(AlbumSearch.photo_id.in_(ids)))
        session.execute(delete(AlbumPhoto).where(AlbumPhoto.id.in_(ids)))
    people.prune_empty(session, owner_id)
    delete_after_commit(session, keys=keys)
    return len(ids)


def delete_faces(session: Session, owner_id: int, faces: list[AlbumFace]) -> int:
    """Delete false faces (a hand, a dark patch the detector took for a face) and nothing else of
    their photos: the rows with their embeddings, "not this person" notes and feature-face choices,
    a person left without faces, and, once the transaction commits, the crops and the faces' entries
    in the owner's search index (so no later search or grouping can return them)."""
    ids = [face.id for face in faces]
    if not ids:
        return 0
    keys = [face.crop_key for face in faces if face.crop_key]
    people.forget_feature(session, ids)
    session.execute(delete(AlbumFaceRejection).where(AlbumFaceRejection.face_id.in_(ids)))
    for face in faces:
        photo = face.photo
        photo.face_count = max(0, (photo.face_count or 0) - 1)
        session.delete(face)
    session.flush()
    people.prune_empty(session, owner_id)
    delete_after_commit(session, keys=keys, faces={owner_id: ids})
    return len(ids)


def delete_library(session: Session, owner_id: int) -> int:
    """Everything of the user's album: photos, faces, people, albums, searches, files, index."""
    photos = list(session.scalars(select(AlbumPhoto).where(AlbumPhoto.owner_id == owner_id)))
    session.execute(delete(AlbumFace).where(AlbumFace.owner_id == owner_id))
    session.execute(delete(AlbumSearch).where(AlbumSearch.owner_id == owner_id))
    session.execute(delete(AlbumPhoto).where(AlbumPhoto.owner_id == owner_id))
    session.execute(delete(AlbumPerson).where(AlbumPerson.owner_id == owner_id))
    session.execute(delete(Album).where(Album.owner_id == owner_id))
    delete_after_commit(session, prefixes=[owner_prefix(owner_id)], owners=[owner_id])
    return len(photos)


def delete_after_commit(
    session: Session,
    *,
    keys: list[str] = (),
    prefixes: list[str] = (),
    owners: list[int] = (),  # type: ignore[assignment]
    faces: dict[int, list[int]] | None = None,
) -> None:
    pending = session.info.setdefault(
        PENDING_DELETES, {"keys": [], "prefixes": [], "owners": [], "faces": {}}
    )
    for owner_id, ids in (faces or {}).items():
        pending["faces"].setdefault(owner_id, []).extend(ids)
    pending["keys"].extend(keys)
    pending["prefixes"].extend(prefixes)
    pending["owners"].extend(owners)
    pending["app"] = current_app._get_current_object()  # type: ignore[attr-defined]


@event.listens_for(Session, "after_commit")
def _delete_files(session: Session) -> None:
    pending = session.info.pop(PENDING_DELETES, None)
    if not pending:
        return
    app: Flask = pending["app"]
    store = storage(app)
    for key in pending["keys"]:
        try:
            store.delete(key)
        except StorageError as exc:
            app.logger.error("album: could not delete %s after commit: %s", key, exc)
    for prefix in pending["prefixes"]:
        try:
            store.delete_prefix(prefix)
        except StorageError as exc:
            app.logger.error("album: could not delete %s after commit: %s", prefix, exc)
    for owner_id, ids in pending["faces"].items():
        index_cache(app).remove(owner_id, ids)  # a loaded index drops them now; a saved one catches up
    for owner_id in pending["owners"]:
        forget_owner(app, owner_id)


@event.listens_for(Session, "after_rollback")
def _forget_deletes(session: Session) -> None:
    session.info.pop(PENDING_DELETES, None)


@event.listens_for(User, "after_delete")
def _user_deleted(_mapper: Any, _connection: Any, user: User) -> None:
    """A deleted user's album files and index go with the rows (which the database cascades)."""
    from sqlalchemy.orm import object_session

    session = object_session(user)
    if session is not None:
        try:
            current_app._get_current_object()  # type: ignore[attr-defined]
        except RuntimeError:
            return  # outside an app (CLI without app context): the rows cascade, files stay
        delete_after_commit(session, prefixes=[owner_prefix(user.id)], owners=[user.id])
