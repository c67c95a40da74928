"""Model bundles offline: `visage models pack` -> `visage edge models pull --from FILE.tar`.

The version is content-addressed; an archive installs only when every file arrives complete with its
sha256, and a tampered, truncated, newer-format, unknown-embedder or path-traversing archive is refused
with one sentence (exit code 2) while the set in use stays exactly as it was. Also the MQTT contract's
`models` announcement. Device profile: nothing of the server is imported.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from shared.bundle import (
    BUNDLE_FORMAT,
    BundleError,
    active_dir,
    build_manifest,
    bundle_version,
    encode_manifest,
    installed_manifest,
    manifest_sha256,
    parse_manifest,
)
from shared.messages import MessageError, ModelsAnnouncement, parse_topic, topic
from shared.model_registry import ModelRegistry
from tests.bundle_support import FAKE_MODELS, fake_models, rewrite_model, run_cli, snapshot

pytestmark = pytest.mark.device_profile


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def bundle_members(models_dir: Path, embedder: str = "sface") -> tuple[dict, list[tuple[str, bytes]]]:
    manifest = build_manifest(models_dir, embedder)
    members = [("bundle.json", encode_manifest(manifest))]
    members += [(f["name"], (models_dir / f["name"]).read_bytes()) for f in manifest["files"]]
    return manifest, members


@pytest.fixture
def installed(tmp_path, capsys) -> Path:
    """A device models folder with version 1 of the fake models installed from a packed archive."""
    source = fake_models(tmp_path / "export-v1")
    archive = tmp_path / "v1.tar"
    assert run_cli(capsys, "models", "pack", "--models-dir", str(source), "--out", str(archive))[0] == 0
    device = tmp_path / "device-models"
    code, _, err = run_cli(
        capsys, "edge", "models", "pull", "--from", str(archive), "--models-dir", str(device)
    )
    assert code == 0, err
    return device


def test_version_is_content_addressed(tmp_path):
    folder = fake_models(tmp_path / "m")
    first = build_manifest(folder, "sface")
    assert first["version"] == build_manifest(folder, "sface@2021dec")["version"]  # name or id alike
    assert first["embedder"] == "sface@2021dec" and first["format"] == BUNDLE_FORMAT
    assert {"sface@2021dec", "dlib_resnet@1", "fused@1"} <= set(first["embedders"])
    assert first["exporter"] == 1
    assert {f["name"] for f in first["files"]} == {f"{n}.onnx" for n in FAKE_MODELS}
    assert build_manifest(folder, "dlib_resnet")["version"] != first["version"]  # another embedder
    copy = fake_models(tmp_path / "copy")  # the same bytes elsewhere: the same version
    assert build_manifest(copy, "sface")["version"] == first["version"]
    rewrite_model(folder, "mtcnn_pnet", b"re-exported")
    assert build_manifest(folder, "sface")["version"] != first["version"]
    assert first["version"] == bundle_version("sface@2021dec", reversed(first["files"]))  # order-free
    raw = encode_manifest(first)
    assert parse_manifest(raw) == first and encode_manifest(json.loads(raw)) == raw  # canonical


def test_a_file_that_does_not_match_its_manifest_is_never_packed(tmp_path, capsys):
    folder = fake_models(tmp_path / "m")
    (folder / "sface.onnx").write_bytes(b"corrupted on disk")
    with pytest.raises(BundleError, match="does not match its manifest"):
        build_manifest(folder, "sface")
    code, _, err = run_cli(
        capsys, "models", "pack", "--models-dir", str(folder), "--out", str(tmp_path / "b.tar")
    )
    assert code == 2 and "sface.onnx does not match its manifest entry" in err
    assert not (tmp_path / "b.tar").exists() and not list(tmp_path.glob("*.part"))
    with pytest.raises(BundleError, match="needs facenet_vggface2"):
        build_manifest(fake_models(tmp_path / "n"), "facenet_vggface2")


def test_pack_and_pull_roundtrip(installed, tmp_path, capsys):
    folder = active_dir(installed)
    assert folder.parent.name == "versions" and (installed / "current").is_symlink()
    source = tmp_path / "export-v1"
    for name in FAKE_MODELS:  # byte for byte, and the registry (which re-verifies) accepts them
        assert (folder / f"{name}.onnx").read_bytes() == (source / f"{name}.onnx").read_bytes()
        assert ModelRegistry(folder).path(name) == folder / f"{name}.onnx"
    manifest = installed_manifest(installed)
    assert manifest is not None and manifest["version"] == build_manifest(source, "sface")["version"]
    assert not list(installed.glob(".staging-*"))

    # The same archive again changes nothing; a new export installs beside it and becomes current.
    code, out, _ = run_cli(
        capsys, "edge", "models", "pull", "--from", str(tmp_path / "v1.tar"), "--models-dir", str(installed)
    )
    assert code == 0 and json.loads(out)["changed"] is False
    rewrite_model(source, "sface", b"sface v2" * 100)
    assert (
        run_cli(capsys, "models", "pack", "--models-dir", str(source), "--out", str(tmp_path / "v2.tar"))[0]
        == 0
    )
    code, out, _ = run_cli(
        capsys, "edge", "models", "pull", "--from", str(tmp_path / "v2.tar"), "--models-dir", str(installed)
    )
    assert code == 0 and json.loads(out)["changed"] is True
    assert (active_dir(installed) / "sface.onnx").read_bytes() == b"sface v2" * 100
    assert len(list((installed / "versions").iterdir())) == 2  # the previous set stays for a rollback


def _tampered(manifest: dict, members: list) -> list:
    name, data = members[2]
    return [*members[:2], (name, data[:-1] + bytes([data[-1] ^ 1])), *members[3:]]


def _newer_format(manifest: dict, members: list) -> list:
    return [("bundle.json", encode_manifest({**manifest, "format": BUNDLE_FORMAT + 1})), *members[1:]]


def _unknown_embedder(manifest: dict, members: list) -> list:
    files = manifest["files"]
    changed = {**manifest, "embedder": "sface@2099", "version": bundle_version("sface@2099", files)}
    return [("bundle.json", encode_manifest(changed)), *members[1:]]


def _traversal(manifest: dict, members: list) -> list:
    return [*members, ("../escaped.onnx", b"outside")]


def _missing_file(manifest: dict, members: list) -> list:
    return members[:-1]


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        (_tampered, "does not match the bundle manifest (sha256"),
        (_newer_format, f"has format {BUNDLE_FORMAT + 1}, newer than this software reads"),
        (_unknown_embedder, "embedder sface@2099 is not one this software runs"),
        (_traversal, "holds '../escaped.onnx', not listed in its manifest"),
        (_missing_file, "The bundle is incomplete"),
    ],
)
def test_a_bad_archive_leaves_the_installed_set_untouched(installed, tmp_path, capsys, fault, sentence):
    before = snapshot(installed)
    source = fake_models(tmp_path / "export-v2", seed=2)
    manifest, members = bundle_members(source)
    archive = write_tar(tmp_path / "bad.tar", fault(manifest, members))
    code, out, err = run_cli(
        capsys, "edge", "models", "pull", "--from", str(archive), "--models-dir", str(installed)
    )
    assert code == 2 and out == ""
    assert sentence in err and err.count("\n") == 1  # one sentence
    assert snapshot(installed) == before
    assert not list(installed.glob(".staging-*")) and not (installed / "escaped.onnx").exists()
    assert not (tmp_path / "escaped.onnx").exists()


def test_a_truncated_archive_leaves_the_installed_set_untouched(installed, tmp_path, capsys):
    before = snapshot(installed)
    source = fake_models(tmp_path / "export-v2", seed=2, sizes={"sface": 200_000})
    full = tmp_path / "v2.tar"
    assert run_cli(capsys, "models", "pack", "--models-dir", str(source), "--out", str(full))[0] == 0
    data = full.read_bytes()
    with tarfile.open(full) as archive:
        last = archive.getmembers()[-1]
    # Inside a file, 10 bytes short of the last file's end, inside the manifest (the zero blocks after
    # the last file are only padding: an archive cut there is complete, every sha256 proves it).
    for cut in (len(data) // 2, last.offset_data + last.size - 10, 700):
        truncated = tmp_path / f"cut-{cut}.tar"
        truncated.write_bytes(data[:cut])
        code, _, err = run_cli(
            capsys, "edge", "models", "pull", "--from", str(truncated), "--models-dir", str(installed)
        )
        assert code == 2 and "visage: " in err, err
        assert snapshot(installed) == before
    code, _, err = run_cli(
        capsys, "edge", "models", "pull", "--from", str(tmp_path / "nope.tar"), "--models-dir", str(installed)
    )
    assert code == 2 and "does not exist" in err


def test_manifest_validation_refuses_unsafe_or_inconsistent_content(tmp_path):
    manifest = build_manifest(fake_models(tmp_path / "m"), "sface")
    with pytest.raises(BundleError, match="not JSON"):
        parse_manifest(b"{nope")
    wrong_version = {**manifest, "version": "0" * 16}
    with pytest.raises(BundleError, match="is not the one its files and embedder give"):
        parse_manifest(encode_manifest(wrong_version))
    files = [*manifest["files"][:-1], {**manifest["files"][-1], "name": "../x.onnx"}]
    with pytest.raises(BundleError, match="unsafe or reserved name"):
        parse_manifest(encode_manifest({**manifest, "files": files}))
    with pytest.raises(BundleError, match="'format' must be a positive integer"):
        parse_manifest(encode_manifest({**manifest, "format": "1"}))


def test_models_announcement_contract():
    announcement = ModelsAnnouncement("room-101", "0123456789abcdef", "ab" * 32, "sface@2021dec")
    assert ModelsAnnouncement.decode(announcement.encode(), "room-101") == announcement
    assert parse_topic(topic("room-101", "models")) == ("room-101", "models")
    good = json.loads(announcement.encode())
    for change, reason in [
        ({"bundle_version": "XYZ"}, "bad_schema"),
        ({"manifest_sha256": "00"}, "bad_schema"),
        ({"embedder": "sface"}, "bad_schema"),
        ({"format": True}, "bad_schema"),
        ({"schema": 2}, "unsupported_version"),
        ({"device_id": "room-102"}, "device_mismatch"),
    ]:
        with pytest.raises(MessageError) as caught:
            ModelsAnnouncement.decode(json.dumps({**good, **change}), "room-101")
        assert caught.value.reason == reason
    raw = b'{"a":1}'
    assert manifest_sha256(raw) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
