"""The ensemble of the fine-tuned model and the TF-IDF model: the saved TF-IDF model, the stacker's
rule, and a trained run whose Predictor, pipeline and CLI agree with the run's own figures."""
import json

import numpy as np
import pandas as pd
import pytest

from textclf.data.labels import LabelSpace
from textclf.errors import ModelError
from textclf.evaluation import ensemble as ens
from textclf.evaluation.baseline import classifier, predict_probs, tfidf_features

from conftest import EMOTIONS, make_rows, multilabel_frame
from test_cli import run_cli


def _sklearn_probs(texts, y, labels, test, c=10.0):
    union = tfidf_features()
    x = union.fit_transform(texts)
    clf = classifier(c, labels).fit(x, np.asarray(y) if labels.multi_label else list(y))
    return predict_probs(clf, union.transform(test), labels)


@pytest.mark.parametrize("shape", ["binary", "three classes", "multi-label"])
def test_saved_tfidf_model_gives_sklearns_probabilities(shape, tmp_path):
    rows = make_rows(40, 30, seed=1)
    texts = [t for _, t in rows]
    if shape == "multi-label":
        df = multilabel_frame(120)
        texts = df["text"].tolist()
        y = np.asarray([[int(str(j) in s.split(",")) for j in range(4)] for s in df["labels"]])
        y[:, 3] = 0   # a label that never occurs: a constant predictor in one-vs-rest
        labels = LabelSpace(names=tuple(EMOTIONS), multi_label=True)
    else:
        names = [lab for lab, _ in rows]
        if shape == "three classes":
            names = [n if i % 5 else "other" for i, n in enumerate(names)]
        labels = LabelSpace.from_values(names)
        y = np.asarray(labels.encode(names))
    test = texts[:15] + ["words nobody saw before zzqx", ""]
    model = ens.TfidfModel.fit(texts, y, labels, 10.0)
    model.save(tmp_path / "tfidf")
    assert not list((tmp_path / "tfidf").glob("*.pkl"))
    back = ens.TfidfModel.load(tmp_path / "tfidf", labels)
    want = _sklearn_probs(texts, y, labels, test)
    np.testing.assert_allclose(back.predict_proba(test), want, atol=2e-5)
    np.testing.assert_allclose(model.predict_proba(test), want, atol=2e-6)


def test_a_damaged_tfidf_model_is_one_clear_error(tmp_path):
    labels = LabelSpace.from_values(["a", "b"] * 10)
    model = ens.TfidfModel.fit([f"text {i} {'ab'[i % 2]}" for i in range(20)], np.arange(20) % 2, labels, 1.0)
    model.save(tmp_path / "tfidf")
    (tmp_path / "tfidf" / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot be read"):
        ens.TfidfModel.load(tmp_path / "tfidf", labels)


def _probs(y, strength, k, rng):
    z = rng.normal(0, 1, (len(y), k))
    z[np.arange(len(y)), y] += strength
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def test_auto_combines_only_where_the_tfidf_model_adds_something():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    labels = LabelSpace.from_values([str(i) for i in y])
    model, informative, noise = _probs(y, 1.5, 3, rng), _probs(y, 1.5, 3, rng), _probs(y, 0.0, 3, rng)
    used = ens.decide(y, model, informative, labels, "auto", 10.0)
    assert used.applied and used.heldout_gain > ens.MIN_GAIN
    assert used.valid_primary > used.valid_primary_model
    unused = ens.decide(y, model, noise, labels, "auto", 10.0)
    assert not unused.applied and "held-out gain" in unused.reason
    assert ens.decide(y, model, noise, labels, "always", 10.0).applied
    assert not ens.decide(y, model, informative, labels, "none", 10.0).applied
    refitted = ens.decide(y, model, informative, labels, "auto", 10.0, refitted=True)
    assert not refitted.applied and "refitted" in refitted.reason
    assert ens.decide(y, model, informative, labels, "always", 10.0, refitted=True).applied
    few = ens.decide(y[:20], model[:20], informative[:20], labels, "auto", 10.0)
    assert not few.applied and "fewer than" in few.reason


def test_the_single_label_stacker_weighs_each_model_by_what_it_adds():
    """Log-linear pooling: a TF-IDF model of pure noise gets almost no weight and the model's
    weight decides; an informative one gets weight and improves validation log loss. A class
    with three rows is fitted like any other (no folds to miss it)."""
    rng = np.random.default_rng(3)
    y = np.concatenate([np.repeat([0, 1, 2], 80), [3, 3, 3]])
    labels = LabelSpace.from_values([str(i) for i in y])
    model = _probs(y, 2.0, 4, rng)
    junk = _probs(y, 0.0, 4, rng)
    noise = ens.fit_stacker(y, model, junk, labels)
    a, b = noise["coef"][0][0], noise["coef"][0][4]
    assert a > 0.5 and abs(b) < 0.1 * a
    assert noise["C"] is None and noise["classes"] == [0, 1, 2, 3]
    tfidf = _probs(y, 2.0, 4, rng)
    useful = ens.fit_stacker(y, model, tfidf, labels)
    assert useful["coef"][0][4] > 0.3
    mixed = ens.stacked_probs(useful, model, tfidf, labels)
    assert np.allclose(mixed.sum(1), 1.0)
    nll = lambda p: -np.log(p[np.arange(len(y)), y]).mean()
    assert nll(mixed) < nll(model) - 0.1
    assert np.isfinite(ens.stacked_probs(noise, model, junk, labels)).all()


def test_multi_label_stacker_retunes_the_shared_threshold():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 4)) < 0.3).astype(int)
    labels = LabelSpace(names=("a", "b", "c", "d"), multi_label=True)
    noisy = lambda s: 1 / (1 + np.exp(-(s * (2 * y - 1) + rng.normal(0, 1, y.shape))))
    got = ens.decide(y, noisy(1.0), noisy(1.0), labels, "always", 1.0)
    assert got.applied and len(got.thresholds) == 4
    combined = ens.combine(got, noisy(1.0), noisy(1.0), labels)
    assert combined.shape == y.shape and ((combined > 0) & (combined < 1)).all()


