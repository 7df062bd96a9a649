"""The baseline every report shows: TF-IDF (word 1-2-grams + char 2-5-grams) + LogisticRegression.

Its regularisation C is chosen on the validation split (never on test), like the transformer's
checkpoint, so the comparison is fair in both directions.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_union

C_GRID = (1.0, 10.0, 100.0)


def tfidf_baseline(train_texts, train_y, valid_texts, valid_y, test_texts, num_labels: int,
                   score_fn, class_weight: str | None = "balanced") -> dict:
    """Fit on train, pick C by `score_fn(y_true, y_pred)` on validation, predict test.

    Returns {"probs": test probabilities (one column per label id), "C": chosen C, "seconds"}.
    """
    start = time.perf_counter()
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
    )
    x_train = features.fit_transform(train_texts)
    x_valid, x_test = features.transform(valid_texts), features.transform(test_texts)
    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight)
        clf.fit(x_train, train_y)
        score = score_fn(np.asarray(valid_y), clf.predict(x_valid)) if len(valid_y) else 0.0
        if best is None or score > best[0]:
            best = (score, c, clf)
    _, c, clf = best
    probs = np.zeros((len(test_texts), num_labels))
    probs[:, clf.classes_] = clf.predict_proba(x_test)
    return {"probs": probs, "C": c, "seconds": time.perf_counter() - start}
