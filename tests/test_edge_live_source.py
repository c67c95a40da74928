"""A live camera stream, not a file: an HTTP MJPEG server (what many IP cameras serve) on loopback.

The server streams real video frames over real HTTP to OpenCV's FFmpeg reader. It can drop every
connection (a camera rebooting, a network blip), and it counts the connections it accepted, so the
tests see the capture reconnect by itself and the `restart_capture` command reopen the stream.
"""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import cv2
import pytest

from edge.agent import EdgeAgent
from edge.capture import FrameSource
from edge.config import EdgeConfig
from shared.messages import Command
from tests.conftest import data_path, wait_until

pytestmark = pytest.mark.device_profile

FRAME_GAP_S = 0.04  # 25 frames/s, like a camera


class MjpegCamera:
    """`multipart/x-mixed-replace` JPEG stream of real frames; `drop()` cuts every open connection."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.connections = 0
        self._generation = 0
        self._lock = threading.Lock()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with camera._lock:
                    camera.connections += 1
                    generation = camera._generation
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while generation == camera._generation:
                        jpeg = camera.frames[index % len(camera.frames)]
                        index += 1
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpeg)).encode()
                            + b"\r\n\r\n"
                            + jpeg
                            + b"\r\n"
                        )
                        time.sleep(FRAME_GAP_S)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the reader went away

            def log_message(self, *_args: object) -> None:
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def drop(self) -> None:
        with self._lock:
            self._generation += 1

    def __enter__(self) -> MjpegCamera:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.drop()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    capture = cv2.VideoCapture(
        str(data_path("face_recognition_examples", "examples", "short_hamilton_clip.mp4"))
    )
    frames = []
    while len(frames) < 40:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", frame)[1].tobytes())
    capture.release()
    assert len(frames) == 40
    with MjpegCamera(frames) as served:
        yield served


def test_live_stream_frames_are_stamped_now_and_survive_a_dropped_connection(camera):
    source = FrameSource(camera.url, reconnect_min_s=0.1, reconnect_max_s=0.5)
    assert source.live
    frames = source.frames()
    try:
        before = datetime.now(timezone.utc)
        first = [next(frames) for _ in range(5)]
        assert all(frame.shape == (360, 640, 3) for frame, _ in first)
        stamps = [moment for _, moment in first]
        # Live frames carry the wall-clock time they were grabbed, not a position in a file.
        assert before - timedelta(seconds=1) <= stamps[0] and stamps == sorted(stamps)
        assert stamps[-1] <= datetime.now(timezone.utc)
        camera.drop()  # the camera reboots: the stream ends under the reader
        assert wait_until(lambda: source.reconnects >= 1, 20)
        assert wait_until(lambda: camera.connections >= 2, 20)
        after_drop = datetime.now(timezone.utc)
        _, moment = next(frames)
        while moment < after_drop:  # a frame grabbed before the drop may still be waiting
            _, moment = next(frames)
        assert moment >= after_drop  # frames flow again on the new connection
    finally:
        source.stop()
        frames.close()


def test_restart_capture_command_reopens_a_live_stream(tmp_path, analyzer, camera):
    config = EdgeConfig(
        device_id="dev-live",
        source=camera.url,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        gallery_path=str(tmp_path / "gallery.json"),
    )
    agent = EdgeAgent(config, analyzer=analyzer, mqtt=False)
    processed: list[datetime] = []  # capture times of the frames the real `process` handled
    process = agent.process

    def observed(frame, captured_at, stats):
        process(frame, captured_at, stats)
        processed.append(captured_at)

    agent.process = observed  # type: ignore[method-assign]
    result: dict[str, object] = {}
    runner = threading.Thread(target=lambda: result.update(stats=agent.run(max_frames=40)), daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: len(processed) >= 3, timeout=60)
        assert camera.connections == 1
        ack = agent.commands(Command("dev-live", "c-restart-1", "restart_capture"))
        assert ack is not None and ack.ok and ack.detail == "capture reopening"
        # The agent closed the stream and opened a new one, and keeps processing its frames.
        assert wait_until(lambda: camera.connections == 2, 20)
        reopened = datetime.now(timezone.utc)
        assert wait_until(lambda: sum(moment > reopened for moment in processed) >= 3, timeout=60)
        assert agent.commands.acks()[-1].command_id == "c-restart-1"
        runner.join(120)
        assert not runner.is_alive()
        stats = result["stats"]
        assert stats.frames == 40 and stats.faces > 0  # type: ignore[attr-defined]
    finally:
        if agent._capture is not None:
            agent._capture.stop()
        runner.join(10)


def test_a_camera_that_never_opens_is_reported_not_fatal(tmp_path, analyzer):
    """No camera answers: the agent keeps retrying (it must not exit: the camera may come back), and
    says why in its telemetry, with the URL's password masked."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = EdgeConfig(
        device_id="dev-nocam",
        source=f"http://viewer:s3cret@127.0.0.1:{port}/stream.mjpg",
        outbox_path=str(tmp_path / "outbox.sqlite"),
        gallery_path=str(tmp_path / "gallery.json"),
    )
    agent = EdgeAgent(config, analyzer=analyzer, mqtt=False)
    assert agent.telemetry_report().capture_error is None
    runner = threading.Thread(target=agent.run, daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: agent.telemetry_report().capture_error is not None, timeout=30)
        problem = agent.telemetry_report().capture_error
        assert problem.startswith(f"cannot open the camera http://viewer:***@127.0.0.1:{port}/stream.mjpg")
        assert "s3cret" not in problem
        assert runner.is_alive()  # still retrying, not exited
    finally:
        if agent._capture is not None:
            agent._capture.stop()
        runner.join(40)
    assert not runner.is_alive()


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("rtsp://admin:pa:ss@cam.local/s1", "rtsp://admin:***@cam.local/s1"),
        ("rtsp://cam.local/s1", "rtsp://cam.local/s1"),
        ("rtsp://admin@cam.local/s1", "rtsp://admin@cam.local/s1"),
        ("0", "0"),
    ],
)
def test_sources_are_shown_without_passwords(source, shown):
    from edge.capture import redacted

    assert redacted(source) == shown
