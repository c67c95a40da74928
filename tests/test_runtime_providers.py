"""Execution providers as a device asks for them: names, refusals, options, and what sessions receive.

Real onnxruntime (the CPU build here): sessions are opened on a real model, and what they report
(`get_providers()`, `get_provider_options()`) is checked. GPU providers cannot run here, so for them
the (provider, options) pairs handed to `InferenceSession` are checked, and the refusal that a
device with a CPU-only build gets when its configuration asks for CUDA or TensorRT.
"""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest

from edge.config import ConfigError, load_config
from edge.telemetry import TelemetryCollector
from shared.messages import Telemetry
from shared.model_registry import ModelRegistry
from shared.runtime import (
    CPU,
    CUDA,
    TENSORRT,
    CudaOptions,
    ProviderError,
    RuntimeOptions,
    TensorrtOptions,
    create_session,
    resolve_provider,
    resolve_providers,
)

pytestmark = pytest.mark.device_profile

GPU_BUILD = CUDA in ort.get_available_providers()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("cpu", CPU),
        ("CPU", CPU),
        ("CPUExecutionProvider", CPU),
        ("cpuexecutionprovider", CPU),
        ("cuda", CUDA),  # the README's spelling, once turned into "CudaExecutionProvider" and dropped
        ("Cuda", CUDA),
        ("tensorrt", TENSORRT),
        ("TensorRT", TENSORRT),
        ("trt", TENSORRT),
        (" openvino ", "OpenVINOExecutionProvider"),
    ],
)
def test_names_resolve_case_insensitively_to_onnxruntime_spelling(typed, expected):
    assert resolve_provider(typed) == expected
    assert expected in ort.get_all_providers()


def test_unknown_name_is_one_sentence_naming_the_valid_ones():
    with pytest.raises(ProviderError) as caught:
        resolve_providers(["cdua", "cpu"])
    message = str(caught.value)
    assert message.startswith("'cdua' is not an onnxruntime execution provider")
    assert "cuda" in message and "tensorrt" in message and "cpu" in message
    assert message.count(".") == 1 and message.endswith(".")


def test_auto_keeps_the_preferred_order_of_what_the_build_offers():
    offered = ort.get_available_providers()
    chosen = resolve_providers(["auto"])
    assert chosen[-1] == CPU
    assert list(chosen) == [p for p in (TENSORRT, CUDA, CPU) if p in offered]
    assert resolve_providers([]) == chosen
    with pytest.raises(ProviderError, match="cannot be combined"):
        resolve_providers(["auto", "cpu"])


@pytest.mark.skipif(GPU_BUILD, reason="checks the refusal a CPU-only onnxruntime build gives")
def test_gpu_provider_missing_from_the_build_is_refused_not_dropped():
    with pytest.raises(ProviderError) as caught:
        resolve_providers(["tensorrt", "cuda", "cpu"])
    message = str(caught.value)
    assert "Tensorrt, CUDA are not available in this onnxruntime build" in message
    assert ort.__version__ in message and "onnxruntime-gpu" in message


def test_explicit_list_keeps_order_and_drops_duplicates():
    assert resolve_providers(["CPU", "cpu", "CPUExecutionProvider"]) == (CPU,)


def test_session_receives_the_providers_and_options(registry):
    path = registry.path("mtcnn_rnet")
    options = RuntimeOptions(providers=("cpu",), intra_op_threads=1)
    assert options.session_providers() == [(CPU, {})]
    session = create_session(path, options)
    assert session.get_providers() == [CPU]
    assert CPU in session.get_provider_options()


def test_gpu_options_handed_to_inference_session_explicitly(tmp_path):
    cache = tmp_path / "trt-engines"
    trt = TensorrtOptions(engine_cache_dir=str(cache), fp16=True, workspace_mb=512)
    assert trt.provider_options() == {
        "trt_fp16_enable": "1",
        "trt_max_workspace_size": str(512 * 1024 * 1024),
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "1",
        "trt_timing_cache_path": str(cache),
    }
    assert "trt_engine_cache_enable" not in TensorrtOptions().provider_options()
    assert TensorrtOptions().provider_options()["trt_fp16_enable"] == "0"
    cuda = CudaOptions(device_id=1, gpu_mem_limit_mb=256).provider_options()
    assert cuda == {"device_id": "1", "cudnn_conv_algo_search": "HEURISTIC", "gpu_mem_limit": str(256 << 20)}


@pytest.mark.skipif(not GPU_BUILD, reason="needs onnxruntime-gpu with a GPU (the Jetson guide's check)")
def test_gpu_session_reports_its_options(registry, tmp_path):  # pragma: no cover - GPU machines only
    options = RuntimeOptions(providers=("cuda", "cpu"), cuda=CudaOptions(device_id=0))
    session = create_session(registry.path("mtcnn_rnet"), options)
    assert session.get_providers()[0] == CUDA
    assert session.get_provider_options()[CUDA]["cudnn_conv_algo_search"] == "HEURISTIC"


def write_config(tmp_path, runtime: dict) -> object:
    path = tmp_path / "edge.json"
    path.write_text(
        json.dumps(
            {
                "device_id": "room-101",
                "outbox_path": str(tmp_path / "state" / "outbox.sqlite"),
                "runtime": runtime,
            }
        )
    )
    return path


def test_edge_config_runtime_table(tmp_path):
    config = load_config(
        write_config(tmp_path, {"providers": ["CPU"], "tensorrt_fp16": True, "tensorrt_workspace_mb": 256})
    )
    options = config.runtime_options()
    assert options.available_providers() == [CPU]
    assert options.tensorrt.fp16 and options.tensorrt.workspace_mb == 256
    # TensorRT engines live in the device's state folder: the outbox's, unless state_dir says otherwise
    assert options.tensorrt.engine_cache_dir == str((tmp_path / "state" / "trt-engines").resolve())
    assert load_config(write_config(tmp_path, {})).runtime_options().available_providers() == list(
        resolve_providers(["auto"])
    )


@pytest.mark.parametrize(
    ("runtime", "fragment"),
    [
        ({"providers": ["cdua"]}, "'cdua' is not an onnxruntime execution provider"),
        ({"providers": [1]}, 'must be "auto" or a list'),
        ({"tensorrt_fp16": "yes"}, "tensorrt_fp16 must be true or false"),
        ({"tensorrt_workspace_mb": -1}, "tensorrt_workspace_mb must be a whole number"),
        ({"fp16": True}, "Unknown setting(s) in [runtime]: fp16"),
    ],
)
def test_edge_config_runtime_errors_are_sentences(tmp_path, runtime, fragment):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, runtime))
    assert fragment in str(caught.value)


@pytest.mark.skipif(GPU_BUILD, reason="checks the refusal a CPU-only onnxruntime build gives")
def test_edge_config_refuses_cuda_on_a_cpu_build(tmp_path):
    with pytest.raises(ConfigError, match=r"\[runtime\] providers: CUDA is not available"):
        load_config(write_config(tmp_path, {"providers": "cuda,cpu"}))


def test_providers_in_use_reach_telemetry(registry):
    registry = ModelRegistry(registry.models_dir, RuntimeOptions(providers=("cpu",)))
    registry.session("mtcnn_pnet")
    registry.session("mtcnn_rnet")
    assert registry.providers_in_use() == {"mtcnn_pnet": [CPU], "mtcnn_rnet": [CPU]}
    collector = TelemetryCollector("room-101", providers=registry.providers_in_use)
    report = Telemetry.decode(collector.snapshot().encode(), "room-101")
    assert report.providers == {"mtcnn_pnet": (CPU,), "mtcnn_rnet": (CPU,)}
