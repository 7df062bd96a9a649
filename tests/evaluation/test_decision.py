"""The binary decision threshold: tuned on validation, used only where it helps held-out halves,
folded into the head so argmax (and plain pipeline) decides at it."""
import json

import numpy as np
import pytest

from textclf.evaluation.thresholds import (MIN_GAIN, _binary_scores, threshold_offset,
                                          tune_binary_threshold)


def scores(n, shift, seed=0, noise=1.0):
    """Labels and positive probabilities from a logit margin: 2*y - 1 + noise, shifted by `shift`
    (a negative shift is a model that under-calls the positive class)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(int)
    margin = 2 * y - 1 + rng.normal(0, noise, n) + shift
    return y, 1 / (1 + np.exp(-margin))


@pytest.mark.parametrize("macro", [False, True])
def test_a_biased_model_gets_a_lower_threshold_that_helps_held_out_data(macro):
    y, p = scores(600, shift=-1.5)
    d = tune_binary_threshold(y, p, macro=macro)
    assert d["applied"] and d["heldout_gain"] >= MIN_GAIN
    assert d["threshold"] < 0.3      # the ideal cut is at margin 0, i.e. p = sigmoid(-1.5) = 0.18
    # and it does pay off on fresh data from the same model
    y2, p2 = scores(4000, shift=-1.5, seed=1)
    at_t, at_half = _binary_scores(y2, p2, np.array([d["threshold"], 0.5]), macro)
    assert at_t > at_half + 0.05


@pytest.mark.parametrize("seed", range(4))
def test_an_unbiased_model_keeps_one_half(seed):
    # balanced classes, symmetric noise: 0.5 is the macro-F1-optimal cut, so whatever a tuned
    # threshold gains on the texts it was tuned on is noise and must not survive held-out halves
    y, p = scores(600, shift=0.0, seed=seed)
    d = tune_binary_threshold(y, p, macro=True)
    assert not d["applied"] and d["threshold"] == 0.5
    assert d["heldout_gain"] < MIN_GAIN
    assert 0.05 <= d["tuned"] <= 0.95   # what tuning alone would have picked is still reported


def test_macro_score_matches_scikit_learn():
    from sklearn.metrics import f1_score

    y, p = scores(300, shift=-0.5, seed=3)
    for t in (0.2, 0.5, 0.7):
        got = _binary_scores(y, p, np.array([t]), macro=True)[0]
        assert got == pytest.approx(f1_score(y, (p >= t).astype(int), average="macro"))
        got = _binary_scores(y, p, np.array([t]), macro=False)[0]
        assert got == pytest.approx(f1_score(y, (p >= t).astype(int)))


def test_offset_makes_argmax_decide_at_the_threshold(tiny_model_dir):
    import torch

    from textclf.evaluation.calibration import fold_logit_offset
    from textclf.evaluation.metrics import softmax
    from textclf.models.base import load_classifier, load_tokenizer

    model = load_classifier(str(tiny_model_dir)).eval()
    tok = load_tokenizer(str(tiny_model_dir))
    batch = tok([f"text number {i} " * (i % 5 + 1) for i in range(40)], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = model(**batch).logits.numpy()
    p1 = softmax(before)[:, 1]
    t = float(np.median(p1))             # a threshold that splits these texts in half
    assert fold_logit_offset(model, 1, threshold_offset(t))
    with torch.no_grad():
        after = model(**batch).logits.numpy()
    assert np.allclose(after[:, 0], before[:, 0], atol=1e-6)
    assert np.allclose(after[:, 1] - before[:, 1], threshold_offset(t), atol=1e-5)
    assert np.array_equal(after.argmax(1) == 1, p1 >= t)


def test_predictor_adds_an_offset_that_could_not_be_folded(tiny_model_dir):
    from textclf.inference.backends import TorchBackend
    from textclf.inference.predictor import Predictor
    from textclf.models.base import load_classifier, load_tokenizer

    model = load_classifier(str(tiny_model_dir))
    tok = load_tokenizer(str(tiny_model_dir))
    plain = Predictor(model.config, tok, TorchBackend(model))
    z = np.array([[0.0, 0.0], [1.0, -1.0]])
    model.config.textclf = {"decision": {"applied": True, "folded_into_head": False,
                                         "label": model.config.id2label[1], "logit_offset": 2.0}}
    shifted = Predictor(model.config, tok, TorchBackend(model))
    assert np.allclose(plain.to_probs(z)[:, 1], 1 / (1 + np.exp(-(z[:, 1] - z[:, 0]))))
    assert np.allclose(shifted.to_probs(z)[:, 1], 1 / (1 + np.exp(-(z[:, 1] + 2.0 - z[:, 0]))))


def test_a_run_records_its_decision_and_pipeline_agrees(tiny_model_dir, tmp_path):
    from conftest import train_tiny_sms
    from transformers import pipeline

    import textclf

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path)
    d = run.metrics["decision"]
    assert set(d) >= {"threshold", "tuned", "heldout_gain", "applied", "label", "metric"}
    assert d["applied"] == (d["heldout_gain"] >= MIN_GAIN and d["tuned"] != 0.5)
    cfg = json.loads((run.model_dir / "config.json").read_text())
    assert cfg["textclf"]["decision"]["applied"] == d["applied"]
    assert "Decision threshold" in (run.path / "report.md").read_text()
    texts = ["win a free prize now", "see you at lunch", "call now to claim cash", "ok thanks"]
    ours = [o["label"] for o in textclf.load(run.path).predict(texts)]
    theirs = [o["label"] for o in pipeline("text-classification", model=str(run.model_dir))(texts)]
    assert ours == theirs


def test_the_threshold_can_be_switched_off(tiny_model_dir, tmp_path):
    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path, tune_threshold=False)
    assert "decision" not in run.metrics


def test_too_little_validation_data_keeps_one_half():
    y, p = scores(600, shift=-1.5)
    for yy, pp in ((y[:10], p[:10]), (np.zeros(100, int), p[:100]), (y[:0], p[:0])):
        d = tune_binary_threshold(yy, pp)
        assert d == {"threshold": 0.5, "tuned": 0.5, "heldout_gain": 0.0, "applied": False}


def test_multilabel_threshold_is_shared_and_moves_only_where_held_out_halves_agree():
    from textclf.evaluation.thresholds import fit_thresholds, tune_thresholds

    # three labels the model under-calls alike: one lower threshold helps all of them
    low = [scores(400, shift=-1.5, seed=s) for s in (5, 6, 7)]
    y, p = np.stack([a for a, _ in low], 1), np.stack([b for _, b in low], 1)
    t = tune_thresholds(y, p)
    assert len(set(t)) == 1 and t[0] < 0.3
    assert t[0] == tune_binary_threshold(y.ravel(), p.ravel())["threshold"]
    # labels where 0.5 is right keep it, though an in-sample fit moves each of them
    fair = [scores(400, shift=0.0, seed=s) for s in (8, 9, 10)]
    y, p = np.stack([a for a, _ in fair], 1), np.stack([b for _, b in fair], 1)
    assert tune_thresholds(y, p) == [0.5] * 3
    assert any(t != 0.5 for t in fit_thresholds(y, p))


def test_shared_threshold_does_not_flood_labels_the_model_cannot_separate():
    """A label with uninformative scores: per-label F1 tuning predicts it for every text (its F1
    at a near-zero threshold beats 0 at 0.5), the shared threshold does not."""
    from textclf.evaluation.thresholds import apply_thresholds, fit_thresholds, tune_thresholds

    rng = np.random.default_rng(0)
    y_good, p_good = scores(500, shift=0.0, seed=11, noise=0.5)
    y_noise = (rng.random(500) < 0.1).astype(int)
    p_noise = rng.random(500) * 0.3                      # never above 0.5, unrelated to the label
    y, p = np.stack([y_good, y_noise], 1), np.stack([p_good, p_noise], 1)
    assert apply_thresholds(p, fit_thresholds(y, p))[:, 1].mean() > 0.5   # 10% have it
    assert apply_thresholds(p, tune_thresholds(y, p))[:, 1].mean() < 0.05


def test_training_metric_scores_multilabel_epochs_at_the_shipped_thresholds():
    """Checkpoints are chosen at the thresholds the saved model will use (the shared, held-out
    checked one), not at per-label thresholds fitted to the same validation texts."""
    from types import SimpleNamespace

    from textclf.data.labels import LabelSpace
    from textclf.evaluation.metrics import primary_score
    from textclf.evaluation.thresholds import (apply_thresholds, fit_thresholds, sigmoid,
                                              tune_thresholds)
    from textclf.training.trainer import doc_metric

    low = [scores(300, shift=-1.0, seed=s) for s in (1, 2, 3)]
    y = np.stack([a for a, _ in low], 1)
    logits = np.log(np.stack([b for _, b in low], 1) / (1 - np.stack([b for _, b in low], 1)))
    space = LabelSpace.from_label_sets([tuple(n for n, v in zip("abc", row) if v) for row in y],
                                       names=list("abc"))
    got = doc_metric(space, y, list(range(len(y))))(SimpleNamespace(predictions=logits))
    probs = sigmoid(logits.astype(np.float32))
    shipped = primary_score(y, apply_thresholds(probs, tune_thresholds(y, probs)), space)
    in_sample = primary_score(y, apply_thresholds(probs, fit_thresholds(y, probs)), space)
    assert got[space.primary_metric] == pytest.approx(shipped)
    assert shipped != pytest.approx(in_sample)
