"""Commands from the server (`visage/v1/devices/{id}/commands`): validate, execute, acknowledge.

A command arrives on paho's network thread. The executor checks it against the contract
(`shared.messages.check_command`: known name, valid arguments), refuses an expired or already seen
one, runs the handler the agent registered for it and records a `CommandAck` (ok, or refused with
the reason). Nothing a server sends can stop the agent: a handler's exception becomes a refused
ack. The latest `MAX_ACKS` acks ride along in every telemetry message (QoS 0, so a lost one is
repeated by the next), and `on_ack` lets the publisher send telemetry at once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from shared.messages import MAX_ACKS, Command, CommandAck, MessageError, check_command

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], str]  # returns a short detail for the ack
SEEN_LIMIT = 1000  # command ids remembered for de-duplication (QoS 1 may deliver twice)


class CommandRefused(Exception):
    """A handler declines a valid command (it does not apply to this device now); the text is why."""


class CommandExecutor:
    """Runs the handlers registered per command name; thread-safe; keeps the latest acks."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        on_ack: Callable[[CommandAck], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.handlers = dict(handlers)
        self.on_ack = on_ack
        self.clock = clock
        self._acks: deque[CommandAck] = deque(maxlen=MAX_ACKS)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def acks(self) -> tuple[CommandAck, ...]:
        with self._lock:
            return tuple(self._acks)

    def __call__(self, command: Command) -> CommandAck | None:
        """Execute `command`; None for a duplicate delivery (already acknowledged)."""
        with self._lock:
            if command.command_id in self._seen:
                return None
            self._seen[command.command_id] = None
            while len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        ok, detail = self._execute(command)
        ack = CommandAck(command.command_id, command.name, ok, detail[:200], self.clock())
        (log.info if ok else log.warning)(
            "command %s %s: %s (%s)", command.command_id, command.name, "done" if ok else "refused", detail
        )
        with self._lock:
            self._acks.append(ack)
        if self.on_ack is not None:
            self.on_ack(ack)
        return ack

    def _execute(self, command: Command) -> tuple[bool, str]:
        if command.expires_at is not None and command.expires_at < self.clock():
            return False, f"expired: expired at {command.expires_at.isoformat()}"
        try:
            args = check_command(command.name, command.args)
        except MessageError as exc:
            return False, f"{exc.reason}: {exc}"
        handler = self.handlers.get(command.name)
        if handler is None:
            return False, f"unsupported: this device does not implement '{command.name}'"
        try:
            return True, handler(args) or "done"
        except CommandRefused as exc:
            return False, f"refused: {exc}"
        except Exception as exc:  # the agent keeps running whatever a handler does
            log.exception("command %s failed", command.name)
            return False, f"failed: {exc.__class__.__name__}: {exc}"


def agent_handlers(agent: Any) -> dict[str, Handler]:
    """The commands an `edge.agent.EdgeAgent` executes (its publisher, config and capture loop)."""

    def resync_gallery(_args: Mapping[str, Any]) -> str:
        if agent.publisher is None:
            raise CommandRefused("no MQTT link")
        agent.publisher.resync_gallery()
        return f"gallery topic subscribed again (holding version {agent.gallery.version()})"

    def set_crops(args: Mapping[str, Any]) -> str:
        agent.config.crops = str(args["mode"])
        return f"crops {agent.config.crops}"

    def set_thumbnails(args: Mapping[str, Any]) -> str:
        # The older switch: on = every track's crop, off = unknown faces' only (see shared.messages).
        agent.config.crops = "all" if args["enabled"] else "unknown"
        return f"thumbnails {'on' if args['enabled'] else 'off'} (crops {agent.config.crops})"

    def set_telemetry_interval(args: Mapping[str, Any]) -> str:
        if agent.publisher is None:
            raise CommandRefused("no MQTT link")
        agent.publisher.set_telemetry_interval(float(args["seconds"]))
        return f"telemetry every {float(args['seconds']):g} s"

    def restart_capture(_args: Mapping[str, Any]) -> str:
        if not agent.restart_capture():
            raise CommandRefused("the source is a video file, not a camera or stream")
        return "capture reopening"

    return {
        "resync_gallery": resync_gallery,
        "set_crops": set_crops,
        "set_thumbnails": set_thumbnails,
        "set_telemetry_interval": set_telemetry_interval,
        "restart_capture": restart_capture,
    }
