"""The device's command executor: valid commands run, everything else is refused with a reason and
the executor keeps going; acknowledgements travel in telemetry and survive the contract's round trip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge.commands import CommandExecutor, CommandRefused, agent_handlers
from shared.messages import MAX_ACKS, Command, CommandAck, MessageError, Telemetry, check_command

pytestmark = pytest.mark.device_profile

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Recorder:
    """Real handlers' effects, observable: each appends what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def handlers(self) -> dict:
        def record(name):
            def handler(args):
                self.calls.append((name, dict(args)))
                return f"{name} ok"

            return handler

        def broken(args):
            raise OSError("camera unplugged")

        def declined(args):
            raise CommandRefused("not now")

        return {
            "set_thumbnails": record("set_thumbnails"),
            "set_telemetry_interval": record("set_telemetry_interval"),
            "resync_gallery": broken,
            "restart_capture": declined,
        }


def make(recorder: Recorder, acks: list | None = None) -> CommandExecutor:
    return CommandExecutor(
        recorder.handlers(), on_ack=(acks.append if acks is not None else None), clock=lambda: NOW
    )


def test_valid_command_runs_with_checked_args_and_is_acknowledged():
    recorder, sent = Recorder(), []
    executor = make(recorder, sent)
    ack = executor(Command("dev-a", "c-1", "set_telemetry_interval", {"seconds": 5}))
    assert recorder.calls == [("set_telemetry_interval", {"seconds": 5.0})]
    assert ack == CommandAck("c-1", "set_telemetry_interval", True, "set_telemetry_interval ok", NOW)
    assert sent == [ack] and executor.acks() == (ack,)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (Command("dev-a", "c-2", "self_destruct"), "unknown_command"),
        (Command("dev-a", "c-3", "set_thumbnails", {"enabled": "yes"}), "bad_args"),
        (Command("dev-a", "c-4", "set_thumbnails", {}), "bad_args"),
        (Command("dev-a", "c-5", "set_telemetry_interval", {"seconds": 1e9}), "bad_args"),
        (Command("dev-a", "c-6", "set_thumbnails", {"enabled": True, "x": 1}), "bad_args"),
        (Command("dev-a", "c-7", "set_thumbnails", {"enabled": True}, NOW - timedelta(seconds=1)), "expired"),
        (Command("dev-a", "c-8", "resync_gallery"), "failed: OSError: camera unplugged"),
        (Command("dev-a", "c-9", "restart_capture"), "refused: not now"),
    ],
)
def test_invalid_expired_or_failing_commands_are_refused_and_the_executor_goes_on(command, reason):
    recorder = Recorder()
    executor = make(recorder)
    ack = executor(command)
    assert ack is not None and ack.ok is False and ack.detail.startswith(reason), ack
    assert recorder.calls == []
    follow_up = executor(Command("dev-a", "c-10", "set_thumbnails", {"enabled": False}))
    assert follow_up.ok and recorder.calls == [("set_thumbnails", {"enabled": False})]


def test_duplicate_delivery_runs_once_and_acks_are_bounded():
    recorder = Recorder()
    executor = make(recorder)
    command = Command("dev-a", "c-1", "set_thumbnails", {"enabled": True})
    assert executor(command) is not None
    assert executor(command) is None  # QoS 1 redelivery
    assert len(recorder.calls) == 1
    for n in range(MAX_ACKS + 5):
        executor(Command("dev-a", f"c-x{n}", "set_thumbnails", {"enabled": True}))
    acks = executor.acks()
    assert len(acks) == MAX_ACKS and acks[-1].command_id == f"c-x{MAX_ACKS + 4}"


def test_acks_round_trip_in_telemetry_and_bad_acks_are_refused():
    acks = (CommandAck("c-1", "set_thumbnails", True, "thumbnails on", NOW),)
    report = Telemetry("dev-a", NOW, 10.0, 2.0, 0, 100, acks=acks)
    assert Telemetry.decode(report.encode(), "dev-a").acks == acks
    assert b'"acks"' not in Telemetry("dev-a", NOW, 10.0, 2.0, 0, 100).encode()  # old readers see nothing new
    too_many = Telemetry("dev-a", NOW, 10.0, 2.0, 0, 100, acks=acks * (MAX_ACKS + 1)).encode()
    with pytest.raises(MessageError) as refused:
        Telemetry.decode(too_many, "dev-a")
    assert refused.value.reason == "bad_schema"
    forged = report.encode().replace(b'"ok":true', b'"ok":"yes"')
    with pytest.raises(MessageError):
        Telemetry.decode(forged, "dev-a")


def test_command_expiry_and_ids_survive_the_contract():
    command = Command("dev-a", "c-1", "restart_capture", {}, NOW + timedelta(minutes=10))
    assert Command.decode(command.encode(), "dev-a") == command
    with pytest.raises(MessageError):
        Command.decode(Command("dev-a", "bad id!", "restart_capture").encode(), "dev-a")
    assert check_command("set_telemetry_interval", {"seconds": 30}) == {"seconds": 30.0}
    with pytest.raises(MessageError):
        check_command("set_telemetry_interval", {"seconds": True})  # a boolean is not a number


def test_agent_handlers_change_the_agent(analyzer, tmp_path):
    from edge.agent import EdgeAgent
    from edge.config import EdgeConfig

    config = EdgeConfig(
        device_id="dev-a",
        outbox_path=str(tmp_path / "outbox.sqlite"),
        gallery_path=str(tmp_path / "gallery.json"),
    )
    agent = EdgeAgent(config, analyzer=analyzer, mqtt=False)
    try:
        executor = CommandExecutor(agent_handlers(agent))
        assert executor(Command("dev-a", "c-1", "set_thumbnails", {"enabled": True})).ok
        assert agent.config.crops == "all"  # the older switch maps onto the crop mode
        assert executor(Command("dev-a", "c-4", "set_crops", {"mode": "off"})).ok
        assert agent.config.crops == "off" and agent.telemetry_report().crops == "off"
        no_link = executor(Command("dev-a", "c-2", "set_telemetry_interval", {"seconds": 9}))
        assert not no_link.ok and "no MQTT link" in no_link.detail
        not_live = executor(Command("dev-a", "c-3", "restart_capture"))
        assert not not_live.ok and "not a camera or stream" in not_live.detail
        assert agent.commands.acks() == ()  # the agent's own executor saw none of these
    finally:
        agent.outbox.close()
