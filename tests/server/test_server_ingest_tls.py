"""Ingest over TLS with its own account (both databases), on a private Mosquitto with the shipped
auth/ACL and a TLS listener (tests/test_mqtt_tls.py makes the certificates): a device's sightings
arrive in the database; a wrong password or an untrusted broker certificate stops the worker at
start with one sentence naming the cause."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from edge.mqtt import DevicePublisher
from edge.outbox import Outbox
from server.db.models import Device, Sighting
from server.ingest import IngestWorker
from shared.mqtt_connect import BrokerLogin
from tests.test_mosquitto_config import ACCOUNTS
from tests.test_mqtt_tls import TlsBroker, events, wait_for


@pytest.fixture
def broker(tmp_path) -> Iterator[TlsBroker]:
    tls = TlsBroker(tmp_path)
    tls.start()
    yield tls
    tls.stop()


def ingest_login(broker: TlsBroker, **changes) -> BrokerLogin:
    values = {"username": "visage-ingest", "password": ACCOUNTS["visage-ingest"], "tls": True}
    return BrokerLogin(**{**values, "ca_certs": str(broker.ca), **changes})


def worker(app, broker: TlsBroker, **changes) -> IngestWorker:
    return IngestWorker(
        app, f"tls-{secrets.token_hex(3)}", "127.0.0.1", broker.port, login=ingest_login(broker, **changes)
    )


def test_sightings_travel_over_tls_into_the_database(app, db, broker, tmp_path):
    db.add(Device(device_id="dev-a", name="Front"))
    db.commit()
    ingest = worker(app, broker)
    ingest.start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sent = events(12)
    outbox.add(sent)
    publisher = DevicePublisher("dev-a", outbox, broker.settings()).start()
    try:
        wait_for(lambda: ingest.stats["inserted"] >= 12)
        db.rollback()
        stored = set(db.scalars(select(Sighting.event_id)))
        assert stored == {e.event_id for e in sent}
        wait_for(lambda: outbox.depth() == 0)
    finally:
        publisher.stop()
        outbox.close()
        ingest.stop()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"password": "wrong"}, "refused user 'visage-ingest'"), ({"ca_certs": "rogue"}, "is not trusted by")],
    ids=["wrong-password", "wrong-ca"],
)
def test_ingest_refused_at_start_with_the_reason(app, db, broker, changes, expected):
    if changes.get("ca_certs") == "rogue":
        changes = {"ca_certs": str(broker.rogue_ca)}
    ingest = worker(app, broker, **changes)
    with pytest.raises(ConnectionError) as refused:
        ingest.start(timeout=10)
    assert expected in str(refused.value), refused.value
    assert db.scalar(select(func.count()).select_from(Sighting)) == 0


def test_cli_ingest_refused_login_is_one_sentence_and_exit_code_2(server_env, broker, tmp_path, capsys):
    from visage.cli import main

    secret = tmp_path / "password"
    secret.write_text("not-the-password\n")
    code = main(
        [
            "server", "ingest", "--worker-id", f"tls-{secrets.token_hex(3)}",
            "--broker-port", str(broker.port), "--broker-tls", "--broker-ca", str(broker.ca),
            "--broker-username", "visage-ingest", "--broker-password-file", str(secret),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]  # (log lines come before it)
    assert last.startswith("visage: ") and "refused user 'visage-ingest'" in last, err
    missing = main(["server", "ingest", "--worker-id", "x", "--broker-ca", str(tmp_path / "nope.crt")])
    assert missing == 2 and "does not exist" in capsys.readouterr().err
