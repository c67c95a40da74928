"""Train the SBI deepfake classifier (EfficientNet-Lite0, one fake logit) and export it to ONNX.

Recipe: every step draws real faces, makes a self-blended fake of each (shared/deepfake/sbi.py),
applies the same shared augmentation and JPEG to both, and trains binary cross-entropy on the
balanced batch with AdamW and a warm-up + cosine learning rate. Pairs in one batch keep the
model from learning anything but the blend. Everything random comes from one seed.

The export writes the metadata the scoring pipeline reads (input size, mean, std, margin) and
is installed only when ONNX Runtime agrees with torch on real crops (max |logit diff| < 1e-4).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from shared.deepfake.crops import to_input
from shared.deepfake.evaluate import log_loss, roc_auc
from shared.deepfake.sbi import SBIConfig, augment_pair, self_blend
from shared.deepfake.trainset import FaceSet, training_sample
from shared.export.efficientnet_lite import MEAN, STD, FakeClassifier
from shared.export.onnx_io import export_with_parity

INPUT_NAME = "input"
OUTPUT_NAME = "logit"
PARITY_TOLERANCE = 1e-4
MODEL_VERSION_PREFIX = "sbi-effnetlite0"
LOG_LOSS_EPS = 1e-7


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the model; its sha256 goes into the ONNX metadata."""

    name: str
    input_size: int
    margin: float = 0.25
    batch_pairs: int = 8  # a batch holds this many real faces and their fakes
    steps: int = 1000
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    seed: int = 2022
    threads: int = 2
    max_minutes: float = 35.0  # wall-clock cap; training stops early and says so
    val_fraction: float = 0.1
    box_jitter: float = 0.05
    pretrained: bool = True
    frozen_blocks: int = -1  # stem + this many MBConv blocks stay at ImageNet weights (-1: none)
    sbi: SBIConfig = field(default_factory=SBIConfig)

    def sha256(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


CONFIGS = {
    # 2 CPU cores shared with other work: 128 px, the stem and first 4 blocks frozen (their
    # backward pass skipped), one torch thread, and a 35 minute wall-clock cap.
    "cpu": TrainConfig(
        name="cpu",
        input_size=128,
        batch_pairs=8,
        steps=1500,
        warmup_steps=30,
        threads=1,
        max_minutes=35.0,
        frozen_blocks=4,
    ),
    # One GPU: the full-size input and a longer schedule (not run on the project's machines yet).
    "gpu": TrainConfig(
        name="gpu", input_size=224, batch_pairs=32, steps=8000, lr=5e-4, threads=8, max_minutes=240.0
    ),
}


def split_groups(faces: FaceSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices split by identity folder, so no person is in both."""
    keys = sorted({_identity(g) for g in faces.groups})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(keys, size=max(1, round(len(keys) * fraction)), replace=False).tolist())
    val = np.array([i for i, g in enumerate(faces.groups) if _identity(g) in held], dtype=int)
    train = np.array([i for i, g in enumerate(faces.groups) if _identity(g) not in held], dtype=int)
    return train, val


def _identity(group: str) -> str:
    """LFW-style folders name the person; elsewhere the file is the unit."""
    path = Path(group)
    return str(path.parent) if "lfw" in str(path.parent).lower() else str(path)


def make_batch(
    faces: FaceSet, indices: np.ndarray, cfg: TrainConfig, rng: np.random.Generator, augment: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 crops [2k, S, S, 3] (real, fake alternating) and labels [2k] (0 real, 1 fake)."""
    crops, labels = [], []
    for index in indices:
        crop, box, landmarks = training_sample(
            faces, int(index), cfg.margin, cfg.input_size, rng, cfg.box_jitter if augment else 0.0
        )
        real, fake, _ = self_blend(crop, landmarks, box, rng, cfg.sbi)
        if augment:
            real, fake = augment_pair(real, fake, rng, cfg.sbi)
        crops += [real, fake]
        labels += [0.0, 1.0]
    return np.stack(crops), np.array(labels, dtype=np.float32)


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    out = [
        model(torch.from_numpy(to_input(crops[i : i + batch], MEAN, STD))).numpy()
        for i in range(0, len(crops), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def evaluate(model: torch.nn.Module, crops: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation figures with the same AUC and log loss as `visage deepfake evaluate` reports (log loss
    clipped at LOG_LOSS_EPS here, as the training log has always shown it)."""
    logits = predict_logits(model, crops)
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    auc = roc_auc(labels, logits)
    return {
        "auc": float("nan") if auc is None else auc,
        "log_loss": log_loss(labels, probs, eps=LOG_LOSS_EPS),
        "accuracy": float(((probs > 0.5) == (labels > 0.5)).mean()),
        "n": len(labels),
    }


def _lr_at(step: int, cfg: TrainConfig, time_fraction: float = 0.0) -> float:
    """Warm-up, then cosine to zero by the last step or by the wall-clock cap, whichever comes
    first, so a run cut short by the cap still ends on a small learning rate."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    progress = max(progress, time_fraction)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train(
    faces: FaceSet,
    train_idx: np.ndarray,
    cfg: TrainConfig,
    on_step: Callable[[int, float, float], None] | None = None,
    weights: Path | None = None,
    device: str = "cpu",
) -> tuple[FakeClassifier, dict[str, Any]]:
    """Train for cfg.steps (or until cfg.max_minutes); return the model (on the CPU, eval mode)
    and a training log. SBI pairs are made on the CPU; only the network runs on `device`."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    model = FakeClassifier(pretrained=cfg.pretrained, weights=weights, frozen_blocks=cfg.frozen_blocks)
    model = model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    started = time.monotonic()
    losses: list[float] = []
    step = 0
    stopped_early = False
    for step in range(cfg.steps):
        if (time.monotonic() - started) / 60.0 > cfg.max_minutes:
            stopped_early = True
            break
        model.train()
        chosen = rng.choice(train_idx, size=min(cfg.batch_pairs, len(train_idx)), replace=False)
        crops, labels = make_batch(faces, chosen, cfg, rng)
        lr = _lr_at(step, cfg, (time.monotonic() - started) / 60.0 / cfg.max_minutes)
        for group in optimiser.param_groups:
            group["lr"] = lr
        logits = model(torch.from_numpy(to_input(crops, MEAN, STD)).to(device))
        loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels).to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.item()))
        if on_step:
            on_step(step, losses[-1], lr)
    else:
        step = cfg.steps
    model = model.cpu().eval()
    return model, {
        "steps_done": step,
        "stopped_early": stopped_early,
        "minutes": round((time.monotonic() - started) / 60.0, 2),
        "images_seen": step * 2 * cfg.batch_pairs,
        "loss_first_50": float(np.mean(losses[:50])) if losses else None,
        "loss_last_50": float(np.mean(losses[-50:])) if losses else None,
    }


def export_onnx(
    model: FakeClassifier,
    onnx_path: Path,
    real_crops: np.ndarray,
    cfg: TrainConfig,
    version: str,
    opset: int = 17,
) -> dict[str, Any]:
    """Export with a dynamic batch and metadata; install only if parity on real crops holds."""
    onnx_path = Path(onnx_path)
    model = model.eval()
    batch = to_input(real_crops, MEAN, STD)
    metadata = {
        "input_size": json.dumps(cfg.input_size),
        "mean": json.dumps([round(v, 8) for v in MEAN]),
        "std": json.dumps([round(v, 8) for v in STD]),
        "margin": json.dumps(cfg.margin),
        "version": version,
        "sha256_of_training_config": cfg.sha256(),
    }
    max_abs, mean_abs = export_with_parity(
        model,
        batch,
        onnx_path,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        expected_shape=(len(batch),),
        tolerance=PARITY_TOLERANCE,
        what="ONNX",
        quantity="logit diff",
        items="real crops",
        opset=opset,
        metadata=metadata,
        producer="visage scripts/train_deepfake.py",
    )
    return {
        "reference": f"torch {torch.__version__} FakeClassifier (EfficientNet-Lite0)",
        "max_abs_diff": max_abs,
        "mean_abs_diff": mean_abs,
        "n_inputs": len(batch),
        "metadata": metadata,
    }
