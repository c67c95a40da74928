"""The JSON shapes of the album (documented in the OpenAPI document by `server.album.api`)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from server.album.photos import Outcome
from server.album.search import Match
from server.api.io import iso
from server.db.models import Album, AlbumFace, AlbumPerson, AlbumPhoto, AlbumSearch


def box(face: AlbumFace) -> list[float]:
    """[x, y, width, height] in the photo's display pixels (EXIF orientation applied)."""
    return [face.box_x, face.box_y, face.box_w, face.box_h]


def face_json(face: AlbumFace, person: AlbumPerson | None = None) -> dict[str, Any]:
    person = person if person is not None else face.person
    return {
        "id": face.id,
        "photo_id": face.photo_id,
        "box": box(face),
        "score": round(face.score, 4),
        "sharpness": round(face.sharpness, 1),
        "quality": face.quality,
        "person_id": face.person_id,
        "person_name": person.name if person is not None else None,
        "assigned_by": face.assigned_by,
        "crop_url": url_for("api.get_album_face_crop", face_id=face.id) if face.crop_key else None,
    }


def photo_json(photo: AlbumPhoto, *, faces: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": photo.id,
        "album_id": photo.album_id,
        "filename": photo.filename,
        "sha256": photo.sha256,
        "content_type": photo.content_type,
        "size_bytes": photo.size_bytes,
        "width": photo.width,
        "height": photo.height,
        "status": photo.status,
        "error": photo.error,
        "blurred": photo.blurred,
        "sharpness": None if photo.sharpness is None else round(photo.sharpness, 1),
        "face_count": photo.face_count,
        "created_at": iso(photo.created_at),
        "indexed_at": iso(photo.indexed_at),
        "thumbnail_url": url_for("api.get_album_photo_thumbnail", photo_id=photo.id),
        "original_url": url_for("api.get_album_photo_original", photo_id=photo.id),
    }
    if faces:
        body["faces"] = [face_json(face) for face in photo.faces]
    return body


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "filename": outcome.filename,
        "status": outcome.status,
        "reason": outcome.reason,
        "photo_id": outcome.photo.id if outcome.photo is not None else None,
    }


def album_json(album: Album, photos: int) -> dict[str, Any]:
    return {"id": album.id, "name": album.name, "photos": photos, "created_at": iso(album.created_at)}


def person_json(
    person: AlbumPerson, faces: int, cover: AlbumFace | None, feature: AlbumFace | None = None
) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "hidden": person.hidden,
        "faces": faces,
        "cover_face_id": cover.id if cover is not None else None,
        "cover_url": url_for("api.get_album_face_crop", face_id=cover.id) if cover is not None else None,
        "feature_face_id": feature.id if feature is not None else None,
        "created_at": iso(person.created_at),
    }


def search_json(search: AlbumSearch) -> dict[str, Any]:
    return {
        "id": search.id,
        "filename": search.filename,
        "photo_id": search.photo_id,
        "width": search.width,
        "height": search.height,
        "faces": [
            {
                "number": number,
                "box": [
                    face["box"][0],
                    face["box"][1],
                    face["box"][2] - face["box"][0],
                    face["box"][3] - face["box"][1],
                ],
                "score": face["score"],
                "face_id": face.get("face_id"),
            }
            for number, face in enumerate(search.faces)
        ],
        "image_url": url_for("api.get_album_search_image", search_id=search.id),
        "created_at": iso(search.created_at),
    }


def match_json(match: Match) -> dict[str, Any]:
    return {
        "photo": photo_json(match.photo),
        "face": face_json(match.face),
        "similarity": round(match.similarity, 4),
    }
