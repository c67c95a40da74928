"""The deepfake pipeline's fixed English sentences as the pages show them, in the reader's language.

shared/deepfake/pipeline.py knows no Flask, so its verdict labels and notes are repeated here as
catalogue entries (lazy: translated when a page renders). The API keeps the pipeline's English;
tests/server/test_server_i18n_pages.py checks that these copies still read exactly as the originals.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString

from shared.deepfake.pipeline import NO_FACE_NOTE, NOTE

VERDICT_LABELS: dict[str, LazyString] = {
    "likely_real": lazy_gettext("Likely real"),
    "uncertain": lazy_gettext("Uncertain"),
    "likely_fake": lazy_gettext("Likely fake"),
    "no_face": lazy_gettext("No face found"),
}
NOTES: dict[str, LazyString] = {
    NOTE: lazy_gettext(
        "This is a probability from a model, not a proof. The best detector of the public Deepfake "
        "Detection Challenge (2020) was right on only about 65% of videos it had not seen. This model, "
        "trained on a CPU with self-blended real faces, ranks the team's 27 labelled DFDC samples with "
        "an AUC of 0.68 (0.5 is chance) and misses many real face swaps; new manipulation methods, heavy "
        "compression, small faces (under about 60 px) or poor light can fool it either way. Weigh it "
        "with other evidence: who published it, and where."
    ),
    NO_FACE_NOTE: lazy_gettext(
        "No face was found in the sampled frames, so there is nothing to score: this check only "
        "judges faces. Very small faces, and faces strongly turned away or covered, are not detected."
    ),
}
STATUSES: dict[str, LazyString] = {
    "queued": lazy_gettext("queued"),
    "running": lazy_gettext("running"),
    "done": lazy_gettext("done"),
    "failed": lazy_gettext("failed"),
    "cancelled": lazy_gettext("cancelled"),
}


def verdict_label(verdict: str | None) -> str:
    """The verdict's label in the reader's language; '' when there is none yet."""
    return str(VERDICT_LABELS[verdict]) if verdict in VERDICT_LABELS else ""


def note(text: str | None) -> str:
    """A pipeline note in the reader's language (a note the pipeline no longer writes stays as stored)."""
    return str(NOTES[text]) if text in NOTES else (text or "")


def status_label(status: str) -> str:
    return str(STATUSES[status]) if status in STATUSES else status


def page_words() -> dict[str, Any]:
    """What static/deepfake.js and deepfake_live.js write, for templates/page_text.html."""
    words: dict[str, Any] = {f"status:{key}": str(text) for key, text in STATUSES.items()}
    words.update({f"verdict:{key}": str(text) for key, text in VERDICT_LABELS.items()})
    words.update({"media:video": gettext("video"), "media:image": gettext("image")})
    words.update(
        {
            "{num} files selected: send at most {most} at a time.": gettext(
                "{num} files selected: send at most {most} at a time."
            ),
            "uploading": gettext("uploading"),
            "refused: larger than {mib} MiB": gettext("refused: larger than {mib} MiB"),
            "refused: {reason}": gettext("refused: {reason}"),
            "upload failed (network error)": gettext("upload failed (network error)"),
            "{verdict}, {percent} fake": gettext("{verdict}, {percent} fake"),
            "failed: {error}": gettext("failed: {error}"),
            "unknown error": gettext("unknown error"),
            "{status} ({message})": gettext("{status} ({message})"),
            "Not refreshed ({reason}); retrying.": gettext("Not refreshed ({reason}); retrying."),
            "you are signed out: reload the page to sign in again": gettext(
                "you are signed out: reload the page to sign in again"
            ),
            "the server answered {status}": gettext("the server answered {status}"),
        }
    )
    return words
