"""Which exceptions are the user's to fix, and the sentence to show for them."""

from __future__ import annotations

from shared.bundle import BundleError
from shared.export.build import ExportError
from shared.media import MediaError
from shared.model_registry import ModelError
from shared.samples import SampleError
from simulate.errors import SimulationError


class CommandError(Exception):
    """Input a user must fix, raised by a subcommand; printed as one sentence, exit code 2."""


USER_ERRORS = (CommandError, MediaError, ModelError, ExportError, SampleError, SimulationError, BundleError)


def user_message(exc: BaseException) -> str | None:
    """The one-sentence message for a user error, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return None
