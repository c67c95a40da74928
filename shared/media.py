"""Safe image decoding: every image that enters Visage passes through here.

Uploads and camera snapshots are untrusted. We read the header first and refuse what is
too large before a single pixel is decoded (decompression bombs), respect EXIF
orientation (phones store photos sideways), and normalise every mode Pillow knows
(grayscale, palette, RGBA, 16-bit, CMYK) to 8-bit RGB, so the rest of the core sees one
kind of array. Failures raise MediaError with a sentence a user can act on.

Uploads also pass a `ShapeLimits`: a picture with a side under `min_side` pixels or one side more
than `max_aspect` times the other (1x65000) holds no face to find, and scaling it to a working size
rounds its short side to zero pixels, which OpenCV answers with an assertion. Such pictures are
refused from the header, before any pixel is decoded. Camera frames and the core's own crops are
decoded without a shape policy.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_IMAGE_BYTES = int(os.environ.get("VISAGE_MAX_IMAGE_BYTES", 50 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("VISAGE_MAX_IMAGE_PIXELS", 80_000_000))
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})


@dataclass(frozen=True)
class ShapeLimits:
    """The smallest side and the most elongated shape an uploaded picture may have."""

    min_side: int = 32
    max_aspect: float = 20.0


# The server reads the same variables as its settings IMAGE_MIN_SIDE and IMAGE_MAX_ASPECT.
UPLOAD_SHAPE = ShapeLimits(
    int(os.environ.get("VISAGE_IMAGE_MIN_SIDE", 32)), float(os.environ.get("VISAGE_IMAGE_MAX_ASPECT", 20))
)


class MediaError(ValueError):
    """The input is not a usable image; the message says why in one sentence."""


def read_image(path: Path | str, shape: ShapeLimits | None = None) -> np.ndarray:
    """Decode an image file into an HxWx3 uint8 RGB array (refusing shapes outside `shape`)."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file.")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file.")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes).")
    if size > MAX_IMAGE_BYTES:
        raise MediaError(f"{path}: {size} bytes is more than the {MAX_IMAGE_BYTES} byte limit for an image.")
    return decode_image(path.read_bytes(), name=str(path), shape=shape)


def decode_image(data: bytes, name: str = "image", shape: ShapeLimits | None = None) -> np.ndarray:
    """Decode image bytes into an HxWx3 uint8 RGB array, refusing bombs, corrupt data and, when
    `shape` is given, pictures too small or too elongated to analyse."""
    image = _open(data, name, shape)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(f"{name}: the image is too large to decode safely.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{name}: the image is corrupt or truncated ({exc}).") from None
    return to_rgb_array(image)


def image_header(data: bytes, name: str = "image", shape: ShapeLimits | None = None) -> tuple[int, int]:
    """(width, height) from the header alone, with every check `decode_image` makes before
    decoding: cheap enough for an upload that is only decoded later, by a job."""
    return _open(data, name, shape).size


def check_shape(width: int, height: int, name: str, shape: ShapeLimits) -> None:
    """MediaError when a side is under `shape.min_side` or one side is more than `shape.max_aspect`
    times the other."""
    short, long = sorted((width, height))
    if short < shape.min_side:
        raise MediaError(
            f"{name}: {width}x{height} pixels is too small: each side must be at least "
            f"{shape.min_side} pixels."
        )
    if long > shape.max_aspect * short:
        raise MediaError(
            f"{name}: {width}x{height} pixels is too elongated: the longer side may be at most "
            f"{shape.max_aspect:g} times the shorter one."
        )


def _open(data: bytes, name: str, shape: ShapeLimits | None) -> Image.Image:
    """The image with its header read and checked (format, pixel count, shape), nothing decoded."""
    if not data:
        raise MediaError(f"{name}: the file is empty (0 bytes).")
    if len(data) > MAX_IMAGE_BYTES:
        raise MediaError(
            f"{name}: {len(data)} bytes is more than the {MAX_IMAGE_BYTES} byte limit for an image."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the accepted decoders are tried: Pillow never parses another format's header.
            image = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS - {"MPO"}))  # MPO: JPEG's
            _check_header(image, name)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(f"{name}: the image is too large to decode safely.") from None
    except UnidentifiedImageError:
        raise MediaError(
            f"{name}: not an image, or a format that is not accepted (use JPEG, PNG, WebP, BMP or TIFF)."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{name}: the image is corrupt or truncated ({exc}).") from None
    if shape is not None:
        check_shape(*image.size, name, shape)
    return image


def _check_header(image: Image.Image, name: str) -> None:
    if image.format not in ALLOWED_FORMATS:
        raise MediaError(
            f"{name}: {image.format} images are not accepted (use JPEG, PNG, WebP, BMP or TIFF)."
        )
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: the image has no pixels.")
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(
            f"{name}: {width}x{height} pixels is more than the {MAX_IMAGE_PIXELS} pixel limit for an image."
        )


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to HxWx3 uint8 RGB (alpha composited on white, 16-bit scaled down)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
