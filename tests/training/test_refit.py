"""refit: after the first fit, a fresh model trained on train + validation for the kept epoch
count carries the first model's validation decisions and becomes the run's model."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import EMOTIONS, multilabel_frame, write_sms_csv

SETTINGS = dict(epochs=3, batch_size=8, max_length=32, learning_rate=1e-2, freeze="none", baseline=False, early_stopping_patience=0)


def _config(model_dir, train, out, **kw):
    from textclf.config import DataConfig, TrainConfig

    return TrainConfig(data=DataConfig(train=str(train), **kw.pop("data", {})), model=str(model_dir),
                       output=str(out), **{**SETTINGS, **kw})


@pytest.fixture(scope="module")
def sms_runs(tiny_model_dir, tmp_path_factory):
    """The same binary run without and with refit: (plain Run, refit Run, config of the refit)."""
    import textclf

    tmp = tmp_path_factory.mktemp("refit-sms")
    data = write_sms_csv(tmp / "sms.csv")
    plain = textclf.train(_config(tiny_model_dir, data, tmp / "plain", refit=False), quiet=True)
    cfg = _config(tiny_model_dir, data, tmp / "refit", refit=True)
    return plain, textclf.train(cfg, quiet=True), cfg


def _split_rows(cfg) -> dict:
    from textclf.data.prepare import prepare
    return {name: len(s.texts) for name, s in prepare(cfg.data, seed=cfg.seed).splits.items()}


def _losses_and_scores(lines: list) -> str:
    return json.dumps([{k: v for k, v in e.items() if k not in ("seconds", "samples_per_s")} for e in lines])


def _weights(run) -> dict:
    from safetensors.numpy import load_file
    return load_file(str(run.model_dir / "model.safetensors"))


def _predictor_matches_predictions(run) -> np.ndarray:
    """The saved model, loaded by Predictor, gives the probabilities in test_predictions.csv."""
    df = pd.read_csv(run.path / "test_predictions.csv")
    probs = run.predictor().predict_proba(df["text"].tolist())
    cols = [c for c in df.columns if c.startswith("prob_")]
    np.testing.assert_allclose(probs, df[cols].to_numpy(), atol=2e-5)
    return probs


def test_refit_trains_on_train_and_validation_for_the_kept_epochs(sms_runs):
    plain, refit, cfg = sms_runs
    rows = _split_rows(cfg)
    first, again = plain.metrics["training"], refit.metrics["training"]
    # the first fit is the plain run's: same seed, same split, same kept epoch and score
    for key in ("best_valid", "best_epoch", "epochs_run", "seed"):
        assert first[key] == again[key]
    assert _losses_and_scores(first["epochs"]) == _losses_and_scores(again["epochs"])
    assert "refit" not in first
    record = again["refit"]
    assert record["epochs"] == max(1, first["best_epoch"])
    assert record["rows"] == rows["train"] + rows["validation"] == record["windows"]
    assert record["seed"] == first["seed"] and record["seconds"] > 0
    assert [round(e["epoch"]) for e in record["epoch_lines"]] == list(range(1, record["epochs"] + 1))
    assert all("val_f1_positive" not in e for e in record["epoch_lines"])   # no evaluation
    said = f"refit on train + validation ({record['rows']} rows) for {record['epochs']} epoch"
    assert said in (refit.path / "report.md").read_text() and said not in (plain.path / "report.md").read_text()
    assert "refit on train + validation" in (refit.path / "report.html").read_text()


def test_refit_model_is_saved_with_the_validation_decisions(sms_runs):
    from textclf.model_settings import ModelSettings

    plain, refit, _ = sms_runs
    a, b = _weights(plain), _weights(refit)
    assert a.keys() == b.keys() and any(not np.array_equal(a[k], b[k]) for k in a)
    # temperature and decision come from the first model's validation logits, as in the plain run
    t = plain.metrics["calibration"]["temperature"]
    assert refit.metrics["calibration"]["temperature"] == t
    for key in ("ece_valid_before", "ece_valid_after"):
        assert refit.metrics["calibration"][key] == plain.metrics["calibration"][key]
    assert refit.metrics.get("decision") == plain.metrics.get("decision")
    saved = ModelSettings.of(refit.predictor().config)
    assert saved.temperature == t and saved.temperature_folded
    probs = _predictor_matches_predictions(refit)
    plain_probs = pd.read_csv(plain.path / "test_predictions.csv").filter(like="prob_").to_numpy()
    assert not np.allclose(probs, plain_probs, atol=1e-4)   # the test split is the refit model's
    assert refit.metrics["test"]["n"] == plain.metrics["test"]["n"]
    assert not (refit.path / "checkpoints").exists()


def test_binary_decision_offset_is_folded_into_the_refit_head(tiny_model_dir, tmp_path, monkeypatch):
    """Where the tuned binary threshold is applied, the refit model decides there too."""
    import textclf
    from textclf.evaluation import thresholds
    from textclf.model_settings import ModelSettings

    real = thresholds.tune_binary_threshold

    def applied(*a, **k):   # the tiny model rarely gains from a threshold: force one
        return {**real(*a, **k), "threshold": 0.3, "applied": True}
    monkeypatch.setattr(thresholds, "tune_binary_threshold", applied)
    data = write_sms_csv(tmp_path / "sms.csv")
    run = textclf.train(_config(tiny_model_dir, data, tmp_path / "run", refit=True, epochs=1), quiet=True)
    decision = run.metrics["decision"]
    assert decision["applied"] and decision["folded_into_head"]
    assert ModelSettings.of(run.predictor().config).decision.logit_offset == decision["logit_offset"]
    probs = _predictor_matches_predictions(run)
    # the head itself carries T and the offset: plain transformers gives the run's probabilities
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    df = pd.read_csv(run.path / "test_predictions.csv")
    model = AutoModelForSequenceClassification.from_pretrained(run.model_dir).eval()
    tok = AutoTokenizer.from_pretrained(run.model_dir)
    with torch.no_grad():
        logits = model(**tok(df["text"].tolist(), padding=True, truncation=True, max_length=32,
                             return_tensors="pt")).logits
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), probs, atol=1e-4)


def test_multilabel_refit_keeps_the_validation_thresholds(tiny_model_dir, tmp_path):
    import textclf
    from textclf.model_settings import ModelSettings

    p = tmp_path / "ml.csv"
    multilabel_frame(200).to_csv(p, index=False)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(EMOTIONS))
    kw = dict(data={"label_names": str(names)}, batch_size=16, epochs=2)
    plain = textclf.train(_config(tiny_model_dir, p, tmp_path / "plain", refit=False, **kw), quiet=True)
    cfg = _config(tiny_model_dir, p, tmp_path / "refit", refit=True, **kw)
    refit = textclf.train(cfg, quiet=True)
    rows = _split_rows(cfg)
    assert refit.metrics["training"]["refit"]["rows"] == rows["train"] + rows["validation"]
    assert refit.metrics["training"]["refit"]["epochs"] == max(1, plain.metrics["training"]["best_epoch"])
    saved = ModelSettings.of(refit.predictor().config)
    assert saved.thresholds == ModelSettings.of(plain.predictor().config).thresholds
    assert saved.temperature == plain.metrics["calibration"]["temperature"]
    assert refit.predictor().thresholds == saved.thresholds
    _predictor_matches_predictions(refit)
    a, b = _weights(plain), _weights(refit)
    assert any(not np.array_equal(a[k], b[k]) for k in a)


def test_killed_refit_resumes_without_training_the_first_fit_again(sms_runs, tmp_path, monkeypatch):
    """Killed after the refit's first checkpoint: --resume trains the refit on from there (the
    first fit is not trained again) and ends with the uninterrupted refit run's results."""
    import textclf
    from textclf.training import checkpoints, trainer as tr

    _, whole, cfg = sms_runs
    real_save = checkpoints.Checkpoints.on_save

    def die_after_first_refit_checkpoint(self, args, state, control, **kwargs):
        real_save(self, args, state, control, **kwargs)
        if args.output_dir.endswith("refit"):
            raise KeyboardInterrupt
    monkeypatch.setattr(checkpoints.Checkpoints, "on_save", die_after_first_refit_checkpoint)
    cut = cfg.model_copy(update={"output": str(tmp_path / "cut"), "save_steps": 3})
    with pytest.raises(KeyboardInterrupt):
        textclf.train(cut, quiet=True)
    monkeypatch.undo()
    folder = tmp_path / ".cut.partial" / "checkpoints" / "refit"
    assert [p.name for p in folder.iterdir()] == ["checkpoint-3"]

    real_train, trained = tr.ClassifierTrainer.train, []
    monkeypatch.setattr(tr.ClassifierTrainer, "train", lambda self, *a, **k:
                        trained.append((self.args.output_dir, k.get("resume_from_checkpoint")))
                        or real_train(self, *a, **k))
    resumed = textclf.train(cut.model_copy(update={"resume": True}), quiet=True)
    assert trained == [(str(folder), str(folder / "checkpoint-3"))]
    assert resumed.metrics["test"] == whole.metrics["test"]
    assert resumed.metrics["calibration"] == whole.metrics["calibration"]
    for key in ("epochs", "rows", "seed"):
        assert resumed.metrics["training"]["refit"][key] == whole.metrics["training"]["refit"][key]
    assert (resumed.path / "test_predictions.csv").read_text() == \
        (whole.path / "test_predictions.csv").read_text()


