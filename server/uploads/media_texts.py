"""The refusals of shared/media.py and shared/deepfake/video.py in the reader's language.

`shared/` knows no Flask, so its MediaError speaks English: "photo.jpg: the image has no pixels.".
This module repeats those sentences (without the file name in front and the final '.') as
catalogue templates, reads the values back out of the English and answers the translation, the
file name kept as written. A message no template reads stays as it is. The server translates at
its boundary (an API answer, a page), so an English reason stored in the database stays English.
tests/server/test_server_i18n_media.py makes shared/ raise and checks that the copies still read
exactly as it writes them.
"""

from __future__ import annotations

import re
from functools import cache

from flask_babel import gettext

from server.i18n import N_

# shared/media.py (decode_image, image_header, check_shape), in %(name)s form.
IMAGE_TEMPLATES = (
    N_("the file is empty (0 bytes)"),
    N_("%(size)s bytes is more than the %(limit)s byte limit for an image"),
    N_("the image is too large to decode safely"),
    N_("the image is corrupt or truncated (%(error)s)"),
    N_("%(width)sx%(height)s pixels is too small: each side must be at least %(least)s pixels"),
    N_(
        "%(width)sx%(height)s pixels is too elongated: the longer side may be at most %(most)s times the"
        " shorter one"
    ),
    N_("not an image, or a format that is not accepted (use JPEG, PNG, WebP, BMP or TIFF)"),
    N_("%(format)s images are not accepted (use JPEG, PNG, WebP, BMP or TIFF)"),
    N_("the image has no pixels"),
    N_("%(width)sx%(height)s pixels is more than the %(most)s pixel limit for an image"),
)

# shared/deepfake/video.py (sniff_bytes, open_video, reading the frames) and server/deepfake/jobs.py.
VIDEO_TEMPLATES = (
    N_("this is an audio file (WAV); the deepfake check needs a video or a photo"),
    N_("this is an audio file (M4A); the deepfake check needs a video or a photo"),
    N_("HEIC/AVIF images are not accepted (use JPEG, PNG, WebP or a video)"),
    N_("Ogg and AIFF files are not accepted (send an MP4, MOV, MKV, WebM or AVI video)"),
    N_("this is an audio file; the deepfake check needs a video or a photo"),
    N_(
        "not an image or a video Visage reads (send JPEG, PNG, WebP, BMP or TIFF, or an MP4, MOV, MKV,"
        " WebM or AVI video)"
    ),
    N_("%(size)s bytes is more than the %(limit)s byte limit for a video"),
    N_("the file holds only audio; the deepfake check needs pictures"),
    N_("the video could not be opened (it is corrupt, truncated or has no video track)"),
    N_("the video track has no picture size (corrupt or not a video)"),
    N_("%(width)sx%(height)s frames are larger than the %(most)s pixel limit"),
    N_("the video lasts %(length)s, more than the %(most)s limit; cut the part to check and upload that"),
    N_("the video runs past the %(most)s limit"),
    N_("no frame of the video could be decoded (corrupt or truncated)"),
    N_("frame %(index)s could not be decoded (the video is corrupt)"),
    N_("no frame of the video could be decoded (it is corrupt or truncated)"),
    N_(
        "the video stops at %(stop)s s of the %(length)s s its header announces (the file is truncated or"
        " corrupt)"
    ),
    N_("the upload is no longer stored; upload the file again"),
)

TEMPLATES = IMAGE_TEMPLATES + VIDEO_TEMPLATES


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression whose named groups take its values back."""
    parts = re.split(r"%\((\w+)\)s", template)
    text = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(text + r"\Z", re.DOTALL)


def media_sentence(sentence: str) -> str | None:
    """One sentence of shared/'s refusals, without the file name in front ("the image has no
    pixels", a final '.' kept when given), in the request's language; None when no template reads it."""
    body, end = (sentence[:-1], ".") if sentence.endswith(".") else (sentence, "")
    for template in TEMPLATES:
        found = _pattern(template).match(body)
        if found:
            return gettext(template, **found.groupdict()) + end
    return None


def media_text(message: str, name: str) -> str:
    """A MediaError message ("photo.jpg: the image has no pixels.") in the request's language; the
    file name `name` stays as written. The English message when no template reads it."""
    prefix = f"{name}: "
    if not message.startswith(prefix):
        prefix = ""
    translated = media_sentence(message[len(prefix) :])
    return message if translated is None else prefix + translated
