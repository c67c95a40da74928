"""Visage server: Flask app, web UI and REST API (ingest and jobs come with later issues).

app.py        create_app(): the application factory      wsgi.py    `app` for gunicorn
config.py     settings: defaults < VISAGE_CONFIG file < DATABASE_URL / VISAGE_* env < caller
db/           typed models, per-request sessions, UTC column types, Alembic migrations
auth/         accounts, argon2id passwords, API tokens, rate limiting, CSRF, role checks, sign-in pages
api/          JSON API at /api/v1 with its OpenAPI document (how to add an endpoint: api/registry.py)
web/          home page, account list, /healthz
audit.py      audit trail entries          errors.py   JSON or HTML errors    headers.py  CSP etc.
templates/, static/   server-rendered pages and their stylesheet (no CDN)
"""
