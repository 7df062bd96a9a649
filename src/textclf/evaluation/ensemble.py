"""The fine-tuned model combined with the TF-IDF model every run fits.

A stacker is fitted on the validation split and kept only where, fitted on one half of
validation, it beats the fine-tuned model alone on the other half (mean over ten halvings).
Single-label: log-linear pooling, one weight per model's log-probabilities shared by every
class and one bias per class (2 + K numbers, so it stays stable on a few hundred rows).
Multi-label: one logistic regression over (text, label) pairs on both models' logits, shared by
every label, then the shared decision threshold tuned again.

The TF-IDF model is saved without pickle: its vocabularies as JSON and its arrays (idf, weights)
as safetensors, in `tfidf/` of the model dir; `transformers.pipeline` ignores that folder.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from textclf.data.labels import LabelSpace
from textclf.errors import ModelError
from textclf.evaluation.baseline import classifier, predict_probs, tfidf_features
from textclf.evaluation.metrics import primary_score, softmax
from textclf.evaluation.thresholds import apply_thresholds, sigmoid, tune_thresholds
from textclf.model_settings import Ensemble

TFIDF_DIR = "tfidf"
STACK_C = (0.01, 0.1, 1.0, 10.0)   # multi-label stacker: C chosen among these
POOL_PRIOR = 1e-3         # single-label stacker: pull of its weights towards the model alone
MIN_GAIN = 0.0            # the stacker is used where its held-out gain is above this
MIN_VALID_ROWS = 40       # fewer validation rows: the rule cannot judge, the model stays alone
HALVINGS = 10
_EPS = 1e-6


# ---- the TF-IDF model, fitted, saved and loaded -----------------------------------------------

class TfidfModel:
    """TF-IDF features + logistic regression with probabilities computed from saved arrays."""

    def __init__(self, vectorizers: list, coef: np.ndarray, intercept: np.ndarray,
                 classes: np.ndarray, labels: LabelSpace):
        self.vectorizers = vectorizers
        self.coef = np.asarray(coef, dtype=np.float64)            # (outputs, features)
        self.intercept = np.asarray(intercept, dtype=np.float64)  # (outputs,)
        self.classes = np.asarray(classes, dtype=np.int64)        # label ids the outputs are for
        self.labels = labels

    @classmethod
    def fit(cls, texts: list[str], y, labels: LabelSpace, c: float) -> "TfidfModel":
        union = tfidf_features()
        x = union.fit_transform(texts)
        clf = classifier(c, labels).fit(x, np.asarray(y) if labels.multi_label else list(y))
        vecs = [v for _, v in union.transformer_list]
        if labels.multi_label:
            coef, intercept = _one_vs_rest_arrays(clf, x)
            return cls(vecs, coef, intercept, np.arange(len(labels.names)), labels)
        return cls(vecs, clf.coef_, clf.intercept_, clf.classes_, labels)

    def features(self, texts: list[str]):
        """The TF-IDF rows of `texts`, as the fitted vectorizers' transform gives them, built
        directly from each vectorizer's analyzer and vocabulary (sklearn's transform costs ~2 ms
        of fixed overhead a call, more than the fine-tuned model's forward for one text)."""
        from scipy.sparse import csr_matrix

        if not hasattr(self, "_parts"):
            self._parts, offset = [], 0
            for v in self.vectorizers:
                vocab = v.vocabulary_ if hasattr(v, "vocabulary_") else v.vocabulary
                self._parts.append((v.build_analyzer(), vocab, np.asarray(v.idf_, dtype=np.float64), offset,
                                    v.sublinear_tf))
                offset += len(vocab)
            self._width = offset
        indptr, indices, values, n = [0], [], [], 0
        for text in texts:
            for analyze, vocab, idf, offset, sublinear in self._parts:
                found = [(vocab[g], c) for g, c in Counter(analyze(text)).items() if g in vocab]
                if not found:
                    continue
                cols = np.fromiter((j for j, _ in found), dtype=np.int64, count=len(found))
                tf = np.fromiter((c for _, c in found), dtype=np.float64, count=len(found))
                w = (1 + np.log(tf) if sublinear else tf) * idf[cols]
                w /= np.sqrt((w * w).sum())
                indices.append(cols + offset)
                values.append(w)
                n += len(cols)
            indptr.append(n)
        cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))
        return csr_matrix((cat(values, np.float64), cat(indices, np.int64), np.asarray(indptr)),
                          shape=(len(texts), self._width))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        z = np.asarray(self.features(texts) @ self.coef.T) + self.intercept
        if self.labels.multi_label:
            return sigmoid(z)
        return class_probs(z, self.classes, len(self.labels.names))

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"coef": self.coef.astype(np.float32), "intercept": self.intercept.astype(np.float32),
                  "classes": self.classes.astype(np.int64)}
        vocab = []
        for i, v in enumerate(self.vectorizers):
            arrays[f"idf_{i}"] = v.idf_.astype(np.float32)
            vocab.append({"params": _vectorizer_params(v), "vocabulary": {k: int(j) for k, j in v.vocabulary_.items()}})
        arrays = {k: np.ascontiguousarray(a) for k, a in arrays.items()}   # sklearn's may be Fortran-ordered
        save_file(arrays, str(folder / "weights.safetensors"))
        (folder / "vectorizers.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, labels: LabelSpace) -> "TfidfModel":
        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            arrays = load_file(str(folder / "weights.safetensors"))
            spec = json.loads((folder / "vectorizers.json").read_text(encoding="utf-8"))
            vecs = []
            for i, s in enumerate(spec):
                params = {**s["params"], "ngram_range": tuple(s["params"]["ngram_range"])}
                v = TfidfVectorizer(**params, vocabulary=s["vocabulary"])
                v.idf_ = arrays[f"idf_{i}"].astype(np.float64)
                vecs.append(v)
            model = cls(vecs, arrays["coef"], arrays["intercept"], arrays["classes"], labels)
            if model.coef.shape[1] != sum(len(v.vocabulary) for v in vecs):
                raise ValueError("weights and vocabularies differ in size")
        except Exception as exc:   # safetensors, JSON, sklearn: any damage is the same sentence
            raise ModelError(f"The TF-IDF part of the model in {folder} cannot be read ({exc}); "
                             "train the model again or remove the ensemble from its config.json.") from None
        return model


# the TfidfVectorizer settings a saved model keeps (the baseline's; nothing callable)
_PARAMS = ("analyzer", "ngram_range", "lowercase", "sublinear_tf", "norm", "use_idf", "smooth_idf",
           "token_pattern", "strip_accents", "binary")


def _vectorizer_params(v) -> dict:
    p = v.get_params()
    return {k: (list(p[k]) if k == "ngram_range" else p[k]) for k in _PARAMS}


def _one_vs_rest_arrays(clf, x) -> tuple[np.ndarray, np.ndarray]:
    """Per label weights and bias of a fitted OneVsRestClassifier; a label that never varied in
    training (a constant predictor) gets zero weights and the bias of its constant probability."""
    coef, intercept = [], []
    for est in clf.estimators_:
        if hasattr(est, "coef_"):
            coef.append(est.coef_[0])
            intercept.append(est.intercept_[0])
        else:
            p = float(np.clip(est.predict_proba(x[:1])[0, 1], _EPS, 1 - _EPS))
            coef.append(np.zeros(x.shape[1]))
            intercept.append(np.log(p / (1 - p)))
    return np.vstack(coef), np.asarray(intercept)


def class_probs(z: np.ndarray, classes: np.ndarray, n: int) -> np.ndarray:
    """A logistic regression's outputs as probabilities with one column per label id (`classes`:
    the ids its outputs are for; a binary regression has one logit, for classes[1])."""
    out = np.zeros((z.shape[0], n))
    if z.shape[1] == 1:
        p1 = sigmoid(z[:, 0])
        out[:, classes[0]], out[:, classes[1]] = 1 - p1, p1
    else:
        out[:, classes] = softmax(z)
    return out


# ---- the stacker --------------------------------------------------------------------------------

def stack_features(p_model: np.ndarray, p_tfidf: np.ndarray, multi_label: bool) -> np.ndarray:
    """Single-label: both models' log-probabilities side by side (one row a text). Multi-label:
    both models' logits of one label (one row a (text, label) pair)."""
    a, b = np.clip(p_model, _EPS, 1 - _EPS), np.clip(p_tfidf, _EPS, 1 - _EPS)
    if multi_label:
        return np.stack([np.log(a / (1 - a)).ravel(), np.log(b / (1 - b)).ravel()], axis=1)
    return np.concatenate([np.log(a), np.log(b)], axis=1)


def fit_stacker(y, p_model, p_tfidf, labels: LabelSpace) -> dict | None:
    """The stacker fitted on these rows: {"coef", "intercept", "classes", "C"}, or None where the
    rows cannot fit one (one class). Single-label: one weight per model shared by every class,
    one bias per class (see fit_pooled); multi-label: a logistic regression on both models'
    logits over (text, label) pairs, C by 5-fold log loss."""
    t = np.asarray(y).ravel() if labels.multi_label else np.asarray(y)
    if len(np.unique(t)) < 2:
        return None
    if not labels.multi_label:
        return fit_pooled(t, p_model, p_tfidf)
    return _fit_logistic(stack_features(p_model, p_tfidf, True), t)


def fit_pooled(y: np.ndarray, p_model: np.ndarray, p_tfidf: np.ndarray) -> dict:
    """Log-linear pooling: class k scores a * log p_model[k] + b * log p_tfidf[k] + c[k], softmax
    over classes: 2 + K numbers (a K-class logistic regression on both log-probabilities has
    2K^2 + K), fitted by log loss with a weak pull towards the model alone (a = 1, b = 0, c = 0),
    so it stays put where validation is small. Returned as the equivalent K x 2K coefficient
    matrix (a I, b I) that stacked_probs applies."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    k = p_model.shape[1]
    x = stack_features(p_model, p_tfidf, False)   # the features stacked_probs applies the fit to
    lm, lt = x[:, :k], x[:, k:]
    rows = np.arange(len(y))
    target = np.zeros((len(y), k))
    target[rows, y] = 1.0
    start = np.concatenate([[1.0, 0.0], np.zeros(k)])   # the model alone: a = 1, b = 0, c = 0

    def loss(w):
        a, b, c = w[0], w[1], w[2:]
        logp = log_softmax(a * lm + b * lt + c, axis=1)
        prior = POOL_PRIOR * np.sum((w - start) ** 2)
        g = (np.exp(logp) - target) / len(y)    # d loss / d score, one row a text
        grad = np.concatenate([[np.sum(g * lm), np.sum(g * lt)], g.sum(0)])
        grad += 2 * POOL_PRIOR * (w - start)
        return -logp[rows, y].mean() + prior, grad

    w = minimize(loss, start, jac=True, method="L-BFGS-B").x
    eye = np.eye(k)
    return {"coef": np.hstack([w[0] * eye, w[1] * eye]).tolist(), "intercept": w[2:].tolist(),
            "classes": list(range(k)), "C": None}


def _fit_logistic(x: np.ndarray, t: np.ndarray) -> dict:
    """Logistic regression of t on x, C by 5-fold log loss on these rows."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, make_scorer
    from sklearn.model_selection import cross_val_score

    present = np.unique(t)
    # every class named, so a fold without a rare class is still scored (not NaN)
    scorer = make_scorer(log_loss, greater_is_better=False, response_method="predict_proba", labels=present)
    best = (-np.inf, STACK_C[-1])
    for c in STACK_C:
        with warnings.catch_warnings():   # "the least populated class has only N members"
            warnings.simplefilter("ignore", UserWarning)
            try:
                score = cross_val_score(LogisticRegression(C=c, max_iter=2000), x, t,
                                        cv=5, scoring=scorer).mean()
            except ValueError:   # a class with fewer rows than folds
                continue
        if score > best[0]:
            best = (score, c)
    lr = LogisticRegression(C=best[1], max_iter=2000).fit(x, t)
    return {"coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist(),
            "classes": lr.classes_.tolist(), "C": best[1]}


def stacked_probs(stacker: dict, p_model: np.ndarray, p_tfidf: np.ndarray, labels: LabelSpace) -> np.ndarray:
    """The stacker's probabilities, one column per label id."""
    x = stack_features(p_model, p_tfidf, labels.multi_label)
    z = x @ np.asarray(stacker["coef"]).T + np.asarray(stacker["intercept"])
    if labels.multi_label:
        return sigmoid(z[:, 0]).reshape(p_model.shape)
    return class_probs(z, np.asarray(stacker["classes"]), p_model.shape[1])


def _scored_on(y, probs, fit_y, fit_probs, labels: LabelSpace) -> float:
    """Primary metric on (y, probs); multi-label thresholds tuned on the fitting rows."""
    if labels.multi_label:
        return primary_score(y, apply_thresholds(probs, tune_thresholds(fit_y, fit_probs)), labels)
    return primary_score(y, probs.argmax(1), labels)


def heldout_gain(y, p_model, p_tfidf, labels: LabelSpace, repeats: int = HALVINGS, seed: int = 0) -> float:
    """Mean gain in the primary metric of a stacker fitted on one random half of these rows over
    the model alone, both scored on the other half."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(repeats):
        idx = rng.permutation(len(y))
        fit, held = idx[: len(y) // 2], idx[len(y) // 2:]
        st = fit_stacker(y[fit], p_model[fit], p_tfidf[fit], labels)
        if st is None:
            gains.append(0.0)
            continue
        mine = stacked_probs(st, p_model, p_tfidf, labels)
        gains.append(_scored_on(y[held], mine[held], y[fit], mine[fit], labels)
                     - _scored_on(y[held], p_model[held], y[fit], p_model[fit], labels))
    return float(np.mean(gains))


def gain_suffices(gain: float) -> bool:
    """The held-out rule: a stacker is used where its mean held-out gain is above MIN_GAIN."""
    return gain > MIN_GAIN


def decide(y_valid, p_model, p_tfidf, labels: LabelSpace, how: str, tfidf_c: float,
           refitted: bool = False) -> Ensemble:
    """Whether and how to combine, from validation: how = 'auto' (the held-out rule, and only
    where the model saved is the one whose validation probabilities fit the stacker, i.e. not
    `refitted` on train + validation), 'always' or 'none'. The stacker is fitted on all of
    validation when it is used."""
    y_valid = np.asarray(y_valid)
    if how == "none":
        return Ensemble(applied=False, rule=how, reason="turned off")
    if how == "auto" and refitted:
        return Ensemble(applied=False, rule=how, reason="the model was refitted on train + validation, "
                        "so no held-out rows are left to fit the stacker on (--ensemble always forces it)")
    if len(y_valid) < MIN_VALID_ROWS:
        return Ensemble(applied=False, rule=how,
                        reason=f"{len(y_valid)} validation rows, fewer than {MIN_VALID_ROWS}")
    gain = heldout_gain(y_valid, p_model, p_tfidf, labels)
    stacker = fit_stacker(y_valid, p_model, p_tfidf, labels)
    if stacker is None:
        return Ensemble(applied=False, rule=how, heldout_gain=gain, reason="validation has one class")
    if how == "auto" and not gain_suffices(gain):
        return Ensemble(applied=False, rule=how, heldout_gain=gain,
                        reason=f"held-out gain {gain:+.4f}, not above {MIN_GAIN:g}")
    mine = stacked_probs(stacker, p_model, p_tfidf, labels)
    thresholds = tune_thresholds(y_valid, mine) if labels.multi_label else None
    return Ensemble(applied=True, rule=how, heldout_gain=gain, tfidf_C=tfidf_c, stacker_C=stacker["C"],
                    coef=stacker["coef"], intercept=stacker["intercept"], classes=stacker["classes"],
                    thresholds=thresholds, tfidf_dir=TFIDF_DIR,
                    valid_primary=_scored_on(y_valid, mine, y_valid, mine, labels),
                    valid_primary_model=_scored_on(y_valid, p_model, y_valid, p_model, labels))


def combine(ensemble: Ensemble, p_model: np.ndarray, p_tfidf: np.ndarray, labels: LabelSpace) -> np.ndarray:
    """The saved stacker's probabilities (run for every prediction batch: no copy of the settings)."""
    stacker = {"coef": ensemble.coef, "intercept": ensemble.intercept, "classes": ensemble.classes}
    return stacked_probs(stacker, p_model, p_tfidf, labels)
