"""People: run the grouping over a user's faces and store what it decided; the user's own edits
(name, hide, merge, split, "not this person").

The grouping itself (`server.album.grouping`) is a pure function; this module feeds it every face
of the owner with its current person, the "not this person" pairs and the hidden people, then
writes the result. Faces the user placed (`assigned_by = "user"`) are never moved by the grouping.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.album.errors import AlbumError
from server.album.faceindex import model_of, owner_embeddings
from server.album.grouping import GroupingParams, group_faces
from server.db.models import AlbumFace, AlbumFaceRejection, AlbumPerson, User
from server.db.types import utcnow
from server.school import fields
from server.school.errors import Invalid


@dataclass
class GroupingSummary:
    new_people: int
    assigned: int
    leftovers: int


_owner_locks: dict[int, threading.Lock] = {}
_owner_locks_guard = threading.Lock()


def owner_lock(owner_id: int) -> threading.Lock:
    with _owner_locks_guard:
        return _owner_locks.setdefault(owner_id, threading.Lock())


def regroup(app: Flask, session: Session, owner_id: int) -> GroupingSummary:
    """Assign the owner's unassigned faces to people (existing or new) and commit.

    Two jobs of one owner must not group at the same time (both would create the same new person):
    a lock per owner in this process, and the owner's user row locked (SELECT ... FOR UPDATE on
    MariaDB) across processes, until the commit."""
    with owner_lock(owner_id):
        session.execute(select(User.id).where(User.id == owner_id).with_for_update())
        summary = _regroup(app, session, owner_id)
        session.commit()
        return summary


def _regroup(app: Flask, session: Session, owner_id: int) -> GroupingSummary:
    model = model_of(app)
    ids, vectors = owner_embeddings(session, owner_id, model)
    if not ids.size:
        return GroupingSummary(0, 0, 0)
    persons = dict(
        session.execute(
            select(AlbumFace.id, AlbumFace.person_id).where(
                AlbumFace.owner_id == owner_id, AlbumFace.model == model
            )
        ).all()
    )
    rejections = session.execute(
        select(AlbumFaceRejection.face_id, AlbumFaceRejection.person_id)
        .join(AlbumFace, AlbumFace.id == AlbumFaceRejection.face_id)
        .where(AlbumFace.owner_id == owner_id)
    ).all()
    hidden = session.scalars(
        select(AlbumPerson.id).where(AlbumPerson.owner_id == owner_id, AlbumPerson.hidden.is_(True))
    ).all()
    result = group_faces(
        ids,
        vectors,
        [persons.get(int(face_id)) for face_id in ids.tolist()],
        params=GroupingParams.for_embedder(model),
        not_person=[(int(f), int(p)) for f, p in rejections],
        hidden_people=hidden,
    )
    now = utcnow()
    for face_id, person_id in result.assignments.items():
        session.execute(
            update(AlbumFace)
            .where(AlbumFace.id == face_id)
            .values(person_id=person_id, assigned_by="auto", grouped_at=now)
        )
    for new in result.new_people:
        person = AlbumPerson(owner_id=owner_id)
        session.add(person)
        session.flush()
        session.execute(
            update(AlbumFace)
            .where(AlbumFace.id.in_(new.face_ids))
            .values(person_id=person.id, assigned_by="auto", grouped_at=now)
        )
    if result.leftovers:
        session.execute(update(AlbumFace).where(AlbumFace.id.in_(result.leftovers)).values(grouped_at=now))
    session.flush()
    return GroupingSummary(len(result.new_people), len(result.assignments), len(result.leftovers))


def face_counts(session: Session, owner_id: int) -> dict[int, int]:
    return dict(
        session.execute(
            select(AlbumFace.person_id, func.count(AlbumFace.id))
            .where(AlbumFace.owner_id == owner_id, AlbumFace.person_id.is_not(None))
            .group_by(AlbumFace.person_id)
        ).all()
    )


def people_of(session: Session, owner_id: int, *, hidden: bool | None = False) -> list[AlbumPerson]:
    query = select(AlbumPerson).where(AlbumPerson.owner_id == owner_id)
    if hidden is not None:
        query = query.where(AlbumPerson.hidden.is_(hidden))
    return list(session.scalars(query.order_by(AlbumPerson.name.is_(None), AlbumPerson.name, AlbumPerson.id)))


def faces_of(session: Session, person: AlbumPerson) -> list[AlbumFace]:
    return list(
        session.scalars(select(AlbumFace).where(AlbumFace.person_id == person.id).order_by(AlbumFace.id))
    )


def cover_face(session: Session, person: AlbumPerson) -> AlbumFace | None:
    """The person's sharpest face (what the people page shows)."""
    return session.scalars(
        select(AlbumFace)
        .where(AlbumFace.person_id == person.id)
        .order_by(AlbumFace.sharpness.desc(), AlbumFace.id)
        .limit(1)
    ).first()


