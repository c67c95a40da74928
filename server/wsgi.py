"""WSGI entry point for production servers: `gunicorn 'server.wsgi:app'`.

Settings come from the environment (see server.config); run `visage server init-db` first.
"""

from server.app import create_app

app = create_app()
