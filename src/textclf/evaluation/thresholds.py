"""Per-label decision thresholds for multi-label models, tuned on the validation split."""
from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
MIN_POSITIVES = 5   # fewer validation positives than this: keep 0.5 rather than fit noise


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


def f1_at(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """F1 of one label at each threshold (vectorised over thresholds)."""
    pred = scores[:, None] >= thresholds[None, :]
    pos = y[:, None].astype(bool)
    tp = (pred & pos).sum(0)
    fp = (pred & ~pos).sum(0)
    fn = (~pred & pos).sum(0)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def tune_thresholds(y: np.ndarray, probs: np.ndarray, *, min_positives: int = MIN_POSITIVES) -> list[float]:
    """For each label the threshold that maximises its F1 on (y, probs); 0.5 for rare labels.

    Ties go to the threshold closest to 0.5, so a flat F1 curve does not drift to an extreme.
    """
    y = np.asarray(y)
    out = []
    for j in range(y.shape[1]):
        if y[:, j].sum() < min_positives:
            out.append(0.5)
            continue
        f1 = f1_at(y[:, j], probs[:, j], GRID)
        best = np.flatnonzero(np.isclose(f1, f1.max()))
        out.append(float(GRID[best[np.argmin(np.abs(GRID[best] - 0.5))]]))
    return out


def apply_thresholds(probs: np.ndarray, thresholds) -> np.ndarray:
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)[None, :]).astype(int)
