"""The app's one DeepfakePipeline (detector + classifier sessions), built on first use.

Loading the ONNX sessions costs a second or two, so every job of the process shares them;
ONNX Runtime sessions are safe to call from several threads.
"""

from __future__ import annotations

from flask import Flask

from server.extensions import build_once
from server.settings import settings_of
from shared.deepfake.pipeline import DeepfakePipeline, PipelineConfig

EXTENSION_KEY = "visage.deepfake.pipeline"


def pipeline(app: Flask) -> DeepfakePipeline:
    return build_once(app, EXTENSION_KEY, lambda: build(app))


def build(app: Flask) -> DeepfakePipeline:
    from shared.deepfake.classifier import OnnxFaceClassifier
    from shared.model_registry import ModelRegistry

    settings = settings_of(app).deepfake
    registry = ModelRegistry(settings.models_dir)
    model_path = settings.model_path
    classifier = OnnxFaceClassifier.from_path(model_path, registry.options) if model_path else None
    config = PipelineConfig(frames=settings.frames)
    return DeepfakePipeline.from_registry(registry, config, classifier)
