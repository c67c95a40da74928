"""What the simulator needs from the edge: a simulated capture clock, resuming a video, and an
outbox ledger that still lists an event after the broker acknowledged (and the outbox deleted) it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from edge.capture import CaptureError, FrameSource
from edge.outbox import Outbox
from shared.messages import SightingEvent

pytestmark = pytest.mark.device_profile

START = datetime(2026, 3, 2, 8, 57, tzinfo=timezone.utc)


@pytest.fixture
def video(tmp_path):
    """12 frames whose pixel value is their index, at a container rate of 10 fps."""
    path = tmp_path / "clock.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for index in range(12):
        writer.write(np.full((48, 64, 3), index * 20, np.uint8))
    writer.release()
    return path


def test_frames_are_stamped_with_the_simulated_clock_and_resume_where_asked(video):
    frames = list(FrameSource(str(video), start_time=START, frame_interval_s=10.0).frames())
    assert [t for _, t in frames] == [START + timedelta(seconds=10 * i) for i in range(12)]
    container = list(FrameSource(str(video), start_time=START).frames())  # no clock: 1 / fps
    assert container[5][1] == START + timedelta(seconds=0.5)

    resumed = list(FrameSource(str(video), start_time=START, frame_interval_s=10.0, start_frame=7).frames())
    assert [t for _, t in resumed] == [START + timedelta(seconds=10 * i) for i in range(7, 12)]
    assert abs(int(resumed[0][0].mean()) - 7 * 20) <= 3  # really the 8th frame (MJPG rounding)
    with pytest.raises(CaptureError, match="positive"):
        FrameSource(str(video), frame_interval_s=0)


def event(n: int) -> SightingEvent:
    return SightingEvent(f"event-{n:04d}", n, START + timedelta(seconds=n), 0.9, student_id=n % 3 or None)


def test_the_ledger_keeps_acknowledged_ids_and_survives_reopening(tmp_path):
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, ledger=True)
    assert outbox.add([event(n) for n in range(5)]) == 5
    assert outbox.add([event(0)]) == 0  # a known id is neither queued nor logged twice
    batch_id, sent = outbox.next_batch(max_events=3)
    assert len(sent) == 3
    assert outbox.ack(batch_id) == 3 and outbox.depth() == 2
    assert outbox.ledger_ids() == {f"event-{n:04d}" for n in range(5)}
    outbox.close()

    reopened = Outbox(path, ledger=True)  # as after a SIGKILL and a restart
    reopened.add([event(9)])
    assert len(reopened.ledger_ids()) == 6 and reopened.depth() == 3
    reopened.close()
    plain = Outbox(tmp_path / "plain.sqlite")
    plain.add([event(1)])
    assert plain.ledger_ids() == set()  # off by default: a real device keeps no history
    plain.close()
