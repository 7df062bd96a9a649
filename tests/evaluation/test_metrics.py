import numpy as np
from sklearn import metrics as skm

from textclf.data.labels import LabelSpace
from textclf.evaluation.metrics import classification_metrics


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    space = LabelSpace(names=("ham", "spam"), positive="spam")
    m = classification_metrics(y, probs, space)
    pred = probs.argmax(1)
    assert np.isclose(m["f1_positive"], skm.f1_score(y, pred))
    assert np.isclose(m["accuracy"], skm.accuracy_score(y, pred))
    assert np.isclose(m["mcc"], skm.matthews_corrcoef(y, pred))
    assert np.isclose(m["roc_auc"], skm.roc_auc_score(y, p1))
    assert np.isclose(m["pr_auc"], skm.average_precision_score(y, p1))
    assert m["primary"] == m["f1_positive"]
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_binary_positive_class_can_be_label_zero():
    y = np.array([0, 0, 1, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]])
    m = classification_metrics(y, probs, LabelSpace(names=("a", "b"), positive="a"))
    assert np.isclose(m["f1_positive"], skm.f1_score(y, probs.argmax(1), pos_label=0))


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[y] * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = classification_metrics(y, probs, LabelSpace(names=("a", "b", "c")))
    pred = probs.argmax(1)
    assert np.isclose(m["macro_f1"], skm.f1_score(y, pred, average="macro"))
    assert np.isclose(m["weighted_f1"], skm.f1_score(y, pred, average="weighted"))
    assert np.isclose(m["roc_auc"], skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert m["primary"] == m["macro_f1"]
    assert m["per_class"]["b"]["support"] == int((y == 1).sum())


def test_primary_score_is_the_metric_the_label_space_names():
    """Checkpoint selection (the Trainer's compute_metrics) and the baseline's C use
    primary_score; for a balanced binary task it must be macro-F1, not one class's F1."""
    from textclf.evaluation.metrics import primary_score

    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    pred = np.ones_like(y)                      # always the second class
    balanced = LabelSpace.from_values(["yes"] * 5 + ["no"] * 5)
    assert balanced.primary_metric == "macro_f1"
    assert np.isclose(primary_score(y, pred, balanced), skm.f1_score(y, pred, average="macro"))
    assert not np.isclose(primary_score(y, pred, balanced), skm.f1_score(y, pred, pos_label=1))
    chosen = LabelSpace(names=("ham", "spam"), positive="spam")
    assert np.isclose(primary_score(y, pred, chosen), skm.f1_score(y, pred, pos_label=1))
    three = LabelSpace(names=("a", "b", "c"))   # a class never predicted nor present still counts
    assert np.isclose(primary_score(y, pred, three), skm.f1_score(y, pred, average="macro", labels=[0, 1, 2]))