def test_cli_refit_flag_and_yaml_key(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from textclf.cli import main

    data = write_sms_csv(tmp_path / "sms.csv")
    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["textclf", "train", str(data), "--model", str(tiny_model_dir),
                                      "--output", str(run), "--epochs", "1", "--max-length", "32",
                                      "--no-baseline", "--refit"])
    main()
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    rows = metrics["training"]["refit"]["rows"]
    assert f"refitting on train + validation ({rows} rows) for 1 epoch" in out
    assert "refit: true" in (run / "config.yaml").read_text()
    # the YAML key, and --no-refit over it
    config = tmp_path / "config.yaml"
    config.write_text((run / "config.yaml").read_text())
    from textclf.config import TrainConfig
    assert TrainConfig.from_yaml(config).refit
    assert not TrainConfig.from_yaml(config, refit=False).refit
    monkeypatch.setattr(sys, "argv", ["textclf", "train", str(data), "--config", str(config),
                                      "--output", str(tmp_path / "no"), "--no-refit"])
    main()
    assert "refitting" not in capsys.readouterr().out
    assert "refit" not in json.loads((tmp_path / "no" / "metrics.json").read_text())["training"]


def test_cli_help_shows_refit_with_its_default(capsys, monkeypatch):
    from textclf.cli import main

    monkeypatch.setattr(sys, "argv", ["textclf", "train", "--help"])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert re.search(r"--refit --no-refit .*? train again on train \+ validation .*?\[default: when the training split has fewer than 2000 rows", out)


