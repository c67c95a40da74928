"""Visage server: Flask app, web UI, REST API, MQTT ingest, background jobs; never imports `edge`.

app.py        create_app(): the application factory      wsgi.py  `app` for gunicorn
extensions.py objects built once per app (face models, storage), on first use
config.py     where settings come from: defaults < VISAGE_CONFIG file < DATABASE_URL / VISAGE_* env < caller
settings/     one typed settings model per area, validated at start (docs/configuration.md)
errors.py     the ServiceError family, answered by one handler: JSON for the API, the error page for the web
i18n.py       language, time zone, date formats (Flask-Babel); translations/: the catalogues (docs/i18n.md)
page_text.py  the words and clock a page hands its scripts
db/           typed models, per-request sessions, UTC column types, Alembic migrations
auth/         accounts, argon2id passwords, API tokens, rate limiting, CSRF, role checks, sign-in pages
api/          JSON API at /api/v1: declared routes (api/endpoints.py: how to add one), the pydantic layer
              (api/shapes.py), the generated OpenAPI document; each area's schemas.py holds its shapes
school/       courses, students, rooms, the schedule and its lecture-assignment rule (lecture_at)
enrolment/    students' face photos and course galleries
faces/        the server's one face analyzer, embeddings, crops   uploads/  request files, zips, size limits
attendance/   the engine, review, unknown faces, pages and API     devices/  device health, commands, tokens
ingest/       MQTT -> database, galleries and commands -> devices  jobs/     background jobs (threads or RQ)
album/        photos, faces, people, search by key photo           deepfake/ checks, jobs, the timeline
faces_api/    POST /api/v1/faces/compare                           storage/  local folder or S3
web/          home page, dashboards, account list                  demo/     seeds of `visage demo`
audit.py      audit trail entries    retention.py  deletion of old biometric data   reembed.py  new embedder
broker.py     the embedded MQTT broker     health.py, metrics.py, logs.py  probes, Prometheus, logs
headers.py    CSP etc.     routing.py  bounded integer routes     bodyread.py  a read deadline on bodies
templates/, static/   server-rendered pages, their scripts and stylesheets (no CDN)

The map of the whole project, with the data flow of each job: docs/architecture.md.
"""

import sys

if sys.version_info < (3, 11):  # pragma: no cover - the device profile's Python never imports the server
    raise ImportError(
        "The Visage server needs Python 3.11 or newer; Python 3.10 (JetPack 6) runs only the device "
        "profile (edge/, shared/: pip install '.[edge]')."
    )
