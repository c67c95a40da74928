"""ONNX Runtime sessions: one place that picks execution providers, their options and threads.

A Jetson wants TensorRT, then CUDA, then CPU; this machine has only the CPU. Two ways to ask:

* `auto` (the default): TensorRT, CUDA, CPU, keeping those the installed onnxruntime build offers.
* an explicit list (`VISAGE_PROVIDERS=cuda,cpu`, or `providers = ["cuda", "cpu"]` in the edge
  config's `[runtime]` table): every name must be an onnxruntime provider (matched without regard
  to case, with or without the `ExecutionProvider` suffix) and offered by the installed build.
  Anything else is a `ProviderError` at startup naming the valid choices, never a silent fallback
  to the CPU: a Jetson with the CPU-only wheel installed must say so, not run at a tenth of its speed.

TensorRT and CUDA options are handed to `InferenceSession` explicitly (the environment variables
older onnxruntime builds read, e.g. `ORT_TENSORRT_FP16_ENABLE`, are ignored by current ones).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERRED_PROVIDERS: tuple[str, ...] = (TENSORRT, CUDA, CPU)
AUTO = "auto"
SUFFIX = "executionprovider"
ALIASES = {"trt": TENSORRT, "gpu": CUDA}


class ProviderError(ValueError):
    """A requested execution provider is unknown to onnxruntime or missing from this build."""


def _short(name: str) -> str:
    return name[: -len(SUFFIX)] if name.lower().endswith(SUFFIX) else name


def resolve_provider(name: str) -> str:
    """onnxruntime's spelling of a provider name as a person types it ("cuda", "TensorRT", "CPU")."""
    key = name.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    key = key[: -len(SUFFIX)] if key.endswith(SUFFIX) else key
    for provider in ort.get_all_providers():
        if _short(provider).lower() == key:
            return provider
    valid = ", ".join(_short(p).lower() for p in ort.get_all_providers())
    raise ProviderError(f"'{name.strip()}' is not an onnxruntime execution provider; valid names: {valid}.")


def resolve_providers(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The requested providers in onnxruntime's spelling, duplicates dropped; `auto` alone keeps the
    preferred order filtered by what this build offers."""
    cleaned = [n for n in (str(n).strip() for n in names) if n]
    if not cleaned or [n.lower() for n in cleaned] == [AUTO]:
        offered = set(ort.get_available_providers())
        return tuple(p for p in PREFERRED_PROVIDERS if p in offered) or (CPU,)
    resolved: list[str] = []
    for name in cleaned:
        if name.lower() == AUTO:
            raise ProviderError(
                "'auto' cannot be combined with provider names; give either 'auto' or a list."
            )
        provider = resolve_provider(name)
        if provider not in resolved:
            resolved.append(provider)
    offered = ort.get_available_providers()
    missing = [p for p in resolved if p not in offered]
    if missing:
        raise ProviderError(
            f"{', '.join(_short(p) for p in missing)} {'is' if len(missing) == 1 else 'are'} not available "
            f"in this onnxruntime build "
            f"(onnxruntime {ort.__version__} offers {', '.join(_short(p) for p in offered)}); install the "
            "build that has it (onnxruntime-gpu, NVIDIA's wheel on a Jetson) or remove it from the providers."
        )
    return tuple(resolved)


def _providers_from_env() -> tuple[str, ...]:
    raw = os.environ.get("VISAGE_PROVIDERS", "").strip()
    return tuple(raw.split(",")) if raw else (AUTO,)


def _env_int(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else 0


@dataclass(frozen=True)
class TensorrtOptions:
    """TensorRT engine settings. Building an engine takes minutes on a Jetson: keep them on disk."""

    engine_cache_dir: str | None = None  # None: no engine cache (every start rebuilds)
    fp16: bool = False  # faster on Jetson GPUs; check recognition scores before relying on it
    workspace_mb: int = 1024

    def provider_options(self) -> dict[str, str]:
        options = {
            "trt_fp16_enable": _flag(self.fp16),
            "trt_max_workspace_size": str(self.workspace_mb * 1024 * 1024),
        }
        if self.engine_cache_dir:
            options |= {
                "trt_engine_cache_enable": "1",
                "trt_engine_cache_path": self.engine_cache_dir,
                "trt_timing_cache_enable": "1",
                "trt_timing_cache_path": self.engine_cache_dir,
            }
        return options


@dataclass(frozen=True)
class CudaOptions:
    device_id: int = 0
    # HEURISTIC picks convolution algorithms without timing each one: fast startup, near-best speed.
    cudnn_conv_algo_search: str = "HEURISTIC"
    gpu_mem_limit_mb: int = 0  # 0: no limit

    def provider_options(self) -> dict[str, str]:
        options = {"device_id": str(self.device_id), "cudnn_conv_algo_search": self.cudnn_conv_algo_search}
        if self.gpu_mem_limit_mb:
            options["gpu_mem_limit"] = str(self.gpu_mem_limit_mb * 1024 * 1024)
        return options


def _flag(value: bool) -> str:
    return "1" if value else "0"


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run models: providers (names as a person types them, or `auto`), their options and
    threading (0 = let onnxruntime decide)."""

    providers: tuple[str, ...] = field(default_factory=_providers_from_env)
    intra_op_threads: int = field(default_factory=lambda: _env_int("VISAGE_INTRA_OP_THREADS"))
    inter_op_threads: int = 0
    tensorrt: TensorrtOptions = field(default_factory=TensorrtOptions)
    cuda: CudaOptions = field(default_factory=CudaOptions)

    def available_providers(self) -> list[str]:
        """The providers sessions are asked for, in order (ProviderError for a wrong request)."""
        return list(resolve_providers(self.providers))

    def session_providers(self) -> list[tuple[str, dict[str, str]]]:
        """(provider, options) pairs exactly as `InferenceSession(providers=...)` receives them."""
        options = {TENSORRT: self.tensorrt.provider_options(), CUDA: self.cuda.provider_options()}
        return [(name, options.get(name, {})) for name in self.available_providers()]


def create_session(path: Path | str, options: RuntimeOptions | None = None) -> ort.InferenceSession:
    """Open an ONNX model with the configured providers, provider options and threads."""
    options = options or RuntimeOptions()
    providers = options.session_providers()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.intra_op_threads:
        so.intra_op_num_threads = options.intra_op_threads
    if options.inter_op_threads:
        so.inter_op_num_threads = options.inter_op_threads
    so.log_severity_level = 3
    if options.tensorrt.engine_cache_dir and any(name == TENSORRT for name, _ in providers):
        Path(options.tensorrt.engine_cache_dir).mkdir(parents=True, exist_ok=True)
    return ort.InferenceSession(
        str(path),
        sess_options=so,
        providers=[name for name, _ in providers],
        provider_options=[opts for _, opts in providers],
    )


def providers_in_use(session: Any) -> list[str]:
    """What a session actually runs on (onnxruntime may drop a provider that fails to initialise)."""
    return list(session.get_providers()) if hasattr(session, "get_providers") else [CPU]
