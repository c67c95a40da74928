"""YuNet face detection on ONNX Runtime: the optional second detector, behind MTCNN's interface.

YuNet (libfacedetection / OpenCV Zoo, MIT, `face_detection_yunet_2023mar`) is one anchor-free network
with heads at strides 8, 16 and 32. `visage models export` installs it as `models/yunet.onnx` with
the input made RGB and of any size (see shared/export/yunet.py). Decoding follows OpenCV's
`cv2.FaceDetectorYN` exactly (score = sqrt(cls * obj), centre offsets and log sizes in stride units,
the same NMS), which the exporter checks on real photos; only numpy runs here, no OpenCV DNN.

What differs from FaceDetectorYN, on purpose:
* The image is padded to a multiple of 32 here, not by the caller.
* The network runs on the image scaled by `input_scale()`: at most 1 and small enough that a face of
  `min_face_size` still spans `SMALLEST_FACE_PX` pixels, as MTCNN maps `min_face_size` onto its
  12 px window. Faces are then mapped back to the image's pixels.
* Landmarks come out in MTCNN's order. YuNet's is the subject's right eye, left eye, nose tip, right
  and left mouth corners: for a face looking at the camera, the subject's right eye is the one on
  the image's left, so the rows line up with MTCNN's (image-left eye first) as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from shared.detect import Face, _check_image, nms

MODEL_NAME = "yunet"
STRIDES = (8, 16, 32)
ALIGN = 32  # input sides must be multiples of the coarsest stride
# The smallest face YuNet finds reliably, in input pixels: `min_face_size` is scaled onto this.
SMALLEST_FACE_PX = 16
INPUT_NAME = "input"
OUTPUT_NAMES = tuple(f"{head}_{stride}" for head in ("cls", "obj", "bbox", "kps") for stride in STRIDES)


def padded_shape(height: int, width: int) -> tuple[int, int]:
    """The network input size for an image: each side rounded up to a multiple of 32."""
    return -(-height // ALIGN) * ALIGN, -(-width // ALIGN) * ALIGN


def to_input(image_rgb: np.ndarray) -> np.ndarray:
    """(1, 3, H32, W32) float32 RGB 0..255, zero-padded at the bottom and right (as FaceDetectorYN pads)."""
    height, width = image_rgb.shape[:2]
    ph, pw = padded_shape(height, width)
    blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
    blob[0, :, :height, :width] = image_rgb.transpose(2, 0, 1)
    return blob


def decode(
    outputs: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    score_threshold: float,
    nms_threshold: float,
    top_k: int,
) -> np.ndarray:
    """Faces (N, 15) as FaceDetectorYN returns them: x, y, w, h, 5 (x, y) landmarks, score; best first.

    outputs are the 12 maps in OUTPUT_NAMES order for an input of input_hw (multiples of 32).
    """
    width = input_hw[1]
    n = len(STRIDES)
    parts = []
    for k, stride in enumerate(STRIDES):
        cls, obj, bbox, kps = (np.asarray(outputs[k + n * j])[0] for j in range(4))
        cols = width // stride
        score = np.sqrt(np.clip(cls[:, 0], 0.0, 1.0) * np.clip(obj[:, 0], 0.0, 1.0))
        idx = np.nonzero(score >= score_threshold)[0]
        if len(idx) == 0:
            continue
        cell = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)
        box = bbox[idx]
        centre = (cell + box[:, :2]) * stride
        size = np.exp(box[:, 2:4]) * stride
        marks = (kps[idx].reshape(-1, 5, 2) + cell[:, None, :]) * stride
        parts.append(
            np.concatenate([centre - size / 2, size, marks.reshape(-1, 10), score[idx, None]], axis=1)
        )
    if not parts:
        return np.zeros((0, 15), dtype=np.float32)
    faces = np.concatenate(parts).astype(np.float32)
    order = np.argsort(-faces[:, 14], kind="stable")[:top_k]
    faces = faces[order]
    # FaceDetectorYN suppresses on integer rectangles (cv::Rect2i of x, y, w, h): do the same, so
    # the same boxes survive when two overlap right at the threshold.
    rect = np.trunc(faces[:, :4]).astype(np.float64)
    corners = np.concatenate([rect[:, :2], rect[:, :2] + rect[:, 2:4]], axis=1)
    return faces[nms(corners, faces[:, 14], nms_threshold)]


class YuNet:
    """One network pass per image; `detect()` returns Faces like MTCNN's, highest score first.

    score_threshold: FaceDetectorYN's (sqrt of class x objectness); its default is 0.9.
    nms_threshold, top_k: FaceDetectorYN's NMS IoU and the candidates kept before NMS.
    max_side: if set, the longer side of the network input is at most this (a cap on time and
    memory for large photos; faces smaller than min_face_size may then be missed).
    min_face_input_px: the size a face of min_face_size is scaled to at the network's input
    (SMALLEST_FACE_PX); larger keeps more small faces and costs more time.
    """

    def __init__(
        self,
        session,
        min_face_size: int = 20,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        *,
        max_side: int | None = None,
        min_face_input_px: int = SMALLEST_FACE_PX,
    ):
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be at least 1 pixel, got {min_face_size}.")
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}.")
        if max_side is not None and max_side < ALIGN:
            raise ValueError(f"max_side must be at least {ALIGN} pixels, got {max_side}.")
        self.session = session
        self.min_face_size = int(min_face_size)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self.max_side = max_side
        self.min_face_input_px = int(min_face_input_px)

    @classmethod
    def from_registry(cls, registry, **kwargs) -> YuNet:
        """Build from a ModelRegistry holding "yunet" (`visage models export`)."""
        return cls(registry.session(MODEL_NAME), **kwargs)

    def input_scale(self, image_hw: Sequence[int]) -> float:
        """The factor the image is resized by before the network: the largest that is still needed."""
        scale = min(1.0, self.min_face_input_px / self.min_face_size)
        if self.max_side is not None:
            scale = min(scale, self.max_side / max(image_hw[:2]))
        return scale

    def raw(self, image_rgb: np.ndarray) -> np.ndarray:
        """FaceDetectorYN-style rows (N, 15) for the image as given (no scaling): for parity checks."""
        blob = to_input(image_rgb)
        outputs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: blob})
        return decode(outputs, blob.shape[2:], self.score_threshold, self.nms_threshold, self.top_k)

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 uint8 RGB image, highest score first."""
        _check_image(image_rgb)
        height, width = image_rgb.shape[:2]
        scale = self.input_scale((height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resized = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        else:
            resized = image_rgb
        rows = self.raw(resized).astype(np.float64)
        if len(rows) == 0:
            return []
        # Exact back-mapping even where rounding made the two axes' factors differ slightly.
        factor = np.array([width / resized.shape[1], height / resized.shape[0]])
        boxes = np.concatenate([rows[:, 0:2], rows[:, 0:2] + rows[:, 2:4]], axis=1) * np.tile(factor, 2)
        marks = rows[:, 4:14].reshape(-1, 5, 2) * factor
        return [Face(box=boxes[i], score=rows[i, 14], landmarks=marks[i]) for i in range(len(rows))]
