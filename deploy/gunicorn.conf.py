"""gunicorn settings for `gunicorn --config deploy/gunicorn.conf.py server.wsgi:app` (visage-web.service).

Every value can be overridden from the environment (GUNICORN_CMD_ARGS, or the VISAGE_WEB_* names
below) without editing this file.
"""

import multiprocessing
import os

bind = os.environ.get("VISAGE_WEB_BIND", "127.0.0.1:8000")
# Two per core plus one (gunicorn's rule of thumb), capped: each worker holds the face models.
workers = int(os.environ.get("VISAGE_WEB_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
# Threads serve concurrent requests in one worker (uploads waiting on the disk, API polling).
threads = int(os.environ.get("VISAGE_WEB_THREADS", 4))
worker_class = "gthread"
# Uploads of large videos take a while on slow links; the proxy in front buffers them anyway.
# With gthread this restarts a worker whose main loop stalls, not a thread waiting on a body that
# never arrives: the app's own deadline does that (server/bodyread.py, BODY_*_SECONDS).
timeout = int(os.environ.get("VISAGE_WEB_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
# Not preload_app: background-job threads and database pools must start in each worker.
preload_app = False
# Logs to stderr, i.e. the journal; the application's own request log carries the request id.
accesslog = None
errorlog = "-"
# The proxy in front sets X-Forwarded-*; the app trusts them per VISAGE_TRUSTED_PROXIES.
forwarded_allow_ips = "127.0.0.1,::1"


def child_exit(server, worker):
    """prometheus_client multiprocess mode: forget a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
