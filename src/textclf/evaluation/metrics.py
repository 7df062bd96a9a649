"""Metrics for binary and multi-class tasks, from scikit-learn, in one dict."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from textclf.data.labels import LabelSpace


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def primary_score(y_true: np.ndarray, y_pred: np.ndarray, labels: LabelSpace) -> float:
    """Binary: F1 of the positive (minority) class; multi-class: macro-F1."""
    if labels.task == "binary":
        return float(skm.f1_score(y_true, y_pred, pos_label=labels.positive_id, zero_division=0))
    return float(skm.f1_score(y_true, y_pred, average="macro",
                              labels=list(range(len(labels.names))), zero_division=0))


def classification_metrics(y_true, probs, labels: LabelSpace) -> dict:
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    y_pred = probs.argmax(axis=1)
    ids = list(range(len(labels.names)))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    out = {
        "task": labels.task,
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y_true, y_pred, labels=ids, average="weighted",
                                          zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(y_true, y_pred)),
        "per_class": {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                             "support": int(s[i])} for i, name in enumerate(labels.names)},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }
    present = np.unique(y_true)
    if labels.task == "binary":
        pos = labels.positive_id
        out["positive_label"] = labels.positive
        out["f1_positive"] = float(f[pos])
        if len(present) == 2:
            y_bin = (y_true == pos).astype(int)
            out["roc_auc"] = float(skm.roc_auc_score(y_bin, probs[:, pos]))
            out["pr_auc"] = float(skm.average_precision_score(y_bin, probs[:, pos]))
    elif len(present) == len(ids):
        out["roc_auc"] = float(skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro",
                                                 labels=ids))
        onehot = np.eye(len(ids))[y_true]
        out["pr_auc"] = float(skm.average_precision_score(onehot, probs, average="macro"))
    out["primary_metric"] = labels.primary_metric
    out["primary"] = out[labels.primary_metric]
    return out


def paired_comparison(y_true, probs_a, probs_b) -> dict:
    """Exact McNemar test on the texts where exactly one of two models is right."""
    from scipy.stats import binomtest

    y_true = np.asarray(y_true)
    ok_a = np.asarray(probs_a).argmax(1) == y_true
    ok_b = np.asarray(probs_b).argmax(1) == y_true
    a_only, b_only = int((ok_a & ~ok_b).sum()), int((ok_b & ~ok_a).sum())
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"model_only_right": a_only, "baseline_only_right": b_only, "mcnemar_p": float(p)}
