"""A refused photo's reason in the reader's language.

The reason is kept in English (the refusals table, the API's `reason`), and part of it is written
by shared/quality.py, which knows no Flask: "face too small (31 px < 80 px); blurred (sharpness
12 < 60)". This module repeats those sentences (and the server's own ones that carry a value) as
catalogue templates, reads the values back out of the English, and answers the template's
translation. shared/media.py's refusals ("the image is corrupt or truncated (...).") are read by
server/uploads/media_texts.py. A part no template reads is looked up as it is (a sentence marked
with N_, such as "no face found"), else shown as stored. tests/server/test_server_i18n_reasons.py
checks that the copies still read exactly as shared/quality.py writes them.
"""

from __future__ import annotations

import re
from functools import cache

from flask_babel import gettext

from server.i18n import N_
from server.uploads.media_texts import media_sentence

SEPARATOR = "; "  # how server/enrolment/verdict.py joins the quality gate's reasons

# shared/quality.py assess(), then server/enrolment/verdict.py, in %(name)s form.
TEMPLATES = (
    N_("face too small (%(face)s px < %(least)s px)"),
    N_("low detector confidence (%(score)s < %(least)s)"),
    N_("blurred (sharpness %(sharpness)s < %(least)s)"),
    N_("face turned sideways (yaw %(degrees)s degrees)"),
    N_("face tilted up or down (pitch %(degrees)s degrees)"),
    N_("head tilted (roll %(degrees)s degrees)"),
    N_("%(count)s faces found: use a photo of one person"),
    N_("the file is %(size)s bytes, more than the %(limit)s-byte limit for a photo"),
    N_("the file is %(size)s, more than the %(limit)s limit for a photo"),
    # server/uploads/archive.py: a zip member that is skipped or cannot be read.
    N_("could not be read from the zip (%(error)s)"),
    N_("larger than the %(limit)s limit for a photo"),
    N_("hidden or system file"),
    N_("nested archive (not opened)"),
    N_("not a photo (%(suffix)s)"),
    # server/enrolment/importer.py: a photo of the import that names no student, and the notes of a row.
    N_(
        "unknown student number %(number)s: not in the CSV nor on the course's roster (name files "
        "<student_number>.jpg, <student_number>_<n>.jpg or <student_number>/...)"
    ),
    N_("the name on record is %(name)s: kept"),
    N_("the email on record is %(email)s: kept"),
)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression whose named groups take its values back."""
    parts = re.split(r"%\((\w+)\)s", template)
    text = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(text + r"\Z")


def reason_part(part: str) -> str:
    """One stored English sentence in the request's language."""
    for template in TEMPLATES:
        found = _pattern(template).match(part)
        if found:
            return gettext(template, **found.groupdict())
    media = media_sentence(part)  # shared/media.py's refusal of a file that is no usable image
    if media is not None:
        return media
    return gettext(part) if part else part


def reason_text(reason: str | None) -> str:
    """A stored reason (one sentence or several joined by "; ") in the request's language."""
    if not reason:
        return ""
    return SEPARATOR.join(reason_part(part) for part in reason.split(SEPARATOR))
