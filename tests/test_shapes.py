"""Multi-label, sentence-pair and long-document runs end to end on the tiny random model."""
import json

import numpy as np
import pandas as pd
import pytest

import textclf
from textclf.api import evaluate, predict_file
from textclf.config import DataConfig
from textclf.data.features import aggregate, encode
from textclf.errors import DataError
from textclf.evaluation.thresholds import fit_thresholds
from conftest import EMOTIONS, train_tiny_multilabel
from test_cli import run_cli


@pytest.fixture(scope="module")
def multilabel_run(tiny_model_dir, tmp_path_factory):
    return train_tiny_multilabel(tiny_model_dir, tmp_path_factory.mktemp("ml"))


def test_multilabel_run_saves_thresholds_and_metrics(multilabel_run):
    run, _ = multilabel_run
    cfg = json.loads((run.model_dir / "config.json").read_text())
    assert cfg["problem_type"] == "multi_label_classification"
    assert list(cfg["id2label"].values()) == EMOTIONS
    thresholds = cfg["textclf"]["thresholds"]
    assert len(thresholds) == 4 and all(0 < t < 1 for t in thresholds)
    m = run.metrics["test"]
    for k in ("micro_f1", "macro_f1", "weighted_f1", "samples_f1", "subset_accuracy", "hamming_loss"):
        assert 0 <= m[k] <= 1
    assert m["per_class"]["joy"]["threshold"] == thresholds[0]
    assert (run.path / "per_label_f1.png").exists()
    assert "baseline" in run.metrics and run.metrics["baseline"]["task"] == "multilabel"
    assert "labels" in pd.read_csv(run.path / "test_predictions.csv").columns


def test_multilabel_model_takes_back_half_of_each_positive_weight(multilabel_run):
    """The loss's positive weights raise rare labels' logits; the saved head lowers each label's
    logit by half the log of its weight, and the saved model gives the run's test probabilities."""
    from textclf.model_settings import ModelSettings

    run, _ = multilabel_run
    frame = pd.read_csv(run.path / "test_predictions.csv")
    cal = run.metrics["calibration"]["label_offsets"]
    assert cal["share"] == 0.5 and cal["folded_into_head"] is True
    settings = ModelSettings.of(run.predictor().config)
    assert settings.label_offsets == cal["offsets"] and settings.label_offsets_folded
    assert all(o <= 0 for o in cal["offsets"]) and any(o < 0 for o in cal["offsets"])
    assert run.predictor().offsets.tolist() == [0.0] * 4   # folded: nothing added at predict time
    probs = run.predictor().predict_proba(frame["text"].tolist())
    np.testing.assert_allclose(probs, frame[[f"prob_{n}" for n in EMOTIONS]].to_numpy(), atol=2e-5)
    assert "lowered by 0.5 x the log of the positive weight" in (run.path / "report.md").read_text()


def test_label_offsets_not_folded_are_added_at_predict_time():
    from textclf.model_settings import ModelSettings

    s = ModelSettings(label_offsets=[-0.5, -1.0], label_offsets_folded=False)
    assert s.logit_offsets(["a", "b"]) == [-0.5, -1.0]
    assert ModelSettings(label_offsets=[-0.5, -1.0]).logit_offsets(["a", "b"]) == [0.0, 0.0]


def test_pos_weight_offsets_and_their_fold_into_the_head(tiny_model_dir):
    import torch

    from textclf.data.labels import LabelSpace
    from textclf.evaluation.calibration import fold_logit_offsets, pos_weight_offsets
    from textclf.models.base import load_classifier

    assert pos_weight_offsets([1.0, np.e ** 2, 30.0]) == pytest.approx([0.0, -1.0, -0.5 * np.log(30)])
    model = load_classifier(str(tiny_model_dir), labels=LabelSpace.from_values(["a", "b", "c"]))
    before = model.classifier.bias.detach().clone()
    assert fold_logit_offsets(model, [0.0, -1.0, -2.0])
    torch.testing.assert_close(model.classifier.bias.detach() - before, torch.tensor([0.0, -1.0, -2.0]))


def test_thresholds_round_trip_through_the_saved_model(multilabel_run, tmp_path):
    run, data = multilabel_run
    p = textclf.load(run.path)
    saved = json.loads((run.model_dir / "config.json").read_text())["textclf"]["thresholds"]
    assert p.thresholds == saved
    texts = ["comment joyword loveword", "comment fearword"]
    probs = p.predict_proba(texts)
    preds = p.predict(texts)
    for row, pred in zip(probs, preds):
        expect = {EMOTIONS[j] for j in range(4) if row[j] >= saved[j]}
        assert {q["label"] for q in pred} == expect
    everything = p.predict(texts, threshold=0.0)
    assert all(len(x) == 4 for x in everything)
    assert len(p.predict(texts[0], top_k=None)) == 4
    # evaluate and predict_file use the same thresholds; --threshold overrides
    m = evaluate(str(run.path), DataConfig(train=str(data), label_names=",".join(EMOTIONS)), quiet=True)
    assert m["per_class"]["joy"]["threshold"] == saved[0]
    m1 = evaluate(str(run.path), DataConfig(train=str(data)), quiet=True, threshold=0.999)
    assert m1["predicted_cardinality"] < m["predicted_cardinality"]
    out = tmp_path / "pred.jsonl"
    predict_file(str(run.path), str(data), str(out))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert set(rows[0]) >= {"labels", *(f"prob_{n}" for n in EMOTIONS)}


