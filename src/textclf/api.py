"""The public API: train(config) -> Run, evaluate(model, data) -> metrics, predict_file(...)."""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from textclf import runs
from textclf.config import DataConfig, TrainConfig
from textclf.data.checks import data_report, print_report
from textclf.data.prepare import prepare
from textclf.evaluation.baseline import tfidf_baseline
from textclf.evaluation.metrics import (classification_metrics, paired_comparison, primary_score,
                                        softmax)
from textclf.evaluation.report import plot_confusion, print_metrics, run_report, verdict_line

console = Console(stderr=False)


@dataclass
class Run:
    path: Path
    metrics: dict

    @property
    def model_dir(self) -> Path:
        return self.path / runs.MODEL_DIR

    def predictor(self):
        from textclf.inference.predictor import Predictor
        return Predictor.load(self.model_dir)


def train(cfg: TrainConfig, *, quiet: bool = False) -> Run:
    import torch
    from transformers import set_seed

    from textclf.inference.predictor import batched_logits
    from textclf.models.base import load_classifier, load_tokenizer
    from textclf.models.freezing import apply_freezing
    from textclf.training.losses import class_weights
    from textclf.training.trainer import build_trainer, to_dataset

    say = (lambda *a, **k: None) if quiet else console.print
    final = runs.check_output(cfg.output, cfg.overwrite)
    data = prepare(cfg.data, seed=cfg.seed)
    labels = data.labels
    tokenizer = load_tokenizer(cfg.model)
    report = data_report(data, tokenizer, cfg.max_length)
    if not quiet:
        print_report(report, console)

    set_seed(cfg.seed)
    model = load_classifier(cfg.model, labels=labels)
    counts = apply_freezing(model, cfg.freeze, cfg.unfreeze_last)
    tr, va, te = (data.splits[s] for s in ("train", "validation", "test"))
    y = {s: labels.encode(data.splits[s].labels, source=f"The {s} split") for s in data.splits}
    weights = class_weights(y["train"], len(labels.names), cfg.class_weights)
    say(f"task {labels.task}, labels {', '.join(labels.names)}"
        + (f" (positive: {labels.positive})" if labels.positive else "")
        + f"; trainable params {counts['trainable']:,}/{counts['total']:,}"
        + (f"; class weights {', '.join(f'{w:.2f}' for w in weights)}" if weights else ""))

    train_ds = to_dataset(tokenizer, tr.texts, y["train"], cfg.max_length)
    valid_ds = to_dataset(tokenizer, va.texts, y["validation"], cfg.max_length)
    # validation order does not matter to its metric: sort by length so eval batches barely pad
    valid_ds = valid_ds.select(np.argsort([len(x) for x in valid_ds["input_ids"]], kind="stable"))
    final.parent.mkdir(parents=True, exist_ok=True)
    with runs.atomic_dir(final, overwrite=cfg.overwrite) as tmp:
        (tmp / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        runs.write_json(tmp / "splits.json", {"seed": cfg.seed, **data.split_ids()})
        trainer, summary = build_trainer(cfg, model, tokenizer, train_ds, valid_ds, labels,
                                         str(tmp / "checkpoints"), weights, print_fn=say)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        model = trainer.model
        model.config.textclf = {"positive_label": labels.positive, "max_length": cfg.max_length,
                                "base_model": cfg.model, "task": labels.task}
        model.save_pretrained(tmp / runs.MODEL_DIR, safe_serialization=True)
        tokenizer.save_pretrained(tmp / runs.MODEL_DIR)
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)

        say("scoring the test split ...")
        probs = softmax(batched_logits(model, tokenizer, te.texts, max_length=cfg.max_length))
        metrics = {"test": classification_metrics(y["test"], probs, labels)}
        if cfg.baseline:
            def score_fn(t, p):
                return primary_score(t, p, labels)
            base = tfidf_baseline(tr.texts, y["train"], va.texts, y["validation"], te.texts,
                                  len(labels.names), score_fn)
            metrics["baseline"] = classification_metrics(y["test"], base["probs"], labels)
            metrics["baseline"]["C"] = base["C"]
            metrics["baseline"]["seconds"] = base["seconds"]
            metrics["comparison"] = paired_comparison(y["test"], probs, base["probs"])
        best_valid = trainer.state.best_metric
        best_epoch = next((round(h["epoch"]) for h in trainer.state.log_history
                           if h.get(f"eval_{labels.primary_metric}") == best_valid), None)
        metrics["training"] = {"seconds": seconds, "epochs_run": trainer.state.epoch,
                               "best_epoch": best_epoch, "best_valid": best_valid,
                               "train_rows": len(tr.texts), "epochs": summary.lines}
        metrics["data"] = report
        runs.write_json(tmp / "metrics.json", metrics)
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as f:
            for h in trainer.state.log_history:
                f.write(json.dumps(h) + "\n")
        _write_predictions(tmp / "test_predictions.csv", te.texts, te.labels, probs, labels.names)
        plot_confusion(metrics["test"], tmp / "confusion_matrix.png")
        (tmp / "report.md").write_text(run_report(final.name, cfg, metrics, report), encoding="utf-8")
    if not quiet:
        print_metrics(console, metrics["test"], metrics.get("baseline"))
        if "baseline" in metrics:
            say(verdict_line(metrics["test"], metrics["baseline"], metrics.get("comparison")))
        say(f"run saved to [bold]{final}[/] (model: {final / runs.MODEL_DIR})")
    return Run(final, metrics)


