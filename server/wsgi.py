"""WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py server.wsgi:app`.

Settings come from the environment (see server.config); run `visage server init-db` first.
Log lines go to stderr (JSON with VISAGE_LOG_FORMAT=json). Background jobs run in threads of each
gunicorn worker when JOBS_RUNNER is "thread" and JOBS_START is not false; with --preload they
would not (threads do not survive gunicorn's fork), so the shipped configuration does not preload.
"""

from server import jobs
from server.app import create_app
from server.logs import configure_logging

app = create_app()
configure_logging(app)
jobs.start(app)
