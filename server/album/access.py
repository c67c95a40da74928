"""Everything in the album belongs to one user and only that user sees it, administrators included
(photos of someone's family are not an administrator's business). Another user's id answers 404
exactly like an id that does not exist, so ids reveal nothing."""

from __future__ import annotations

from typing import TypeVar

from flask_babel import gettext
from sqlalchemy.orm import Session

from server.album.errors import NotFound
from server.db.models import Album, AlbumFace, AlbumPerson, AlbumPhoto, AlbumSearch, User
from server.db.types import INT_MAX
from server.i18n import N_

Row = TypeVar("Row", Album, AlbumPhoto, AlbumFace, AlbumPerson, AlbumSearch)

# One whole sentence per kind of row (marked for the catalogue, translated when raised): a noun put
# into a shared sentence would not take the right Korean particle.
NOT_YOURS = {
    Album: N_("you have no album with id %(id)s"),
    AlbumPhoto: N_("you have no photo with id %(id)s"),
    AlbumFace: N_("you have no face with id %(id)s"),
    AlbumPerson: N_("you have no person with id %(id)s"),
    AlbumSearch: N_("you have no search with id %(id)s"),
}


def owned(session: Session, user: User, model: type[Row], row_id: int) -> Row:
    """The row if `user` owns it; NotFound otherwise (also for an id no INT key can hold, which
    would reach SQL from a form or body and make the driver raise)."""
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 1 <= row_id <= INT_MAX:
        raise NotFound(gettext(NOT_YOURS[model], id=str(row_id)[:30]))
    row = session.get(model, row_id)
    if row is None or row.owner_id != user.id:
        raise NotFound(gettext(NOT_YOURS[model], id=row_id))
    return row


def album_for(session: Session, user: User, album_id: int) -> Album:
    return owned(session, user, Album, album_id)


def photo_for(session: Session, user: User, photo_id: int) -> AlbumPhoto:
    return owned(session, user, AlbumPhoto, photo_id)


def face_for(session: Session, user: User, face_id: int) -> AlbumFace:
    return owned(session, user, AlbumFace, face_id)


def person_for(session: Session, user: User, person_id: int) -> AlbumPerson:
    return owned(session, user, AlbumPerson, person_id)


def search_for(session: Session, user: User, search_id: int) -> AlbumSearch:
    return owned(session, user, AlbumSearch, search_id)