def _write_predictions(path, texts, true, probs, names) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", *(["true_label"] if true is not None else []), "label", "score",
                    *[f"prob_{n}" for n in names]])
        for i, t in enumerate(texts):
            j = int(np.argmax(probs[i]))
            w.writerow([t, *([true[i]] if true is not None else []), names[j], f"{probs[i, j]:.6f}",
                        *[f"{p:.6f}" for p in probs[i]]])


def evaluate(model_path: str, data_cfg: DataConfig, *, quiet: bool = False) -> dict:
    """Score a saved model on every row of a labelled file."""
    from textclf.data.load import load_labelled
    from textclf.inference.predictor import Predictor

    predictor = Predictor.load(model_path)
    d = load_labelled(data_cfg.train, text_col=data_cfg.text_col, label_col=data_cfg.label_col,
                      no_header=data_cfg.no_header, columns=data_cfg.columns, sep=data_cfg.sep)
    if data_cfg.normalize_labels:   # map case/space variants onto the model's own spelling
        from textclf.data.labels import match_labels
        d.labels = match_labels(d.labels, predictor.labels.names)
    y = predictor.labels.encode(d.labels, source=str(data_cfg.train))
    probs = predictor.predict_proba(d.texts, progress=not quiet)
    m = classification_metrics(y, probs, predictor.labels)
    if not quiet:
        print_metrics(console, m, title=f"Evaluation on {Path(data_cfg.train).name}")
    return m


def predict_file(model_path: str, input_path: str, output_path: str, *, text_col: str | None = None,
                 overwrite: bool = False, max_batch_tokens: int = 8192) -> int:
    """Read a CSV/JSONL/... file, write the same rows plus label, score, prob_<class> columns."""
    from textclf.data.load import TEXT_NAMES, pick_column, read_table
    from textclf.errors import DataError
    from textclf.inference.predictor import Predictor

    out = runs.check_output(output_path, overwrite)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".tsv"):
        raise DataError(f"Output {out} must end in .csv, .tsv or .jsonl.")
    predictor = Predictor.load(model_path)
    df = read_table(input_path)
    col = pick_column(df, text_col, TEXT_NAMES, "text", "--text-col")
    texts = df[col].fillna("").astype(str).tolist()
    probs = predictor.predict_proba(texts, max_batch_tokens=max_batch_tokens, progress=True)
    names = predictor.labels.names
    best = probs.argmax(axis=1)
    df["label"] = [names[j] for j in best]
    df["score"] = probs[np.arange(len(texts)), best]
    for j, n in enumerate(names):
        df[f"prob_{n}"] = probs[:, j]
    tmp = out.with_name(f".{out.name}.partial")
    if suffix == ".jsonl":
        df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    else:
        df.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
    tmp.replace(out)
    return len(df)
