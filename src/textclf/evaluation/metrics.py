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
    """The task's primary metric (labels.primary_metric): F1 of the positive class for binary
    tasks, macro-F1 for balanced binary (no positive label given), multi-class and multi-label
    (for multi-label, y_true and y_pred are 0/1 matrices)."""
    if labels.primary_metric == "f1_positive":
        return float(skm.f1_score(y_true, y_pred, pos_label=labels.positive_id, zero_division=0))
    every = {} if labels.multi_label else {"labels": list(range(len(labels.names)))}
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0, **every))


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


def multilabel_metrics(y_true, probs, labels: LabelSpace, thresholds, train_counts=None) -> dict:
    """Multi-label scores at the given per-label thresholds."""
    from textclf.evaluation.thresholds import apply_thresholds

    y = np.asarray(y_true).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    pred = apply_thresholds(probs, thresholds)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    out = {"task": "multilabel", "n": int(len(y))}
    for avg in ("micro", "macro", "weighted", "samples"):
        out[f"{avg}_f1"] = float(skm.f1_score(y, pred, average=avg, zero_division=0))
    out["subset_accuracy"] = float(skm.accuracy_score(y, pred))
    out["hamming_loss"] = float(skm.hamming_loss(y, pred))
    out["label_cardinality"] = float(y.sum(1).mean())
    out["predicted_cardinality"] = float(pred.sum(1).mean())
    scored = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    if scored:
        out["roc_auc"] = float(np.mean([skm.roc_auc_score(y[:, j], probs[:, j]) for j in scored]))
        out["pr_auc"] = float(np.mean([skm.average_precision_score(y[:, j], probs[:, j]) for j in scored]))
    out["per_class"] = {}
    for j, name in enumerate(labels.names):
        row = {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(s[j]),
               "threshold": float(thresholds[j])}
        if train_counts is not None:
            row["train_positives"] = int(train_counts[j])
        out["per_class"][name] = row
    if train_counts is not None:
        out["rare_labels"] = [n for j, n in enumerate(labels.names) if train_counts[j] < 10]
    out["primary_metric"] = labels.primary_metric
    out["primary"] = out[labels.primary_metric]
    return out


def correct(y_true, probs, thresholds=None) -> np.ndarray:
    """Per text: is the prediction right (multi-label: the whole label set)?"""
    y_true, probs = np.asarray(y_true), np.asarray(probs)
    if thresholds is not None:
        from textclf.evaluation.thresholds import apply_thresholds
        return (apply_thresholds(probs, thresholds) == y_true.astype(int)).all(axis=1)
    return probs.argmax(1) == y_true


def paired_comparison(y_true, probs_a, probs_b, thresholds_a=None, thresholds_b=None) -> dict:
    """Exact McNemar test on the texts where exactly one of two models is right."""
    from scipy.stats import binomtest

    ok_a = correct(y_true, probs_a, thresholds_a)
    ok_b = correct(y_true, probs_b, thresholds_b)
    a_only, b_only = int((ok_a & ~ok_b).sum()), int((ok_b & ~ok_a).sum())
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"model_only_right": a_only, "baseline_only_right": b_only, "mcnemar_p": float(p)}


def bootstrap_gain(y_true, pred_a, pred_b, labels: LabelSpace, draws: int = 1000, seed: int = 0) -> dict:
    """B's primary metric minus A's on the same texts (predicted ids, or 0/1 matrices for
    multi-label), and the standard error of that difference over `draws` paired resamples of
    the texts."""
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    gain = primary_score(y_true, pred_b, labels) - primary_score(y_true, pred_a, labels)
    rng = np.random.default_rng(seed)
    n = len(y_true)
    resampled = []
    for _ in range(draws):
        i = rng.integers(0, n, n)
        resampled.append(primary_score(y_true[i], pred_b[i], labels) - primary_score(y_true[i], pred_a[i], labels))
    return {"gain": float(gain), "standard_error": float(np.std(resampled, ddof=1)), "n": n}


def score(y, probs, labels, thresholds=None, train_counts=None) -> dict:
    """The task's metrics for one set of predictions."""
    if labels.multi_label:
        return multilabel_metrics(y, probs, labels, thresholds, train_counts)
    return classification_metrics(y, probs, labels)