def test_two_gloo_processes_refit_together(tiny_model_dir, tmp_path):
    """torchrun: every process trains the refit, rank 0 alone reports and writes the run."""
    import subprocess

    data = write_sms_csv(tmp_path / "sms.csv")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           "2", "-m", "textclf", "train", str(data), "--model", str(tiny_model_dir),
                           "--epochs", "3", "--lr", "1e-2", "--freeze", "none", "--max-length", "32",
                           "--no-baseline", "--batch-size", "4", "--refit", "-o", str(tmp_path / "two")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    record = metrics["training"]["refit"]
    assert proc.stdout.count("refitting on train + validation") == 1
    epoch_lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == len(metrics["training"]["epochs"]) + record["epochs"]
    rows = _split_rows(_config(tiny_model_dir, data, tmp_path / "two"))
    assert record["rows"] == rows["train"] + rows["validation"]
    assert not list(tmp_path.glob(".two.partial*"))

    from textclf.api import Run
    _predictor_matches_predictions(Run(tmp_path / "two", metrics))


def test_refit_without_a_labelled_test_split_is_refused(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Test metrics would be computed on validation, which the refit trains on: one sentence, exit 2."""
    from textclf.cli import main

    data = write_sms_csv(tmp_path / "sms.csv")
    texts = tmp_path / "texts.csv"
    pd.read_csv(data)[["message"]].head(20).to_csv(texts, index=False)
    monkeypatch.setattr(sys, "argv", ["textclf", "train", str(data), "--test", str(texts),
                                      "--model", str(tiny_model_dir), "--output", str(tmp_path / "run"),
                                      "--refit"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no labels" in err and "--refit" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run.partial*"))


def test_by_default_only_small_training_splits_with_a_labelled_test_split_refit():
    from types import SimpleNamespace

    from textclf.config import SMALL_SET_BELOW, DataConfig, TrainConfig
    from textclf.training.refit import wants_refit

    def data(rows, labelled_test=True):
        return SimpleNamespace(splits={"train": SimpleNamespace(texts=["t"] * rows)},
                               test_is_validation=not labelled_test)

    auto, on, off = (TrainConfig(data=DataConfig(train="x.csv"), refit=r) for r in (None, True, False))
    assert wants_refit(auto, data(SMALL_SET_BELOW - 1)) and not wants_refit(auto, data(SMALL_SET_BELOW))
    assert not wants_refit(auto, data(10, labelled_test=False))     # validation stands in for test
    assert wants_refit(on, data(SMALL_SET_BELOW * 10)) and not wants_refit(off, data(10))
