"""Bad images get a clear MediaError sentence; odd but valid formats decode to 8-bit RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from shared import media
from shared.media import MediaError, decode_image, read_image
from tests.conftest import data_path

pytestmark = pytest.mark.device_profile


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "nope.jpg")


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        read_image(path)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(MediaError, match="not a regular file"):
        read_image(tmp_path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n" * 20)
    with pytest.raises(MediaError, match="not an image"):
        read_image(path)


def test_truncated_jpeg():
    real = data_path("face_recognition_examples", "examples", "obama.jpg").read_bytes()
    with pytest.raises(MediaError, match="corrupt or truncated"):
        decode_image(real[: len(real) // 2], name="half.jpg")


def test_huge_dimensions_refused_before_decoding():
    # A valid PNG header claiming 100000 x 100000 pixels, with a tiny compressed body.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(MediaError, match=r"pixel limit|too large"):
        decode_image(png, name="bomb.png")


def test_byte_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", 10)
    path = tmp_path / "big.png"
    path.write_bytes(_encode(Image.new("RGB", (8, 8)), "PNG"))
    with pytest.raises(MediaError, match="byte limit"):
        read_image(path)


def test_grayscale_becomes_rgb():
    gray = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    array = decode_image(_encode(gray, "PNG"))
    assert array.shape == (8, 8, 3) and array.dtype == np.uint8
    assert (array[..., 0] == array[..., 1]).all() and array[0, 5, 0] == 5


def test_rgba_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    array = decode_image(_encode(rgba, "PNG"))
    assert array.shape == (4, 4, 3)
    assert tuple(array[0, 0]) == (255, 255, 255)


def test_real_rgba_png_decodes():
    array = read_image(data_path("face_recognition_examples", "tests", "test_images", "32bit.png"))
    assert array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8


def test_16bit_png_scaled_to_8bit():
    values = np.full((4, 4), 65535, dtype=np.uint16)
    values[0, 0] = 0
    image = Image.fromarray(values)
    array = decode_image(_encode(image, "PNG"))
    assert array.dtype == np.uint8 and array[1, 1, 0] == 255 and array[0, 0, 0] == 0


def test_exif_orientation_respected():
    # 20 wide x 10 high, stored with "rotate 90" (orientation 6): the decoded image is 10 x 20.
    image = Image.new("RGB", (20, 10), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    array = decode_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert array.shape[:2] == (20, 10)


def test_unsupported_format_refused():
    image = Image.new("RGB", (8, 8))
    with pytest.raises(MediaError, match="not accepted"):
        decode_image(_encode(image, "ICO"), name="icon.ico")
