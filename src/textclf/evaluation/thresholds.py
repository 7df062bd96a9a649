"""Decision thresholds, tuned on the validation split and used only where they help held-out
halves of it: multi-label (one shared threshold) and binary (the positive-class threshold)."""
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


def fit_thresholds(y: np.ndarray, probs: np.ndarray, *, min_positives: int = MIN_POSITIVES) -> list[float]:
    """For each label the threshold that maximises its F1 on (y, probs); 0.5 for rare labels.

    Ties go to the threshold closest to 0.5, so a flat F1 curve does not drift to an extreme.
    Fitted and scored on the same texts, these look better than they are (see tune_thresholds).
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


def tune_thresholds(y: np.ndarray, probs: np.ndarray, *, seed: int = 0) -> list[float]:
    """Decision thresholds for a multi-label model: one threshold shared by every label, the one
    that maximises micro-F1 on validation, used only where it beat 0.5 on held-out halves of
    validation (micro-F1 is the F1 of the flattened label matrix, so this is
    tune_binary_threshold on it); otherwise 0.5.

    Per-label F1-maximising thresholds (fit_thresholds), even kept only where they beat 0.5 on
    held-out halves, drop the threshold of every label a model separates poorly towards
    "predict it for every text" (that label's F1 rises from 0 to its prevalence-level F1, on
    held-out texts too): on a 1,000-text GoEmotions model they predicted 5-7 labels per text
    where texts have 1.2, and subset accuracy fell to ~0. One shared threshold has one
    parameter to fit, not one per label, and stays sound on small validation splits."""
    y, probs = np.asarray(y), np.asarray(probs)
    t = tune_binary_threshold(y.ravel(), probs.ravel(), seed=seed)["threshold"]
    return [t] * y.shape[1]


def apply_thresholds(probs: np.ndarray, thresholds) -> np.ndarray:
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)[None, :]).astype(int)


# --- binary single-label tasks: one decision threshold, kept only where it helps held-out data ---

MIN_GAIN = 0.005   # mean held-out gain (primary metric) a tuned threshold must show to be used
MIN_VALID = 20     # fewer validation texts than this: nothing to tune on, keep 0.5


def _binary_scores(y_pos: np.ndarray, p_pos: np.ndarray, thresholds: np.ndarray, macro: bool) -> np.ndarray:
    """The primary metric at each threshold on the positive probability: the positive class's
    F1, or the mean F1 of both classes when `macro`."""
    f1 = f1_at(y_pos, p_pos, thresholds)
    if not macro:
        return f1
    # the negative class is predicted where p_pos < t, i.e. where -p_pos >= -t + (a hair)
    return (f1 + f1_at(1 - y_pos, -p_pos, -thresholds + 1e-12)) / 2


def _candidates(p_pos: np.ndarray) -> np.ndarray:
    """0.5 and the 1st..99th percentiles of the scores: a fixed grid is too coarse where a model
    is unsure (a near-chance model's probabilities can all lie within 0.45-0.55)."""
    q = np.quantile(p_pos, np.linspace(0.01, 0.99, 99))
    return np.unique(np.clip(np.round(np.append(q, 0.5), 4), 0.001, 0.999))


def _best_threshold(y_pos, p_pos, macro: bool) -> float:
    grid = _candidates(p_pos)
    s = _binary_scores(y_pos, p_pos, grid, macro)
    best = np.flatnonzero(np.isclose(s, s.max()))
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def tune_binary_threshold(y_pos, p_pos, *, macro: bool = False, repeats: int = 25,
                          seed: int = 0) -> dict:
    """The threshold on the positive-class probability that maximises the primary metric on
    validation, and whether to use it.

    A threshold tuned and scored on the same texts always looks better than 0.5, so the decision
    to use it is taken on held-out data: the validation split is halved at random `repeats` times,
    the threshold is tuned on each half and scored on the other, against 0.5. It is used only if
    that held-out gain averages at least MIN_GAIN (on SMS spam and imdb_subset a tuned threshold
    lost on held-out halves, so argmax stays there)."""
    y_pos, p_pos = np.asarray(y_pos).astype(int), np.asarray(p_pos, dtype=np.float64)
    if len(y_pos) < MIN_VALID or y_pos.sum() < MIN_POSITIVES or (1 - y_pos).sum() < MIN_POSITIVES:
        return {"threshold": 0.5, "tuned": 0.5, "heldout_gain": 0.0, "applied": False}
    half = np.array([0.5])
    rng = np.random.RandomState(seed)
    gains = []
    for _ in range(repeats):
        idx = rng.permutation(len(y_pos))
        a, b = idx[: len(idx) // 2], idx[len(idx) // 2:]
        for fit, held in ((a, b), (b, a)):
            t = np.array([_best_threshold(y_pos[fit], p_pos[fit], macro)])
            gains.append(_binary_scores(y_pos[held], p_pos[held], t, macro)[0]
                         - _binary_scores(y_pos[held], p_pos[held], half, macro)[0])
    gain = float(np.mean(gains))
    threshold = _best_threshold(y_pos, p_pos, macro)
    use = gain >= MIN_GAIN and threshold != 0.5
    return {"threshold": threshold if use else 0.5, "tuned": threshold, "heldout_gain": gain,
            "applied": bool(use)}


def threshold_offset(threshold: float) -> float:
    """The amount to add to the positive logit (minus the negative one) so that argmax decides
    exactly as `p_pos >= threshold` did."""
    return float(-np.log(threshold / (1 - threshold)))
