"""What the device pages' scripts write (static/devices.js, device_charts.js), in the reader's
language, for templates/page_text.html; the templates use the same words (command statuses)."""

from __future__ import annotations

from flask_babel import gettext


def page_words() -> dict[str, str]:
    return {
        "online": gettext("online"),
        "offline": gettext("offline"),
        "never": gettext("never"),
        "none yet": gettext("none yet"),
        "not reported yet": gettext("not reported yet"),
        "crops:unknown": gettext("unknown faces only"),
        "crops:all": gettext("every face (recognised students too)"),
        "crops:off": gettext("none"),
        "{value} faces/s": gettext("{value} faces/s"),
        "backlog over 80 %": gettext("backlog over 80 %"),
        "clock skew": gettext("clock skew"),
        "ok": gettext("ok"),
        "Updated {time}.": gettext("Updated {time}."),
        "time ({zone})": gettext("time ({zone})"),
        "command:pending": gettext("pending"),
        "command:sent": gettext("sent"),
        "command:done": gettext("done"),
        "command:refused": gettext("refused"),
        "command:expired": gettext("expired"),
        "Not refreshed ({reason}); retrying.": gettext("Not refreshed ({reason}); retrying."),
        "you are signed out: reload the page to sign in again": gettext(
            "you are signed out: reload the page to sign in again"
        ),
        "the server answered {status}": gettext("the server answered {status}"),
    }
