"""Shape limits of shared.media (issue 14): a picture with a side under the minimum or one side far
longer than the other is refused from its header, with a sentence, before a pixel is decoded; the
deepfake check applies the same limits to images and to video frames. Camera frames and crops are
decoded without a shape policy."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.deepfake.video import load_media
from shared.media import UPLOAD_SHAPE, MediaError, ShapeLimits, check_shape, decode_image, image_header
from tests.deepfake_media import counter_video

pytestmark = pytest.mark.device_profile


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 90).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "height", "words"),
    [
        (1, 65000, "1x65000 pixels is too small: each side must be at least 32 pixels"),
        (65000, 40, "65000x40 pixels is too elongated: the longer side may be at most 20 times"),
        (31, 31, "31x31 pixels is too small"),
        (40, 801, "40x801 pixels is too elongated"),
    ],
)
def test_extreme_shapes_are_refused_from_the_header(width, height, words):
    data = png(width, height)
    with pytest.raises(MediaError, match=words):
        decode_image(data, name="strip.png", shape=UPLOAD_SHAPE)
    with pytest.raises(MediaError, match=words):
        image_header(data, name="strip.png", shape=UPLOAD_SHAPE)


def test_the_limits_themselves_pass_and_no_policy_means_none():
    for width, height in [(32, 640), (640, 32), (32, 32)]:
        assert decode_image(png(width, height), shape=UPLOAD_SHAPE).shape[:2] == (height, width)
    assert decode_image(png(1, 4000)).shape[:2] == (4000, 1)  # no shape given: decoded as before
    check_shape(10, 100, "x", ShapeLimits(min_side=10, max_aspect=10))
    with pytest.raises(MediaError, match="too elongated"):
        check_shape(10, 101, "x", ShapeLimits(min_side=10, max_aspect=10))


def test_the_deepfake_check_refuses_extreme_images_and_video_frames(tmp_path):
    strip = tmp_path / "strip.png"
    strip.write_bytes(png(2, 3000))
    with pytest.raises(MediaError, match=r"^strip.png: 2x3000 pixels is too small"):
        load_media(strip, 4)
    video = counter_video(tmp_path / "ribbon.mp4", frames=10, fps=10.0, size=(640, 24))
    with pytest.raises(MediaError, match=r"^ribbon.mp4: 640x24 pixels is too small"):
        load_media(video, 4)
    video = counter_video(tmp_path / "banner.mp4", frames=10, fps=10.0, size=(1280, 48))
    with pytest.raises(MediaError, match=r"^banner.mp4: 1280x48 pixels is too elongated"):
        load_media(video, 4)
    fine = counter_video(tmp_path / "fine.mp4", frames=10, fps=10.0, size=(64, 48))
    kind, info, frames = load_media(fine, 2)
    assert kind == "video" and (info.width, info.height) == (64, 48) and len(frames) == 2
