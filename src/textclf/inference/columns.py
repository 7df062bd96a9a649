"""The output columns of a prediction: label and score, or labels, then one prob_<name> per label."""
from __future__ import annotations

import numpy as np

from textclf.evaluation.thresholds import apply_thresholds

ABSTAIN = "(abstain)"


def prediction_columns(probs: np.ndarray, labels, thresholds=None,
                       min_confidence: float | None = None) -> dict[str, list]:
    """Output columns for predictions: label + score (single-label; a score below
    `min_confidence` makes the label "(abstain)") or labels (multi-label, comma-joined, those
    at/above their thresholds), then prob_<name> for every label."""
    names = labels.names
    cols: dict[str, list] = {}
    if labels.multi_label:
        chosen = apply_thresholds(probs, thresholds)
        cols["labels"] = [",".join(n for n, c in zip(names, row) if c) for row in chosen]
    else:
        best = probs.argmax(axis=1)
        top = probs[np.arange(len(probs)), best]
        low = top < min_confidence if min_confidence is not None else np.zeros(len(top), bool)
        cols["label"] = [ABSTAIN if a else names[j] for j, a in zip(best, low)]
        cols["score"] = [round(float(v), 6) for v in top]
    for j, n in enumerate(names):
        cols[f"prob_{n}"] = [round(float(v), 6) for v in probs[:, j]]
    return cols