NAME_SCHEMA = {
    "anyOf": [fields.text_schema(200), {"type": "null"}, {"type": "string", "pattern": fields.BLANK_PATTERN}],
    "description": "Null or blank: no name.",
}
"""What `rename` takes: a one-line name, or null or blank to clear it."""


def rename(person: AlbumPerson, name: str | None) -> None:
    """Name a person (None or blank: no name); a name is `server.school.fields.text` of 200."""
    if name is None or (isinstance(name, str) and not name.strip()):
        person.name = None
        return
    person.name = " ".join(line_text(name, "name", 200).split())


def line_text(value: object, name: str, max_length: int) -> str:
    """`server.school.fields.text`, refusing with an AlbumError (the album API's 400)."""
    try:
        return fields.text(value, name, max_length)
    except Invalid as exc:
        raise AlbumError(exc.message) from None


def set_hidden(person: AlbumPerson, hidden: bool) -> None:
    person.hidden = bool(hidden)


def merge(session: Session, target: AlbumPerson, others: Sequence[AlbumPerson]) -> int:
    """Move every face of `others` into `target` and delete them; returns the faces moved.

    "Not this person" said about one of the merged people now holds for the target (the user said
    that face is not that person, who is now part of the target)."""
    sources = [person for person in others if person.id != target.id]
    if not sources:
        raise AlbumError("name at least one other person to merge into this one")
    source_ids = [person.id for person in sources]
    moved = session.execute(
        update(AlbumFace)
        .where(AlbumFace.person_id.in_(source_ids))
        .values(person_id=target.id, assigned_by="user")
    ).rowcount
    carried = (
        session.execute(
            select(AlbumFaceRejection.face_id).where(AlbumFaceRejection.person_id.in_(source_ids))
        )
        .scalars()
        .all()
    )
    present = set(
        session.scalars(
            select(AlbumFaceRejection.face_id).where(AlbumFaceRejection.person_id == target.id)
        ).all()
    )
    for face_id in set(carried) - present:
        session.add(AlbumFaceRejection(face_id=face_id, person_id=target.id))
    session.execute(delete(AlbumFaceRejection).where(AlbumFaceRejection.person_id.in_(source_ids)))
    session.flush()
    if target.name is None:
        target.name = next((person.name for person in sources if person.name), None)
    for person in sources:
        session.delete(person)
    session.flush()
    return int(moved or 0)


def split(session: Session, person: AlbumPerson, faces: Sequence[AlbumFace], name: str | None) -> AlbumPerson:
    """Move `faces` (all of them the person's) into a new person."""
    if not faces:
        raise AlbumError("choose the faces to move to a new person")
    if any(face.person_id != person.id for face in faces):
        raise AlbumError("every face to split off must belong to this person")
    if len(faces) == len(faces_of(session, person)):
        raise AlbumError("a split must leave this person at least one face: rename the person instead")
    new = AlbumPerson(owner_id=person.owner_id)
    rename(new, name)
    session.add(new)
    session.flush()
    for face in faces:
        face.person_id = new.id
        face.assigned_by = "user"
    session.flush()
    return new


def not_this_person(session: Session, face: AlbumFace) -> int | None:
    """Take the face out of its person and remember that it is not that person; returns the person id."""
    person_id = face.person_id
    if person_id is None:
        raise AlbumError("this face is not assigned to a person")
    if session.get(AlbumFaceRejection, (face.id, person_id)) is None:
        session.add(AlbumFaceRejection(face_id=face.id, person_id=person_id))
    face.person_id = None
    face.assigned_by = None
    face.grouped_at = utcnow()
    session.flush()
    return person_id


def assign(session: Session, face: AlbumFace, person: AlbumPerson) -> None:
    """The user puts a face into a person (this also lifts an earlier "not this person")."""
    session.execute(
        delete(AlbumFaceRejection).where(
            AlbumFaceRejection.face_id == face.id, AlbumFaceRejection.person_id == person.id
        )
    )
    face.person_id = person.id
    face.assigned_by = "user"
    session.flush()


def prune_empty(session: Session, owner_id: int) -> int:
    """Delete the owner's people left without any face (after photo deletions, splits...)."""
    empty = session.scalars(
        select(AlbumPerson.id)
        .outerjoin(AlbumFace, AlbumFace.person_id == AlbumPerson.id)
        .where(AlbumPerson.owner_id == owner_id)
        .group_by(AlbumPerson.id)
        .having(func.count(AlbumFace.id) == 0)
    ).all()
    if empty:
        session.execute(delete(AlbumPerson).where(AlbumPerson.id.in_(empty)))
    return len(empty)