def test_multilabel_model_loads_in_plain_pipeline(multilabel_run):
    from transformers import pipeline

    run, _ = multilabel_run
    clf = pipeline("text-classification", model=str(run.model_dir), top_k=None)
    out = clf(["comment joyword"])[0]
    ours = textclf.load(run.path).predict("comment joyword", top_k=None)
    assert {o["label"] for o in out} == set(EMOTIONS)
    got = {o["label"]: o["score"] for o in out}
    for o in ours:   # the pipeline applies sigmoid for multi-label models, like we do
        assert got[o["label"]] == pytest.approx(o["score"], abs=1e-5)


def test_fit_thresholds_picks_the_best_f1_and_falls_back_for_rare_labels():
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 1], [1, 0], [0, 0], [1, 0], [1, 0]])
    probs = np.array([[0.3, 0.9], [0.35, 0.1], [0.1, 0.2], [0.2, 0.8], [0.32, 0.1], [0.05, 0.1],
                      [0.4, 0.1], [0.31, 0.1]])
    t = fit_thresholds(y, probs)
    assert 0.2 < t[0] <= 0.3          # every positive is >= 0.3, every negative < 0.25
    assert t[1] == 0.5                # one positive: too few to tune


def test_window_aggregation(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    long = " ".join(f"word{i}" for i in range(200))
    feats = encode(tok, [long, "short text"], max_length=32, long_text="chunk", stride=8)
    assert feats.doc[-1] == 1 and feats.doc.count(0) > 3
    assert max(feats.lengths) <= 32
    logits = np.arange(len(feats) * 2, dtype=np.float32).reshape(-1, 2)
    mean = aggregate(logits, feats.doc, 2)
    assert np.allclose(mean[0], logits[:-1].mean(0)) and np.allclose(mean[1], logits[-1])
    assert np.allclose(aggregate(logits, feats.doc, 2, "max")[0], logits[:-1].max(0))


def test_chunk_run_predicts_per_document(tiny_config, tmp_path):
    rows = [{"review": ("great film " if i % 2 else "awful film ") * 40 + str(i),
             "sentiment": "positive" if i % 2 else "negative"} for i in range(80)]
    p = tmp_path / "reviews.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    run = textclf.train(tiny_config(p, long_text="chunk", stride=8, max_length=32), quiet=True)
    assert run.metrics["training"]["train_windows"] > 3 * run.metrics["training"]["train_rows"]
    pred = textclf.load(run.path)
    assert pred.long_text == "chunk"
    assert pred.predict_proba([rows[0]["review"], "great"]).shape == (2, 2)


def test_pair_run_and_predict(tiny_config, tmp_path, capsys, monkeypatch):
    rows = [{"premise": f"a man plays guitar {i}", "hypothesis": ("a man plays music" if i % 2 else
             "nobody plays"), "label": "entailment" if i % 2 else "contradiction"} for i in range(80)]
    p = tmp_path / "nli.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    run = textclf.train(tiny_config(p), quiet=True)
    pred = textclf.load(run.path)
    assert pred.text_pair
    one = pred.predict("a man plays guitar", "a man plays music")
    assert one["label"] in ("entailment", "contradiction")
    batch = pred.predict_proba(["a b", "c d"], ["e", "f"])
    pair_first = pred.predict_proba(["a b"], ["e"])
    assert np.allclose(batch[0], pair_first[0], atol=1e-5)
    out = tmp_path / "out.csv"
    predict_file(str(run.path), str(p), str(out))
    assert "label" in pd.read_csv(out).columns
    single = tmp_path / "single.csv"
    pd.DataFrame({"text": ["only one text"]}).to_csv(single, index=False)
    with pytest.raises(DataError, match="text pairs"):
        predict_file(str(run.path), str(single), str(tmp_path / "x.csv"))
    # the CLI: --pair A B C D classifies two pairs; a lone text is refused with one sentence
    code, out, _ = run_cli(["predict", str(run.path), "--pair", "a man plays", "music", "x", "y"],
                           capsys, monkeypatch)
    assert code == 0 and len(out.strip().splitlines()) == 2 and "a man plays || music" in out
    code, _, err = run_cli(["predict", str(run.path), "a lone text"], capsys, monkeypatch)
    assert code == 2 and "text pairs" in err
