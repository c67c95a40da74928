"""Access checks for views, usable alike on web pages and JSON API endpoints.

Anonymous callers get the login manager's answer (a redirect to the sign-in page on the web,
401 JSON on the API); signed-in callers without the role get 403 (HTML page or JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app
from flask_babel import gettext
from flask_login import current_user

from server.db.enums import Role

View = TypeVar("View", bound=Callable[..., Any])


def role_required(*roles: Role | str) -> Callable[[View], View]:
    """Allow signed-in users holding one of `roles` (administrators hold all); no roles: any signed-in user.

    @bp.get("/courses")
    @role_required(Role.INSTRUCTOR)
    def courses(): ...
    """
    wanted = tuple(Role(role) for role in roles)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if wanted and not current_user.has_role(*wanted):
                names = " or ".join(role.value for role in wanted)
                abort(
                    403,
                    gettext("This needs the %(names)s role, which your account does not have.", names=names),
                )
            return view(*args, **kwargs)

        wrapped.required_roles = wanted  # type: ignore[attr-defined]  (read by the OpenAPI registry)
        return wrapped  # type: ignore[return-value]

    return decorator


login_required = role_required()
"""Any signed-in (or token-authenticated) user."""
