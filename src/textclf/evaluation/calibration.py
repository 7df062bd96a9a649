"""Temperature scaling (Guo et al. 2017) and expected calibration error.

One scalar T divides the logits; it is fitted on the validation split by minimising the negative
log-likelihood, so accuracy (the argmax) never changes, only how much the probabilities claim.
Multi-label models trained with positive weights also get a per-label logit offset that takes
part of each weight back (pos_weight_offsets). Both are folded into the head's last layer.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from textclf.evaluation.metrics import softmax
from textclf.evaluation.thresholds import sigmoid


def _nll(logits: np.ndarray, y: np.ndarray, multi_label: bool) -> float:
    if multi_label:
        p = np.clip(sigmoid(logits), 1e-12, 1 - 1e-12)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y.astype(int)].mean())


def fit_temperature(logits, y, multi_label: bool = False) -> float:
    """The T in [0.05, 20] minimising validation NLL of logits / T."""
    logits, y = np.asarray(logits, dtype=np.float64), np.asarray(y)
    res = minimize_scalar(lambda log_t: _nll(logits / np.exp(log_t), y, multi_label),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def expected_calibration_error(probs, y, multi_label: bool = False, bins: int = 15) -> float:
    """Single-label: |accuracy - confidence| of the top class, averaged over equal-width
    confidence bins weighted by their size. Multi-label: the same over every (text, label)
    probability against its 0/1 truth."""
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y)
    if multi_label:   # a probability p for a label claims the label is present with chance p
        conf, hit = probs.ravel(), y.ravel().astype(float)
    else:
        conf, hit = probs.max(1), (probs.argmax(1) == y).astype(float)
    idx = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    return float(sum(abs(hit[idx == b].mean() - conf[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


def calibrate(valid_logits, valid_y, test_logits, test_y, multi_label: bool = False) -> dict:
    """Fit T on validation; ECE before/after on validation and on test."""
    t = fit_temperature(valid_logits, valid_y, multi_label)

    def probs(z):
        return sigmoid(z) if multi_label else softmax(z)
    out = {"temperature": t}
    for name, z, y in (("valid", valid_logits, valid_y), ("test", test_logits, test_y)):
        out[f"ece_{name}_before"] = expected_calibration_error(probs(z), y, multi_label)
        out[f"ece_{name}_after"] = expected_calibration_error(probs(z / t), y, multi_label)
    return out


def _head(model):
    """The classification head's last linear layer (out_features == num_labels), or None."""
    import torch

    n = model.config.num_labels
    heads = [m for name, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and m.out_features == n
             and name.split(".")[0] in ("classifier", "score", "logits_proj", "pre_classifier")]
    return heads[-1] if heads else None


def fold_temperature(model, t: float) -> bool:
    """Divide the classification head's last linear layer by T, so logits come out already
    scaled: plain `transformers.pipeline`, ONNX exports and every backend then give calibrated
    probabilities with no extra step. False if no such layer is found (then T must be applied
    at predict time)."""
    import torch

    layer = _head(model)
    if layer is None:
        return False
    with torch.no_grad():
        layer.weight /= t
        if layer.bias is not None:
            layer.bias /= t
    return True


def fold_logit_offset(model, index: int, offset: float) -> bool:
    """Add `offset` to label `index`'s logit through the head's bias, so a tuned decision
    threshold is what argmax (and so plain `pipeline()` and ONNX) decides. False if the head has
    no bias to carry it (then the offset must be added at predict time)."""
    offsets = np.zeros(model.config.num_labels)
    offsets[index] = offset
    return fold_logit_offsets(model, offsets)


def fold_logit_offsets(model, offsets) -> bool:
    """Add offsets[j] to label j's logit through the head's bias; False, changing nothing, if the
    head has no bias to carry them (then they must be added at predict time)."""
    import torch

    layer = _head(model)
    if layer is None or layer.bias is None:
        return False
    with torch.no_grad():
        layer.bias += torch.as_tensor(np.asarray(offsets), dtype=layer.bias.dtype, device=layer.bias.device)
    return True


# Multi-label: the share of each label's log positive weight taken back off its logit after
# training. A loss weighting label j's positives by w_j moves its logits up by about log w_j, so
# rare labels are over-predicted (GoEmotions at 1,000 and 4,000 rows: 1.2-2.6 labels per text
# where texts have 1.15); taking back half raised held-out micro-F1 by 2.5-8.3 points and macro-F1
# by 1.0-3.0 on four of four nested GoEmotions cells, where taking back all of it lost macro-F1.
# See docs/experiments.md.
POS_WEIGHT_TAKEN_BACK = 0.5


def pos_weight_offsets(pos_weights: list[float], share: float = POS_WEIGHT_TAKEN_BACK) -> list[float]:
    """Per label, the offset added to its logit: -share x log(its positive weight)."""
    return [float(-share * np.log(w)) for w in pos_weights]
