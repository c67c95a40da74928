"""Deployment smoke test: the shipped pieces together on real services.

A fresh MariaDB database migrated by `visage server init-db`, a private Mosquitto running the
shipped deploy/mosquitto configuration (only listener and file paths replaced, as in
tests/test_mosquitto_config.py), a `visage server ingest` process logged in with its own account,
and gunicorn with deploy/gunicorn.conf.py (two workers, prometheus multiprocess mode). Checked
over MQTT and HTTP: anonymous clients are refused, a device cannot publish as another, a
device's status and a refused message reach the database, and /readyz and /metrics say so.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from shared.messages import Status, topic

pytest.importorskip("paho.mqtt.client")
from test_mosquitto_config import ACCOUNTS, Broker, Client, login

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 90.0  # generous: CI shares two cores among everything

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes started by the test, stopped (and their logs kept) at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.running.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for _name, process in reversed(self.running):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def wait_for(check, what: str, logs) -> object:
    deadline = time.monotonic() + WAIT
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {WAIT} s (last: {last!r})\n{logs()}")


def metrics(base: str) -> dict[tuple[str, tuple], float]:
    status, body = get(f"{base}/metrics")
    assert status == 200, body
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_the_shipped_configuration_runs_end_to_end(mariadb_url, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VISAGE_")},
        "DATABASE_URL": mariadb_url,
        "VISAGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "VISAGE_SECRET_KEY": secrets.token_hex(32),
        "VISAGE_LOG_FORMAT": "json",
        "VISAGE_JOBS_START": "false",
    }
    init = subprocess.run(
        [BIN / "visage", "server", "init-db"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    engine = create_engine(mariadb_url)
    with engine.begin() as connection:
        for device in ("dev-a", "dev-b"):
            connection.execute(
                text("INSERT INTO devices (device_id, name, created_at) VALUES (:d, :d, UTC_TIMESTAMP(6))"),
                {"d": device},
            )

    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker")
    broker.start()
    # A mosquitto that lost its port to another process exits; its "listening" check could then
    # have reached someone else's broker. Make sure ours is the one that is up.
    time.sleep(0.5)
    assert broker.process is not None and broker.process.poll() is None, broker.log.read_text()
    children = Processes(tmp_path)
    try:
        env.update(
            VISAGE_MQTT_HOST="127.0.0.1",
            VISAGE_MQTT_PORT=str(broker.port),
            VISAGE_MQTT_USERNAME="visage-ingest",
            VISAGE_MQTT_PASSWORD=ACCOUNTS["visage-ingest"],
        )
        children.start("ingest", [str(BIN / "visage"), "server", "ingest", "--worker-id", "smoke"], env)
        port = free_port()
        multiproc = tmp_path / "prometheus"
        multiproc.mkdir()
        web_env = {
            **env,
            "VISAGE_WEB_BIND": f"127.0.0.1:{port}",
            "VISAGE_WEB_WORKERS": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        }
        children.start(
            "web", [str(BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "server.wsgi:app"], web_env
        )
        base = f"http://127.0.0.1:{port}"

        def logs() -> str:
            broker_log = broker.log.read_text(errors="replace")[-3000:]
            parts = [f"--- {name}\n{children.log(name)}" for name in ("web", "ingest")]
            return "\n".join([*parts, f"--- broker\n{broker_log}"])

        status, body = wait_for(lambda: get(f"{base}/readyz"), "the web server answering", logs)
        assert status == 200 and json.loads(body)["status"] == "ready", body
        # A device's messages reach only a subscribed ingest: wait for its subscription first.
        wait_for(lambda: "subscribed" in children.log("ingest"), "ingest subscribing", logs)

        # The broker: anonymous refused; a device publishes its own status but not another's.
        anonymous = Client(broker, None, client_id="anon")
        assert anonymous.connect().is_failure
        now = datetime.now(timezone.utc)
        # mosquitto acknowledges a denied QoS 1 publish, drops it and closes the connection.
        forger = login(broker, "dev-a", client_id="dev-a-forger")
        forger.publish(topic("dev-b", "status"), Status("dev-b", "online", now, "forged").encode())
        forger.close()
        device = login(broker, "dev-a")
        device.publish(topic("dev-a", "status"), Status("dev-a", "online", now, "smoke").encode())
        device.publish(topic("dev-a", "sightings"), b"{not json")
        device.close()

        def health() -> dict[str, str]:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT d.device_id, h.status FROM devices d "
                        "JOIN device_health h ON h.device_id = d.id"
                    )
                ).all()
            return dict(rows)

        wait_for(lambda: health().get("dev-a") == "online", "dev-a's status reaching the database", logs)

        def refused() -> int:
            with engine.connect() as connection:
                return connection.scalar(
                    text("SELECT COUNT(*) FROM rejected_messages WHERE device_id = 'dev-a'")
                )

        wait_for(refused, "the malformed message being recorded", logs)
        assert health() == {"dev-a": "online", "dev-b": None}  # the forgery never got past the ACL

        # Metrics over HTTP, summed over both gunicorn workers.
        for _ in range(6):
            assert get(f"{base}/healthz") == (200, '{"status":"ok"}\n')
        samples = metrics(base)
        assert samples[("visage_device_online", (("device", "dev-a"),))] == 1
        assert samples[("visage_device_online", (("device", "dev-b"),))] == 0
        assert sum(v for (name, labels), v in samples.items() if name == "visage_ingest_rejected_recent") >= 1
        healthz = (("endpoint", "health.healthz"), ("method", "GET"), ("status", "200"))
        assert samples[("visage_http_requests_total", healthz)] == 6
        assert len(list(multiproc.glob("*.db"))) >= 2  # more than one worker wrote metrics
        assert '"logger": "visage.requests"' in children.log("web")  # JSON log lines
    finally:
        children.stop()
        broker.stop()
        engine.dispose()
