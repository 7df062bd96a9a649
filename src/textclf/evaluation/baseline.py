"""The baseline every report shows: TF-IDF (word 1-2-grams + char 2-5-grams) + LogisticRegression
(one-vs-rest for multi-label; a sentence pair is joined into one text).

Its regularisation C, and for multi-label its per-label thresholds, are chosen on the validation
split (never on test), exactly like the transformer's checkpoint and thresholds, so the
comparison is fair in both directions.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_union

from textclf.data.labels import LabelSpace
from textclf.evaluation.metrics import primary_score
from textclf.evaluation.thresholds import apply_thresholds, tune_thresholds

C_GRID = (1.0, 10.0, 100.0)
PAIR_JOIN = " ||| "


def join_pairs(texts: list[str], pairs: list[str] | None) -> list[str]:
    return list(texts) if pairs is None else [a + PAIR_JOIN + b for a, b in zip(texts, pairs)]


def tfidf_baseline(train_texts, train_y, valid_texts, valid_y, test_texts, labels: LabelSpace,
                   class_weight: str | None = "balanced") -> dict:
    """Fit on train, pick C (and thresholds) on validation, predict test.

    Returns {"probs": test probabilities (one column per label id), "valid_probs" (the chosen
    model's on validation), "C", "thresholds", "seconds"}.
    """
    start = time.perf_counter()
    features = tfidf_features()
    x_train = features.fit_transform(train_texts)
    x_valid, x_test = features.transform(valid_texts), features.transform(test_texts)
    valid_y = np.asarray(valid_y)
    best = None
    for c in C_GRID:
        clf = classifier(c, labels, class_weight)
        if labels.multi_label:
            clf.fit(x_train, np.asarray(train_y))
            probs_valid = clf.predict_proba(x_valid)
            thresholds = tune_thresholds(valid_y, probs_valid)
            score = primary_score(valid_y, apply_thresholds(probs_valid, thresholds), labels)
        else:
            clf.fit(x_train, train_y)
            thresholds = None
            probs_valid = predict_probs(clf, x_valid, labels)
            score = primary_score(valid_y, probs_valid.argmax(1), labels) if len(valid_y) else 0.0
        if best is None or score > best[0]:
            best = (score, c, clf, thresholds, probs_valid)
    _, c, clf, thresholds, probs_valid = best
    return {"probs": predict_probs(clf, x_test, labels), "valid_probs": probs_valid, "C": c,
            "thresholds": thresholds, "seconds": time.perf_counter() - start}


def tfidf_features():
    """The baseline's features: TF-IDF word 1-2-grams + char 2-5-grams (unfitted)."""
    return make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
    )


def classifier(c: float, labels: LabelSpace, class_weight: str | None = "balanced"):
    """The baseline's (unfitted) logistic regression at regularisation C; one-vs-rest for multi-label."""
    clf = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight)
    return OneVsRestClassifier(clf, n_jobs=-1) if labels.multi_label else clf


def predict_probs(clf, x, labels: LabelSpace) -> np.ndarray:
    """Probabilities with one column per label id, also for classes the fit never saw."""
    if labels.multi_label:
        return clf.predict_proba(x)
    probs = np.zeros((x.shape[0], len(labels.names)))
    probs[:, clf.classes_] = clf.predict_proba(x)
    return probs
