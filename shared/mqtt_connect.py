"""How both MQTT sides (edge publisher, ingest worker) log in and encrypt, and what they say when the
broker will not have them.

TLS always verifies the broker's certificate against `ca_certs` (or the system's CAs when None) and
its host name: a device that silently accepted any certificate would hand its password to whoever
answers. A failed connection is turned into one sentence an operator can act on: a certificate the
CA did not sign, a refused login, or a broker that is not listening are three different fixes.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class BrokerLogin:
    """Credentials and TLS files for one client; all optional (a local plain listener needs none)."""

    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None


def apply_login(client: mqtt.Client, login: BrokerLogin) -> None:
    if login.username is not None:
        client.username_pw_set(login.username, login.password)
    if login.tls or login.ca_certs:
        client.tls_set(
            ca_certs=login.ca_certs,
            certfile=login.certfile,
            keyfile=login.keyfile,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )


class RecordingClient(mqtt.Client):
    """paho's client, keeping the exception of the last failed (re)connect in `connect_error`.

    paho's background loop swallows it (and retries), so without this a wrong CA looks exactly like
    a broker that is down."""

    connect_error: BaseException | None = None

    def reconnect(self) -> mqtt.MQTTErrorCode:
        try:
            result = super().reconnect()
        except OSError as exc:
            self.connect_error = exc
            raise
        self.connect_error = None
        return result


def describe_connect_error(exc: BaseException, host: str, port: int, login: BrokerLogin) -> str:
    """One sentence for a connection that failed before MQTT's CONNACK."""
    where = f"the MQTT broker at {host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = login.ca_certs or "the system's CA certificates"
        return f"TLS: the certificate of {where} is not trusted by {ca} ({exc.verify_message})."
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed ({exc.reason or exc}); is that port a TLS listener?"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection: nothing listens there (is the broker running?)."
    return f"cannot reach {where}: {exc}."


def describe_refusal(reason_code: object, host: str, port: int, login: BrokerLogin) -> str:
    """One sentence for a CONNACK refusal (bad credentials, not authorised, ...)."""
    who = f"user '{login.username}'" if login.username else "an anonymous client"
    return f"the MQTT broker at {host}:{port} refused {who}: {reason_code}."
