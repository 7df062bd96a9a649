"""End-to-end on the tiny random model: artifact layout, interop, prediction round trip."""
import csv
import json

import numpy as np
import pytest
import yaml

import textclf
from textclf import runs
from textclf.api import evaluate, predict_file
from textclf.config import DataConfig
from textclf.errors import DataError, OutputExistsError


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from conftest import train_tiny_sms

    return train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("data"))


def test_run_dir_layout(trained):
    run, _ = trained
    for f in runs.FILES + ("confusion_matrix.png",):
        assert (run.path / f).exists(), f
    assert (run.model_dir / "model.safetensors").exists()
    assert not list(run.model_dir.glob("*.bin"))
    assert not (run.path / "checkpoints").exists()
    assert not list(run.path.parent.glob(".run.partial-*"))
    m = json.loads((run.path / "metrics.json").read_text())
    assert set(m) >= {"test", "baseline", "training", "data"}
    assert m["test"]["n"] == sum(m["data"]["labels"]["test"].values())
    cfg = yaml.safe_load((run.path / "config.yaml").read_text())
    assert cfg["learning_rate"] == 5e-4 and cfg["data"]["train"].endswith("sms.csv")
    report = (run.path / "report.md").read_text()
    assert "TF-IDF + LR" in report and "Per class" in report


def test_splits_json_reproduces_test_rows(trained):
    run, data_path = trained
    splits = json.loads((run.path / "splits.json").read_text())
    rows = list(csv.DictReader(open(data_path)))
    with open(run.path / "test_predictions.csv") as f:
        preds = list(csv.DictReader(f))
    assert [rows[i]["message"] for i in splits["test"]["rows"]] == [p["text"] for p in preds]
    all_rows = sorted(i for s in ("train", "validation", "test") for i in splits[s]["rows"])
    assert all_rows == list(range(len(rows)))


def test_transformers_pipeline_loads_model_with_label_names(trained):
    from transformers import pipeline

    run, _ = trained
    pipe = pipeline("text-classification", model=str(run.model_dir))
    out = pipe(["win a free prize now", "see you at lunch"])
    assert {o["label"] for o in out} <= {"ham", "spam"}
    mine = textclf.load(run.path).predict(["win a free prize now", "see you at lunch"])
    for a, b in zip(out, mine):
        assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4


def test_predict_restores_input_order_after_length_sorting(trained):
    run, _ = trained
    p = textclf.load(run.model_dir)
    texts = ["short", "a much longer message about a free cash prize to claim now " * 3, "hi there"]
    batched = p.predict_proba(texts, max_batch_tokens=16)   # forces one text per batch
    one_by_one = np.concatenate([p.predict_proba([t]) for t in texts])
    assert np.allclose(batched, one_by_one, atol=1e-5)
    all_scores = p.predict(texts, top_k=None)
    assert all(abs(sum(s["score"] for s in row) - 1) < 1e-5 for row in all_scores)
    assert p.predict("hello")["label"] in ("ham", "spam")


def test_predict_file_roundtrip_and_refuses_to_overwrite(trained, tmp_path):
    run, data_path = trained
    out = tmp_path / "pred.csv"
    summary = predict_file(str(run.path), str(data_path), str(out))
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 90 and summary.startswith("wrote 90 predictions")
    assert set(rows[0]) >= {"label", "message", "score", "prob_ham", "prob_spam"}
    assert abs(float(rows[0]["prob_ham"]) + float(rows[0]["prob_spam"]) - 1) < 1e-5
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        predict_file(str(run.path), str(data_path), str(out))
    assert out.read_bytes() == before
    jl = tmp_path / "pred.jsonl"
    predict_file(str(run.path), str(data_path), str(jl))
    assert len(jl.read_text().splitlines()) == 90


def test_evaluate_scores_file_and_rejects_unknown_labels(trained, tmp_path):
    run, data_path = trained
    m = evaluate(str(run.path), DataConfig(train=str(data_path)), quiet=True)
    assert m["n"] == 90 and 0 <= m["f1_positive"] <= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("label,message\nham,hello\neggs,what\n")
    with pytest.raises(DataError, match="does not know \\('eggs'\\)"):
        evaluate(str(run.path), DataConfig(train=str(bad)), quiet=True)


def test_existing_run_is_refused_and_left_intact(trained, tiny_config):
    run, data_path = trained
    cfg = tiny_config(data_path, output=str(run.path))
    before = (run.path / "metrics.json").read_bytes()
    with pytest.raises(OutputExistsError):
        textclf.train(cfg)
    assert (run.path / "metrics.json").read_bytes() == before


def test_interrupted_run_leaves_nothing_that_looks_finished(sms_csv, tiny_config, monkeypatch):
    import pathlib

    from textclf import runs
    from textclf.training import trainer as tr

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(tr.ClassifierTrainer, "train", boom)
    cfg = tiny_config(sms_csv)
    with pytest.raises(KeyboardInterrupt):
        textclf.train(cfg)
    out = pathlib.Path(cfg.output)
    partial = runs.partial_dir(out)
    assert not out.exists()
    assert partial.is_dir() and not runs.is_run(partial)   # kept for --resume, not a run
    assert (partial / "config.yaml").exists() and (partial / "splits.json").exists()
    monkeypatch.undo()
    with pytest.raises(OutputExistsError, match="--resume"):   # neither resumed nor replaced by accident
        textclf.train(cfg)


def test_evaluate_normalize_maps_onto_the_models_spelling(trained, tmp_path):
    run, _ = trained
    f = tmp_path / "variants.csv"
    f.write_text("label,message\nHAM,hello there\n Spam ,win cash now\nham,ok\n")
    m = evaluate(str(run.path), DataConfig(train=str(f), normalize_labels=True), quiet=True)
    assert m["n"] == 3 and m["per_class"]["spam"]["support"] == 1


def test_restarts_keep_the_best_on_validation_and_save_that_model(trained, tiny_model_dir, tmp_path):
    from sklearn.metrics import f1_score

    from conftest import train_tiny_sms

    single, _ = trained
    run, data_path = train_tiny_sms(tiny_model_dir, tmp_path, restarts=3, tune_threshold=False)
    t = run.metrics["training"]
    assert [r["seed"] for r in t["restarts"]] == [42, 43, 44]
    scores = [r["best_valid"] for r in t["restarts"]]
    kept = scores.index(max(scores))            # the first of the best
    assert t["seed"] == 42 + kept and t["best_valid"] == max(scores)
    # restart 1 is the plain run: same split, same init, same score
    assert abs(scores[0] - single.metrics["training"]["best_valid"]) < 1e-9
    def rows_of(r):
        return {k: v["rows"] for k, v in json.loads((r.path / "splits.json").read_text()).items()
                if k != "seed"}
    assert rows_of(run) == rows_of(single)
    # the saved model is the kept one: its validation score is the kept restart's
    rows = list(csv.DictReader(open(data_path)))
    valid = [rows[i] for i in json.loads((run.path / "splits.json").read_text())["validation"]["rows"]]
    pred = [p["label"] for p in textclf.load(run.path).predict([r["message"] for r in valid])]
    got = f1_score([r["label"] for r in valid], pred, pos_label="spam", zero_division=0)
    assert run.metrics["test"]["primary_metric"] == "f1_positive"
    assert abs(got - t["best_valid"]) < 1e-9
    assert not (run.path / "checkpoints").exists()
