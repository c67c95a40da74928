"""The clock a page hands its scripts (templates/page_text.html, static/page_text.js): the request's
language, the deployment's time zone and the date-time pattern of the `datetime` Jinja filter, so that
what a script writes after a refresh reads exactly as what the server rendered (issue 18)."""

from __future__ import annotations

from babel import Locale
from flask import Flask, current_app

from server.i18n import DATE_SKELETONS, TIME_SKELETONS, current_language, zone_name


def page_clock() -> dict[str, str]:
    """{"lang", "zone", "datetime"}: the CLDR pattern is the long date then the time, as
    `server.i18n.format_datetime` joins them."""
    lang = current_language()
    skeletons = Locale.parse(lang).datetime_skeletons
    pattern = f"{skeletons[DATE_SKELETONS['long']].pattern} {skeletons[TIME_SKELETONS['minutes']].pattern}"
    return {"lang": lang, "zone": zone_name(current_app.config), "datetime": pattern}


def init_app(app: Flask) -> None:
    app.jinja_env.globals["page_clock"] = page_clock
