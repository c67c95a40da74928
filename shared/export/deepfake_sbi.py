"""Train the SBI deepfake classifier (EfficientNet-Lite0 or Lite2, one fake logit) and export it to ONNX.

Recipe: every step draws real faces, makes a self-blended fake of each (shared/deepfake/sbi.py),
applies the same shared augmentation and JPEG to both, and trains binary cross-entropy on the
balanced batch with AdamW and a warm-up + cosine learning rate. Pairs in one batch keep the
model from learning anything but the blend. Everything random comes from one seed.

The export writes the metadata the scoring pipeline reads (input size, mean, std, margin) and
is installed only when ONNX Runtime agrees with torch on real crops (max |logit diff| < 1e-4).
A checkpoint is written every `checkpoint_every` steps; a stopped run resumes from it (same
steps, same random stream, wall-clock cap counted across runs). After training, the validation
(held-out identities) decides test-time flip and the video aggregation, and fits the temperature
that the export bakes into the graph (`Calibrated`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from shared.deepfake.aggregation import AGGREGATIONS, aggregate
from shared.deepfake.calibration import calibrated_log_loss, fit_temperature
from shared.deepfake.crops import to_input
from shared.deepfake.evaluate import log_loss, roc_auc
from shared.deepfake.sbi import SBIConfig, augment_pair, self_blend
from shared.deepfake.trainset import FaceSet, training_sample
from shared.export.efficientnet_lite import MEAN, STD, FakeClassifier
from shared.export.onnx_io import export_with_parity

INPUT_NAME = "input"
OUTPUT_NAME = "logit"
PARITY_TOLERANCE = 1e-4
MODEL_VERSION_PREFIX = "sbi-effnet"
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
    backbone: str = "lite0"  # "lite0" or "lite2"
    checkpoint_every: int = 20
    # Identities always held out (whole source folders of real_face_videos): validation videos.
    val_always: tuple[str, ...] = ()
    sbi: SBIConfig = field(default_factory=SBIConfig)

    def sha256(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# Validation videos: whole source repositories of ../shared/data/real_face_videos whose people
# appear nowhere else (10 LRS3/MEAD speakers, 2 more people), so identities never cross the split.
VAL_VIDEO_SOURCES = ("filby89+spectre", "Weizhi-Zhong+IP_LAP", "yoyo-nb+Thin-Plate-Spline-Motion-Model")
# The one person seen in several repositories (Alexandria Ocasio-Cortez, HDTF) stays in training.
_SAME_PERSON_SOURCES = ("OpenTalker+SadTalker", "OpenTalker+video-retalking", "tanshuai0219+EDTalk")

# 2 CPU cores shared with other work: 224 px, the stem and first 4 blocks frozen (their
# backward pass skipped; ~6 s a step of 16 crops on one niced thread beside other work), one
# torch thread, a wall-clock cap, checkpoints every 20 steps.
_CPU = TrainConfig(
    name="cpu",
    input_size=224,
    batch_pairs=8,
    steps=1000,
    warmup_steps=30,
    threads=1,
    max_minutes=60.0,
    frozen_blocks=4,
    val_always=VAL_VIDEO_SOURCES,
)

CONFIGS = {
    "cpu": _CPU,
    # The same recipe on Lite2 (same input size, for a like-for-like comparison in the same time).
    "cpu-lite2": replace(_CPU, name="cpu-lite2", backbone="lite2"),
    # One GPU, 15 minutes (scripts/train_deepfake_gpu.sh): Lite2 at 256 px (what the packed
    # 329 px context crops hold without upscaling), all layers; SBI pairs are made by one CPU
    # process, which bounds the step rate (about 1,000 steps of 64 in the 11 minute cap).
    "gpu": TrainConfig(
        name="gpu",
        input_size=256,
        batch_pairs=32,
        steps=1000,
        lr=5e-4,
        threads=8,
        max_minutes=11.0,
        backbone="lite2",
        checkpoint_every=200,
        val_always=VAL_VIDEO_SOURCES,
    ),
}


def split_groups(
    faces: FaceSet, fraction: float, seed: int, always: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices split by identity, so no person is in both. Identities whose key
    contains one of `always` are validation; a `fraction` of the others is drawn at random."""
    keys = sorted({identity(g) for g in faces.groups})
    forced = {k for k in keys if any(part in k for part in always)}
    rest = [k for k in keys if k not in forced]
    rng = np.random.default_rng(seed)
    drawn = rng.choice(rest, size=max(1, round(len(rest) * fraction)), replace=False).tolist() if rest else []
    held = forced | set(drawn)
    val = np.array([i for i, g in enumerate(faces.groups) if identity(g) in held], dtype=int)
    train = np.array([i for i, g in enumerate(faces.groups) if identity(g) not in held], dtype=int)
    return train, val


