"""People: run the grouping over a user's faces and store what it decided; the user's own edits
(name, hide, merge, split, "not this person", moving a face into a person, the feature face).

The grouping itself (`server.album.grouping`) is a pure function; this module feeds it every face
of the owner with its current person, the "not this person" pairs and the hidden people, then
writes the result. Faces the user placed (`assigned_by = "user"`) are never moved by the grouping.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from flask_babel import gettext
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.album.errors import AlbumError
from server.album.faceindex import model_of, owner_embeddings
from server.album.grouping import GroupingParams, group_faces
from server.db.models import AlbumFace, AlbumFaceRejection, AlbumFeatureFace, AlbumPerson, User
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


def move_and_regroup(
    app: Flask, session: Session, face: AlbumFace, target: AlbumPerson | None, name: str | None = None
) -> tuple[AlbumPerson, GroupingSummary]:
    """`move_face`, drop a person left empty, then offer the faces still waiting for a person to the
    people again (the same rule as after an upload: a face that matches the moved face's person now
    joins it), all in one transaction under the owner's grouping lock; commits."""
    with owner_lock(face.owner_id):
        session.execute(select(User.id).where(User.id == face.owner_id).with_for_update())
        person = move_face(session, face, target, name)
        prune_empty(session, face.owner_id)
        summary = _regroup(app, session, face.owner_id)
        session.commit()
        return person, summary


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


def waiting_faces(session: Session, owner_id: int, limit: int) -> list[AlbumFace]:
    """The owner's newest faces that are in no person yet (too few photos of them for a core, or
    taken out of a person): what the user can put into a person by hand."""
    return list(
        session.scalars(
            select(AlbumFace)
            .where(AlbumFace.owner_id == owner_id, AlbumFace.person_id.is_(None))
            .order_by(AlbumFace.id.desc())
            .limit(limit)
        )
    )


def waiting_count(session: Session, owner_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(AlbumFace.id)).where(
                AlbumFace.owner_id == owner_id, AlbumFace.person_id.is_(None)
            )
        )
        or 0
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


def feature_face(session: Session, person: AlbumPerson) -> AlbumFace | None:
    """The face the user chose to show this person by, if any (and still the person's)."""
    return session.scalars(
        select(AlbumFace)
        .join(AlbumFeatureFace, AlbumFeatureFace.face_id == AlbumFace.id)
        .where(AlbumFeatureFace.person_id == person.id, AlbumFace.person_id == person.id)
    ).first()


def cover_face(session: Session, person: AlbumPerson) -> AlbumFace | None:
    """What the people pages show: the feature face the user chose, else the person's sharpest face."""
    chosen = feature_face(session, person)
    if chosen is not None:
        return chosen
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
    session.execute(delete(AlbumFeatureFace).where(AlbumFeatureFace.person_id.in_(source_ids)))
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
    forget_feature(session, [face.id for face in faces])
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
    forget_feature(session, [face.id])
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
        session.execute(delete(AlbumFeatureFace).where(AlbumFeatureFace.person_id.in_(empty)))
        session.execute(delete(AlbumPerson).where(AlbumPerson.id.in_(empty)))
    return len(empty)


def forget_feature(session: Session, face_ids: Sequence[int]) -> None:
    """These faces stop being anyone's feature face (they leave their person or are deleted)."""
    if face_ids:
        session.execute(delete(AlbumFeatureFace).where(AlbumFeatureFace.face_id.in_(list(face_ids))))


def choose_feature(session: Session, person: AlbumPerson, face: AlbumFace | None) -> None:
    """Show `person` by `face` from now on (None: back to the sharpest face). The face must be one of
    the person's own: a feature photo of someone else would show the wrong person."""
    if face is not None and face.person_id != person.id:
        message = gettext("face %(id)d is not one of this person's faces: move it here first", id=face.id)
        raise AlbumError(message)
    session.execute(delete(AlbumFeatureFace).where(AlbumFeatureFace.person_id == person.id))
    if face is not None:
        forget_feature(session, [face.id])
        session.add(AlbumFeatureFace(person_id=person.id, face_id=face.id, chosen_at=utcnow()))
    session.flush()


def move_face(
    session: Session, face: AlbumFace, target: AlbumPerson | None, name: str | None = None
) -> AlbumPerson:
    """Put a face into an existing person (`target`) or a new one (`target` None, optionally named);
    returns the person it is now in.

    The face leaves its old person as with "not this person" (remembered, so neither grouping nor a
    search keyed by that person brings it back, and it stops being that person's feature face), and
    is placed by the user (grouping never moves it again). Both people's means are computed from
    their faces whenever they are used, so they follow at once. The caller removes a person left
    without faces (`prune_empty`) and commits: all of it is one transaction."""
    old = face.person_id
    if target is not None and target.id == old:
        raise AlbumError("this face is already in that person", status=409)
    if target is None:
        target = AlbumPerson(owner_id=face.owner_id)
        rename(target, name)
        session.add(target)
        session.flush()
    if old is not None:
        if session.get(AlbumFaceRejection, (face.id, old)) is None:
            session.add(AlbumFaceRejection(face_id=face.id, person_id=old))
        forget_feature(session, [face.id])
    assign(session, face, target)
    face.grouped_at = utcnow()
    session.flush()
    return target