def _sms_with_tfidf_signal(path, n=400, seed=0):
    """Binary texts whose label a word-level model reads easily and a tiny random BERT hardly."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        spam = i % 3 == 0
        words = rng.choice(["call", "now", "see", "you", "later", "the", "a", "meeting"], 6).tolist()
        if spam:
            words[rng.integers(0, 6)] = str(rng.choice(["prize", "winner", "cash"]))
        rows.append({"label": "spam" if spam else "ham", "message": " ".join(words) + f" {i}"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_run_with_the_ensemble_predicts_what_it_scored(tiny_config, tmp_path, capsys, monkeypatch):
    import textclf
    from transformers import pipeline

    data = _sms_with_tfidf_signal(tmp_path / "sms.csv")
    run = textclf.train(tiny_config(data, epochs=1, ensemble="always"), quiet=True)
    m = run.metrics
    assert m["ensemble"]["applied"] and "transformer" in m and "baseline" in m
    model_dir = run.path / "model"
    assert (model_dir / "tfidf" / "weights.safetensors").exists()
    saved = json.loads((model_dir / "config.json").read_text())["textclf"]["ensemble"]
    assert saved["applied"] and saved["coef"]
    table = pd.read_csv(run.path / "test_predictions.csv")
    p = textclf.load(run.path)
    got = p.predict_proba(table["text"].tolist())
    np.testing.assert_allclose(got, table[["prob_ham", "prob_spam"]].to_numpy(), atol=1e-4)
    # the fine-tuned model alone still loads in plain transformers
    pipe = pipeline("text-classification", model=str(model_dir))
    assert pipe("call now prize")[0]["label"] in ("ham", "spam")
    # evaluate on the test rows scores what the run scored
    table[["text", "true_label"]].to_csv(tmp_path / "test.csv", index=False)
    code, out, err = run_cli(["evaluate", str(run.path), str(tmp_path / "test.csv"), "--text-col", "text",
                              "--label-col", "true_label", "--output", str(tmp_path / "m.json")],
                             capsys, monkeypatch)
    assert code == 0, err
    again = json.loads((tmp_path / "m.json").read_text())
    assert again["primary"] == pytest.approx(m["test"]["primary"], abs=1e-9)
    # the report, report.html and the model card say which figure each gives
    alone = m["transformer"]["primary"]
    for f in ("report.md", "report.html", "model/README.md"):
        text = (run.path / f).read_text()
        assert "the fine-tuned model alone" in text and f"{alone:.4f}" in text, f
    assert (run.path / "test_predictions_model.csv").exists()
    # a damaged TF-IDF part: one sentence and exit 2, never a traceback
    (model_dir / "tfidf" / "vectorizers.json").write_text("{")
    code, out, err = run_cli(["predict", str(run.path), "call now"], capsys, monkeypatch)
    assert code == 2 and "cannot be read" in err and "Traceback" not in err


def test_ensemble_none_leaves_the_model_alone(tiny_config, tmp_path):
    import textclf

    data = _sms_with_tfidf_signal(tmp_path / "sms.csv")
    run = textclf.train(tiny_config(data, epochs=1, ensemble="none"), quiet=True)
    assert not run.metrics["ensemble"]["applied"] and "transformer" not in run.metrics
    assert not (run.path / "model" / "tfidf").exists()
