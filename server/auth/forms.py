"""Web forms of the auth pages (Flask-WTF: each carries and checks the session's CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from server.i18n import LANGUAGES


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """No fields but the CSRF token: signing out is a POST so that another site cannot do it for you."""


class PasswordForm(FlaskForm):
    """Change one's own password: the current one proves it is the account holder at the keyboard."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[DataRequired(), Length(max=1024)])


# Expiry choices of a new API token ("" = never): a short-lived token for a one-off script, a year
# for a scheduled job; the API and the CLI accept any number of days from 1 to 3650.
TOKEN_EXPIRY_CHOICES = [
    SelectChoice(value, label)
    for value, label in (
        ("30", lazy_gettext("in 30 days")),
        ("90", lazy_gettext("in 90 days")),
        ("365", lazy_gettext("in a year")),
        ("", lazy_gettext("never")),
    )
]


class TokenForm(FlaskForm):
    """A new API token: what it is for, and when it expires."""

    name = StringField("What is it for?", validators=[DataRequired(), Length(max=100)])
    expires = SelectField("Expires", choices=TOKEN_EXPIRY_CHOICES, default="90")


class LanguageForm(FlaskForm):
    """The pages' language: a catalogue, or "" to follow the browser (each language names itself)."""

    language = SelectField(
        lazy_gettext("Language"),
        choices=[
            SelectChoice("", lazy_gettext("Follow the browser")),
            *(SelectChoice(code, name) for code, name in LANGUAGES.items()),
        ],
        default="",
    )


class RevokeTokenForm(FlaskForm):
    """No fields but the CSRF token: revoking is a POST that another site cannot make for you."""
