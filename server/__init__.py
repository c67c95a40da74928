"""Visage server: Flask app, web UI, REST API, MQTT ingest, background jobs; never imports `edge`.

app.py        create_app(): the application factory      wsgi.py    `app` for gunicorn
config.py     settings: defaults < VISAGE_CONFIG file < DATABASE_URL / VISAGE_* env < caller
db/           typed models, per-request sessions, UTC column types, Alembic migrations
auth/         accounts, argon2id passwords, API tokens, rate limiting, CSRF, role checks, sign-in pages
api/          JSON API at /api/v1 with its OpenAPI document (how to add an endpoint: api/registry.py)
web/          home page, account list, /healthz
audit.py      audit trail entries          errors.py   JSON or HTML errors    headers.py  CSP etc.
templates/, static/   server-rendered pages and their stylesheet (no CDN)
"""

import sys

if sys.version_info < (3, 11):  # pragma: no cover - the device profile's Python never imports the server
    raise ImportError(
        "The Visage server needs Python 3.11 or newer; Python 3.10 (JetPack 6) runs only the device "
        "profile (edge/, shared/: pip install '.[edge]')."
    )
