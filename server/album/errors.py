"""What album services raise: the server's one error family (`server.errors`).

`AlbumError` is `ServiceError` under the name the album modules know; the app's error handler
answers every one of them."""

from __future__ import annotations

from server.errors import NotFound, TooLarge
from server.errors import ServiceError as AlbumError

__all__ = ["AlbumError", "NotFound", "TooLarge"]
