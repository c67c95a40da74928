"""Temperature scaling (Guo et al., 2017): one number that makes the fake probability honest.

A network trained with cross-entropy on self-blended pairs is over-confident on faces it has not
seen. Dividing its logit by a temperature T fitted on held-out identities (minimum log loss) keeps
the ranking (AUC unchanged) and makes "70% fake" mean about 70% on data like the validation set.
Training bakes 1/T into the exported graph, so the ONNX output is already the calibrated logit.
numpy only.
"""

from __future__ import annotations

import numpy as np

T_MIN, T_MAX = 0.05, 20.0


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, computed stably.
    return float(np.mean(np.logaddexp(0.0, np.where(labels > 0.5, -z, z))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T > 0 minimising the log loss of sigmoid(logits / T): golden-section search on log T."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if logits.shape != labels.shape or logits.size == 0:
        raise ValueError("need as many labels as logits, at least one")
    if labels.min() == labels.max():
        raise ValueError("temperature needs both real and fake examples")
    lo, hi = np.log(T_MIN), np.log(T_MAX)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(logits, labels, np.exp(a)), _nll(logits, labels, np.exp(b))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2.0))


def calibrated_log_loss(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Log loss of sigmoid(logits / temperature) (natural log)."""
    return _nll(np.asarray(logits, np.float64), np.asarray(labels, np.float64), temperature)
