"""What every upload path (album photos and zips, enrolment photos and imports, deepfake files)
applies the same way: the shape a picture must have, and how sizes are written in refusals.

Shape: settings IMAGE_MIN_SIDE (pixels) and IMAGE_MAX_ASPECT (longer side over shorter side), typed
in server/settings/uploads.py; their environment variables VISAGE_IMAGE_MIN_SIDE / VISAGE_IMAGE_MAX_ASPECT
are the ones `shared.media` reads too, so the deepfake job (shared code, no app) applies the same
limits as the upload did.

Sizes: limits are binary (30 MiB = 31,457,280 bytes) and written as such. A refusal names two
sizes; they are printed with as many decimals as it takes for them to differ, then in bytes, so that
a message never reads "30.0 MB, more than the 30.0 MB limit".
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import gettext

from server.i18n import N_
from server.settings import settings_of
from shared.media import ShapeLimits

MiB = 1024 * 1024


def upload_shape(app: Flask | None = None) -> ShapeLimits:
    """The app's (default: the current app's) shape limits for uploaded pictures."""
    settings = settings_of(app or current_app._get_current_object()).uploads  # type: ignore[attr-defined]
    return ShapeLimits(settings.min_side, settings.max_aspect)


def mebibytes(count: int, decimals: int = 1) -> str:
    """`count` bytes in MiB: 32505856 -> '31.0 MiB'."""
    return f"{count / MiB:.{decimals}f} MiB"


def size_and_limit(size: int, limit: int) -> tuple[str, str]:
    """`size` and `limit` written so that they read differently whenever they differ."""
    for decimals in (1, 2, 3):
        if mebibytes(size, decimals) != mebibytes(limit, decimals):
            return mebibytes(size, decimals), mebibytes(limit, decimals)
    return f"{size:,} bytes", f"{limit:,} bytes"


def over_limit(size: int, limit: int) -> str:
    """'31.0 MiB, more than the 30.0 MiB limit' or, for sizes that differ by a few bytes,
    '2,048 bytes, more than the 2,000-byte limit' (the caller adds what the limit is for), in the
    request's language: it goes inside the caller's translated sentence."""
    template, values = _over_limit(size, limit)
    return gettext(template, **values)


def over_limit_english(size: int, limit: int) -> str:
    """`over_limit` always in English, for a reason that is kept (an enrolment refusal, an album
    photo's outcome) and translated where it is shown (server/uploads/reasons.py)."""
    template, values = _over_limit(size, limit)
    return template % values


def _over_limit(size: int, limit: int) -> tuple[str, dict[str, str]]:
    size_text, limit_text = size_and_limit(size, limit)
    if limit_text.endswith(" bytes"):
        return N_("%(size)s bytes, more than the %(limit)s-byte limit"), {
            "size": f"{size:,}",
            "limit": f"{limit:,}",
        }
    return N_("%(size)s, more than the %(limit)s limit"), {"size": size_text, "limit": limit_text}
