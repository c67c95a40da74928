"""Prometheus metrics at `/metrics` (prometheus_client's text format).

Two sources, chosen so that several processes (gunicorn workers, ingest workers, job workers)
report one consistent picture:

* HTTP requests (count by endpoint/method/status, latency histogram by endpoint) are counted in
  the web process that served them. Under gunicorn, set `PROMETHEUS_MULTIPROC_DIR` (the shipped
  deploy/gunicorn.conf.py and visage-web.service do): prometheus_client's multiprocess mode then
  sums every worker's counts in any worker's scrape.
* Everything else is read from the database when scraped, because the database is what all the
  processes share: ingest throughput (`visage_ingest_sightings_total`, the sightings table's
  auto-increment high-water mark, so `rate()` works and retention deletes do not make it drop),
  rejected messages by reason over a recent window, the job queue by status, devices online.
  No ingest process has to expose a port of its own.

Access: from the loopback address, or with `METRICS_TOKEN` as the password of HTTP basic auth
(any user name; Prometheus' `basic_auth`). `Authorization: Bearer` is not used because bearer
tokens are API tokens here. A request that came through a proxy (X-Forwarded-For) without
`TRUSTED_PROXIES` set does not count as local: the proxy's own address would be loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.db.session import get_db
from server.db.types import utcnow
from server.settings import current_settings, settings_of

EXTENSION_KEY = "visage.metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
log = logging.getLogger("visage.metrics")

bp = Blueprint("metrics", __name__)


class RequestMetrics:
    """The web process's request counter and latency histogram, on a registry of this app's own
    (tests create many apps in one process; a global registry would refuse the second)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "visage_http_requests",
            "HTTP requests served, by Flask endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "visage_http_request_duration_seconds",
            "Time to serve an HTTP request, by Flask endpoint.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


class DatabaseCollector(Collector):
    """Gauges and counters read from the shared database at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from server.db.models import DeviceHealth, Job, RejectedMessage, Sighting
        from server.db.models.school import Device

        window = settings_of(self.app).server.metrics_window_seconds
        up = GaugeMetricFamily("visage_database_up", "1 when the database answered this scrape's queries.")
        try:
            with get_db(self.app).session() as session:
                sightings = session.scalar(select(func.max(Sighting.id))) or 0
                rejected_total = session.scalar(select(func.max(RejectedMessage.id))) or 0
                cutoff = utcnow() - timedelta(seconds=window)
                rejected = session.execute(
                    select(RejectedMessage.reason, func.count())
                    .where(RejectedMessage.received_at >= cutoff)
                    .group_by(RejectedMessage.reason)
                ).all()
                jobs = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
                oldest_queued = session.scalar(select(func.min(Job.created_at)).where(Job.status == "queued"))
                devices = session.execute(
                    select(Device.device_id, DeviceHealth.status).outerjoin(
                        DeviceHealth, DeviceHealth.device_id == Device.id
                    )
                ).all()
        except Exception:
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        total = CounterMetricFamily(
            "visage_ingest_sightings",
            "Sightings stored by ingest since the database was created (auto-increment high-water mark).",
        )
        total.add_metric([], sightings)
        yield total
        refused = CounterMetricFamily(
            "visage_ingest_rejected_messages", "MQTT messages ingest refused since the database was created."
        )
        refused.add_metric([], rejected_total)
        yield refused
        by_reason = GaugeMetricFamily(
            "visage_ingest_rejected_recent",
            f"MQTT messages ingest refused in the last {window} s, by reason.",
            labels=["reason"],
        )
        for reason, count in rejected:
            by_reason.add_metric([reason], count)
        yield by_reason

        queue = GaugeMetricFamily("visage_jobs", "Background jobs by status.", labels=["status"])
        counts = {str(getattr(status, "value", status)): count for status, count in jobs}
        for status in ("queued", "running", "succeeded", "failed", "cancelled"):
            queue.add_metric([status], counts.get(status, 0))
        yield queue
        age = GaugeMetricFamily("visage_jobs_oldest_queued_age_seconds", "Wait of the oldest queued job.")
        age.add_metric([], (utcnow() - oldest_queued).total_seconds() if oldest_queued else 0.0)
        yield age

        online = GaugeMetricFamily(
            "visage_device_online", "1 when the device's status is online.", labels=["device"]
        )
        for device_id, status in devices:
            online.add_metric([device_id], 1 if status == "online" else 0)
        yield online
        summary = GaugeMetricFamily("visage_devices", "Registered devices, by state.", labels=["state"])
        summary.add_metric(["online"], sum(1 for _, status in devices if status == "online"))
        summary.add_metric(["total"], len(devices))
        yield summary


def _is_local() -> bool:
    if request.headers.get("X-Forwarded-For") and not current_settings().server.trusted_proxies:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _token_ok() -> bool:
    token = current_settings().server.metrics_token
    auth = request.authorization
    if not token or auth is None or auth.type != "basic" or auth.password is None:
        return False
    return hmac.compare_digest(auth.password.encode(), str(token).encode())


@bp.get("/metrics")
def metrics() -> Response:
    settings = current_settings().server
    if not (_token_ok() or (_is_local() and settings.metrics_local)):
        response = jsonify(error="metrics are only served to localhost or with the metrics token")
        response.status_code = 403 if not settings.metrics_token else 401
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="visage-metrics"'
        return response
    state: RequestMetrics = current_app.extensions[EXTENSION_KEY]
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(state.registry))
    registry.register(DatabaseCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _Forward(Collector):
    """This process's request metrics, added to the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator:
        yield from self.source.collect()


def init_app(app: Flask) -> None:
    state = RequestMetrics()
    app.extensions[EXTENSION_KEY] = state

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            endpoint = request.endpoint or "none"
            state.requests.labels(endpoint, request.method, str(response.status_code)).inc()
            state.latency.labels(endpoint, request.method).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)
