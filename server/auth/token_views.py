"""The API tokens page of one's account (/account/tokens): create a token (shown once, on the answer
to the form, never stored or flashed: a flash would sit in the signed, not encrypted, session
cookie), list one's tokens, revoke one. Every creation and revocation is audited, as the API's and
the CLI's are (`server.auth.tokens.create`)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug import Response

from server.auth import tokens
from server.auth.forms import RevokeTokenForm, TokenForm
from server.auth.views import bp
from server.db import db_session, utcnow
from server.db.models import ApiToken


def render(form: TokenForm, status: int = 200, new_token: str | None = None) -> tuple[str, int]:
    rows = db_session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    ).all()
    page = render_template(
        "auth/tokens.html",
        form=form,
        tokens=rows,
        now=utcnow(),
        new_token=new_token,
    )
    return page, status


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def api_tokens() -> tuple[str, int]:
    form = TokenForm()
    if request.method == "GET":
        return render(form)
    if not form.validate_on_submit():
        return render(form, 400)
    name = (form.name.data or "").strip()
    days = int(form.expires.data) if form.expires.data else None
    user = current_user._get_current_object()
    try:
        _row, token = tokens.create(db_session, user, name, days, actor=user)
    except ValueError as exc:
        message = gettext(str(exc))
        form.name.errors.append(f"{message[:1].upper()}{message[1:]}.")
        return render(form, 400)
    db_session.commit()
    return render(TokenForm(formdata=None), 201, new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_api_token(token_id: int) -> Response:
    RevokeTokenForm().validate_on_submit()  # CSRF was already checked for every POST
    row = db_session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404, gettext("You have no API token with id %(id)s.", id=token_id))
    tokens.revoke_audited(db_session, row, actor=current_user._get_current_object())
    db_session.commit()
    flash(
        gettext(
            "The token '%(name)s' (%(prefix)s…) is revoked: requests with it are refused now.",
            name=row.name,
            prefix=row.prefix,
        ),
        "info",
    )
    return redirect(url_for("auth.api_tokens"))