def identity(group: str) -> str:
    """Who a face belongs to, as far as the file tells: LFW-style folders name the person; the
    repositories of real_face_videos that share a person form one identity, the other clips of
    real_face_videos are one person each except LivePortrait's (several clips of the same
    people: the repository is the unit); elsewhere the file is the unit."""
    path = Path(group)
    text = str(path)
    if "lfw" in str(path.parent).lower():
        return str(path.parent)
    if "real_face_videos" in text:
        if any(source in text for source in _SAME_PERSON_SOURCES):
            return "real_face_videos/AOC+HDTF"
        if "KwaiVGI+LivePortrait" in text:
            return "real_face_videos/KwaiVGI+LivePortrait"
    return text


_identity = identity  # the earlier name


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
    checkpoint: Path | None = None,
    stop_after: int | None = None,
) -> tuple[FakeClassifier, dict[str, Any]]:
    """Train for cfg.steps (or until cfg.max_minutes); return the model (on the CPU, eval mode)
    and a training log. SBI pairs are made on the CPU; only the network runs on `device`.

    With `checkpoint`, the state (weights, optimiser, step, losses, random streams, minutes
    spent) is saved every cfg.checkpoint_every steps and at the end, and a run finding a
    checkpoint of the same config resumes from it; `stop_after` ends this run after that many
    steps (as a killed run would), for tests and for sharing the machine."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    model = FakeClassifier(
        pretrained=cfg.pretrained, weights=weights, frozen_blocks=cfg.frozen_blocks, backbone=cfg.backbone
    )
    model = model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses: list[float] = []
    first_step, spent_before, resumed_from = 0, 0.0, None
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["config_sha256"] != cfg.sha256():
            raise ValueError(f"{checkpoint} belongs to another training config; delete it to start over")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        first_step, spent_before, losses = state["step"], state["minutes"], list(state["losses"])
        resumed_from = first_step
    started = time.monotonic()

    def minutes() -> float:
        return spent_before + (time.monotonic() - started) / 60.0

    def save(step: int) -> None:
        if checkpoint is None:
            return
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(checkpoint) + ".part")
        state = {
            "config_sha256": cfg.sha256(),
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "minutes": minutes(),
            "losses": losses,
        }
        torch.save(state, tmp)
        tmp.replace(checkpoint)

    stopped_early = False
    step = first_step
    while step < cfg.steps:
        if minutes() > cfg.max_minutes:
            stopped_early = True
            break
        if stop_after is not None and step - first_step >= stop_after:
            break
        model.train()
        chosen = rng.choice(train_idx, size=min(cfg.batch_pairs, len(train_idx)), replace=False)
        crops, labels = make_batch(faces, chosen, cfg, rng)
        lr = _lr_at(step, cfg, minutes() / cfg.max_minutes)
        for group in optimiser.param_groups:
            group["lr"] = lr
        logits = model(torch.from_numpy(to_input(crops, MEAN, STD)).to(device))
        loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels).to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.item()))
        step += 1
        if on_step:
            on_step(step - 1, losses[-1], lr)
        if step % cfg.checkpoint_every == 0:
            save(step)
    save(step)
    model = model.cpu().eval()
    return model, {
        "steps_done": step,
        "stopped_early": stopped_early,
        "resumed_from": resumed_from,
        "minutes": round(minutes(), 2),
        "images_seen": step * 2 * cfg.batch_pairs,
        "loss_first_50": float(np.mean(losses[:50])) if losses else None,
        "loss_last_50": float(np.mean(losses[-50:])) if losses else None,
    }


class Calibrated(torch.nn.Module):
    """What is exported: the trained classifier, optionally averaged with its mirror image
    (test-time flip), its logit divided by the temperature fitted on validation."""

    def __init__(self, model: torch.nn.Module, temperature: float = 1.0, flip: bool = False) -> None:
        super().__init__()
        self.model = model
        self.flip = flip
        self.register_buffer("inv_temperature", torch.tensor(1.0 / temperature, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.model(x)
        if self.flip:
            logit = (logit + self.model(torch.flip(x, dims=[3]))) / 2.0
        return logit * self.inv_temperature


def validation_subset(faces: FaceSet, val_idx: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """All validation faces from videos (they decide the aggregation) and a seeded draw of the
    others, `limit` in all: bounds the cost of validation on a shared CPU."""
    video = np.array([Path(faces.groups[int(i)]).suffix.lower() in _VIDEO_SUFFIXES for i in val_idx], bool)
    chosen, others = list(val_idx[video]), val_idx[~video]
    room = max(limit - len(chosen), 0)
    if len(others) > room:
        others = np.random.default_rng(seed).choice(others, size=room, replace=False)
    return np.sort(np.array(chosen + list(others), dtype=int))


_VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}


def validation_report(
    model: torch.nn.Module,
    faces: FaceSet,
    val_idx: np.ndarray,
    cfg: TrainConfig,
    seed: int,
) -> dict[str, Any]:
    """Held-out identities, one fixed SBI draw: face-level AUC / log loss with and without
    test-time flip, the temperature fitted on them, and video-level AUC / log loss of each
    aggregation rule (each validation video once real, once with every face self-blended)."""
    crops, labels = make_batch(faces, val_idx, cfg, np.random.default_rng(seed))
    plain = predict_logits(model, crops)
    flipped = (plain + predict_logits(model, np.ascontiguousarray(crops[:, :, ::-1]))) / 2.0
    variants = {}
    for name, logits in (("plain", plain), ("flip", flipped)):
        temperature = fit_temperature(logits, labels)
        variants[name] = {
            "auc": roc_auc(labels, logits),
            "log_loss_raw": calibrated_log_loss(logits, labels, 1.0),
            "temperature": temperature,
            "log_loss_calibrated": calibrated_log_loss(logits, labels, temperature),
        }
    # Flip only if it ranks better by a visible margin: it doubles the classifier's cost.
    use_flip = variants["flip"]["auc"] > variants["plain"]["auc"] + 0.005
    chosen = "flip" if use_flip else "plain"
    logits, temperature = (flipped if use_flip else plain), variants[chosen]["temperature"]
    probs = 1.0 / (1.0 + np.exp(-logits / temperature))
    pair_index = np.repeat(val_idx, 2)  # make_batch alternates real, fake per face
    videos: dict[str, list[int]] = {}
    for row, face in enumerate(pair_index):
        group = faces.groups[int(face)]
        if Path(group).suffix.lower() in _VIDEO_SUFFIXES:
            videos.setdefault(group, []).append(row)
    by_rule: dict[str, dict[str, Any]] = {}
    for rule in AGGREGATIONS:
        y, p = [], []
        for rows in videos.values():
            for fake in (0.0, 1.0):
                chosen_rows = [r for r in rows if labels[r] == fake]
                if chosen_rows:
                    y.append(fake)
                    p.append(aggregate(probs[chosen_rows], rule))
        if y:
            by_rule[rule] = {
                "auc": roc_auc(np.array(y), np.array(p)),
                "log_loss": log_loss(np.array(y), np.array(p), eps=LOG_LOSS_EPS),
                "n_videos": len(videos),
            }
    ranked = sorted(by_rule, key=lambda r: (-(by_rule[r]["auc"] or 0), by_rule[r]["log_loss"]))
    return {
        "n": len(labels),
        "n_identities": len({identity(faces.groups[int(i)]) for i in val_idx}),
        "variants": variants,
        "flip": use_flip,
        "temperature": temperature,
        "auc": variants[chosen]["auc"],
        "log_loss": variants[chosen]["log_loss_calibrated"],
        "accuracy": float(((probs > 0.5) == (labels > 0.5)).mean()),
        "video": by_rule,
        "aggregation": ranked[0] if ranked else "confident",
    }


def export_onnx(
    model: FakeClassifier,
    onnx_path: Path,
    real_crops: np.ndarray,
    cfg: TrainConfig,
    version: str,
    opset: int = 17,
    temperature: float = 1.0,
    flip: bool = False,
    aggregation: str = "confident",
) -> dict[str, Any]:
    """Export with a dynamic batch and metadata; install only if parity on real crops holds.
    The temperature (and test-time flip) are part of the graph: the output is the calibrated logit."""
    onnx_path = Path(onnx_path)
    model = Calibrated(model.eval(), temperature, flip).eval()
    batch = to_input(real_crops, MEAN, STD)
    metadata = {
        "input_size": json.dumps(cfg.input_size),
        "mean": json.dumps([round(v, 8) for v in MEAN]),
        "std": json.dumps([round(v, 8) for v in STD]),
        "margin": json.dumps(cfg.margin),
        "version": version,
        "sha256_of_training_config": cfg.sha256(),
        "backbone": cfg.backbone,
        "temperature": json.dumps(round(float(temperature), 6)),
        "tta_flip": json.dumps(bool(flip)),
        "aggregation": aggregation,
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
        "reference": f"torch {torch.__version__} FakeClassifier (EfficientNet-{cfg.backbone.title()})",
        "max_abs_diff": max_abs,
        "mean_abs_diff": mean_abs,
        "n_inputs": len(batch),
        "metadata": metadata,
    }
