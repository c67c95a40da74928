"""One page of a user's photo library, as the API (`GET /api/v1/album/photos`) and the library page
(`/album`) both show it: newest first (upload time, then id), `page` from 1 and `per_page` held
within 1 to 500 (100 by default). One function for both, so page N on the web is page N of the API."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import Album, AlbumPhoto

PER_PAGE = 100
MAX_PER_PAGE = 500


@dataclass
class PhotoPage:
    photos: list[AlbumPhoto]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the library fills (at least 1, so "page 1 of 1" for an empty one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def newer(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def older(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def clamp(page: int, per_page: int) -> tuple[int, int]:
    """Out-of-range values are held in range rather than refused (a stale link still shows a page)."""
    return max(1, page), min(MAX_PER_PAGE, max(1, per_page))


def photo_page(
    session: Session, owner_id: int, page: int, per_page: int, album: Album | None = None
) -> PhotoPage:
    """The owner's photos (optionally one album's) on `page`, newest first."""
    page, per_page = clamp(page, per_page)
    query = select(AlbumPhoto).where(AlbumPhoto.owner_id == owner_id)
    if album is not None:
        query = query.where(AlbumPhoto.album_id == album.id)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    photos = session.scalars(
        query.order_by(AlbumPhoto.created_at.desc(), AlbumPhoto.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return PhotoPage(list(photos), total, page, per_page)


STATES = ("pending", "indexing", "indexed", "failed")


def status_counts(session: Session, owner_id: int) -> dict[str, int]:
    """The owner's photos per analysis state (every state named, 0 when none): what the library's
    counts line and the home dashboard show, refreshed live by the pages."""
    mine = select(AlbumPhoto.status, func.count()).where(AlbumPhoto.owner_id == owner_id)
    rows = session.execute(mine.group_by(AlbumPhoto.status))
    found = {row[0]: int(row[1]) for row in rows}
    return {state: found.get(state, 0) for state in STATES}
