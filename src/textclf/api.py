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
from textclf.evaluation.baseline import join_pairs, tfidf_baseline
from textclf.evaluation.calibration import calibrate, fold_logit_offset, fold_temperature
from textclf.evaluation.metrics import (classification_metrics, multilabel_metrics,
                                        paired_comparison, softmax)
from textclf.evaluation.report import (calibration_line, decision_line, plot_results, print_metrics,
                                       run_report, verdict_line)
from textclf.errors import DataError
from textclf.evaluation.thresholds import (apply_thresholds, sigmoid, threshold_offset,
                                          tune_binary_threshold, tune_thresholds)

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


def _targets(labels, split, name: str):
    return np.asarray(labels.encode(split.labels, source=f"The {name} split"))


def score(y, probs, labels, thresholds=None, train_counts=None) -> dict:
    """The task's metrics for one set of predictions."""
    if labels.multi_label:
        return multilabel_metrics(y, probs, labels, thresholds, train_counts)
    return classification_metrics(y, probs, labels)


def train(cfg: TrainConfig, *, quiet: bool = False) -> Run:
    from transformers import set_seed

    from textclf.data.features import encode
    from textclf.inference.predictor import batched_logits
    from textclf.models.base import load_classifier, load_tokenizer, quiet_transformers
    from textclf.models.freezing import apply_freezing
    from textclf.training.losses import class_weights, pos_weights
    from textclf.training.trainer import build_trainer, doc_metric, strata_of, to_dataset

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
    y = {s: _targets(labels, data.splits[s], s) for s in data.splits}
    if labels.multi_label:
        weights = pos_weights(y["train"], cfg.class_weights)
    else:
        weights = class_weights(y["train"].tolist(), len(labels.names), cfg.class_weights)
    say(f"task {labels.task}{' (text pairs)' if data.has_pairs else ''}, "
        + (f"{len(labels.names)} labels" if labels.multi_label else f"labels {', '.join(labels.names)}")
        + (f" (positive: {labels.positive})" if labels.positive else "")
        + f"; trainable params {counts['trainable']:,}/{counts['total']:,}"
        + (f"; {'pos' if labels.multi_label else 'class'} weights "
           f"{', '.join(f'{w:.2f}' for w in weights[:8])}{' ...' if len(weights) > 8 else ''}"
           if weights else ""))

    enc = dict(max_length=cfg.max_length, long_text=cfg.long_text, stride=cfg.stride)
    train_feats = encode(tokenizer, tr.texts, tr.pairs, **enc)
    train_ds, _ = to_dataset(train_feats, y["train"])
    valid_ds, valid_doc = to_dataset(encode(tokenizer, va.texts, va.pairs, **enc), y["validation"],
                                     sort_by_length=True)
    if len(train_ds) > len(tr.texts):
        say(f"long texts split into windows: {len(train_ds)} training windows from {len(tr.texts)} texts")
    strata = strata_of(np.asarray(train_ds["labels"])) if labels.multi_label else None
    final.parent.mkdir(parents=True, exist_ok=True)
    with runs.atomic_dir(final, overwrite=cfg.overwrite) as tmp:
        (tmp / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        runs.write_json(tmp / "splits.json", {"seed": cfg.seed, **data.split_ids()})
        start = time.perf_counter()
        trainer, summary, kept, restarts = None, None, 0, []
        for k in range(cfg.restarts):
            seed = cfg.seed + k   # the split stays the one cfg.seed drew; init and batch order vary
            if k:
                set_seed(seed)
                model = load_classifier(cfg.model, labels=labels)
                apply_freezing(model, cfg.freeze, cfg.unfreeze_last)
            if cfg.restarts > 1:
                say(f"restart {k + 1}/{cfg.restarts} (seed {seed})")
            tried, tried_summary = build_trainer(
                cfg.model_copy(update={"seed": seed}), model, tokenizer, train_ds, valid_ds, labels,
                str(tmp / "checkpoints" / f"restart-{k}"), weights,
                doc_metric(labels, y["validation"], valid_doc, cfg.aggregate), strata=strata,
                print_fn=say)
            with quiet_transformers(warnings=True):   # no 'Writing model shards' bar per checkpoint
                tried.train()
            restarts.append({"seed": seed, "best_valid": tried.state.best_metric,
                             "best_epoch": _best_epoch(tried, labels.primary_metric)})
            # BERT's recipe for small sets: several restarts, keep the best on validation (ties: the first)
            if trainer is None or tried.state.best_metric > trainer.state.best_metric:
                trainer, summary, kept = tried, tried_summary, k
            shutil.rmtree(tmp / "checkpoints" / f"restart-{k}", ignore_errors=True)
        seconds = time.perf_counter() - start
        model = trainer.model
        if cfg.restarts > 1:
            say(f"kept restart {kept + 1} (seed {trainer.args.seed}): validation "
                f"{labels.primary_metric} " + ", ".join(
                    f"{'[bold]' if i == kept else ''}{r['best_valid']:.4f}{'[/]' if i == kept else ''}"
                    for i, r in enumerate(restarts)))

        def logits_of(split):
            return batched_logits(model, tokenizer, split.texts, pairs=split.pairs,
                                  aggregate_how=cfg.aggregate, **enc)
        say("calibrating on the validation split and scoring the test split ...")
        valid_logits, test_logits = logits_of(va), logits_of(te)
        # temperature scaling: one T fitted on validation NLL; argmax (accuracy) is unchanged
        calibration = calibrate(valid_logits, y["validation"], test_logits, y["test"],
                                labels.multi_label)
        t = calibration["temperature"]
        # folded into the head's weights, so plain pipeline() and ONNX see calibrated logits too
        folded = fold_temperature(model, t)
        calibration["folded_into_head"] = folded
        valid_logits, test_logits = valid_logits / t, test_logits / t
        thresholds = None
        if labels.multi_label:   # per-label thresholds, tuned on validation, saved with the model
            thresholds = tune_thresholds(y["validation"], sigmoid(valid_logits))
        decision = None
        if labels.task == "binary" and cfg.tune_threshold:
            decision = _decision_threshold(model, labels, valid_logits, test_logits, y["validation"])
        model.config.textclf = {"positive_label": labels.positive, "primary_metric": labels.primary_metric,
                                "max_length": cfg.max_length,
                                "base_model": cfg.model, "task": labels.task,
                                "text_pair": data.has_pairs, "long_text": cfg.long_text,
                                "stride": cfg.stride, "aggregate": cfg.aggregate,
                                "temperature": t, "temperature_folded": folded,
                                "thresholds": thresholds, "decision": decision}
        with quiet_transformers(warnings=True):
            model.save_pretrained(tmp / runs.MODEL_DIR, safe_serialization=True)
        tokenizer.save_pretrained(tmp / runs.MODEL_DIR)
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)

        probs = sigmoid(test_logits) if labels.multi_label else softmax(test_logits)
        train_counts = y["train"].sum(0) if labels.multi_label else None
        metrics = {"test": score(y["test"], probs, labels, thresholds, train_counts),
                   "calibration": calibration}
        if decision is not None:
            metrics["decision"] = decision
        if data.test_is_validation:
            metrics["test"]["scored_on"] = "validation (the test file has no labels)"
        if cfg.baseline:
            say("fitting the TF-IDF baseline ...")
            base = tfidf_baseline(join_pairs(tr.texts, tr.pairs), y["train"],
                                  join_pairs(va.texts, va.pairs), y["validation"],
                                  join_pairs(te.texts, te.pairs), labels)
            metrics["baseline"] = score(y["test"], base["probs"], labels, base["thresholds"],
                                        train_counts)
            metrics["baseline"]["C"] = base["C"]
            metrics["baseline"]["seconds"] = base["seconds"]
            metrics["comparison"] = paired_comparison(y["test"], probs, base["probs"],
                                                      thresholds, base["thresholds"])
        metrics["training"] = {"seconds": seconds, "epochs_run": trainer.state.epoch,
                               "best_epoch": _best_epoch(trainer, labels.primary_metric),
                               "best_valid": trainer.state.best_metric, "seed": trainer.args.seed,
                               "train_rows": len(tr.texts), "train_windows": len(train_ds),
                               "epochs": summary.lines}
        if cfg.restarts > 1:
            metrics["training"]["restarts"] = restarts
        metrics["data"] = report
        runs.write_json(tmp / "metrics.json", metrics)
        with open(tmp / "train_log.jsonl", "w", encoding="utf-8") as f:
            for h in trainer.state.log_history:
                f.write(json.dumps(h) + "\n")
        _write_predictions(tmp / "test_predictions.csv", te.texts, te.labels, probs, labels,
                           thresholds, te.pairs)
        plot_results(metrics["test"], tmp)
        (tmp / "report.md").write_text(run_report(final.name, cfg, metrics, report), encoding="utf-8")
    if not quiet:
        print_metrics(console, metrics["test"], metrics.get("baseline"))
        if "baseline" in metrics:
            say(verdict_line(metrics["test"], metrics["baseline"], metrics.get("comparison")))
        say(calibration_line(metrics["calibration"]))
        if "decision" in metrics:
            say(decision_line(metrics["decision"]))
        say(f"run saved to [bold]{final}[/] (model: {final / runs.MODEL_DIR})")
    return Run(final, metrics)


def _best_epoch(trainer, metric: str):
    best = trainer.state.best_metric
    return next((round(h["epoch"]) for h in trainer.state.log_history
                 if h.get(f"eval_{metric}") == best), None)


def _decision_threshold(model, labels, valid_logits, test_logits, y_valid) -> dict:
    """Binary tasks: tune the threshold on the positive probability on validation; where it
    beats 0.5 on held-out halves, shift the positive logit (in the head's bias when it has one)
    so argmax decides at that threshold. Shifts `valid_logits`/`test_logits` in place to match."""
    pos = labels.positive_id if labels.positive_id is not None else 1
    decision = tune_binary_threshold(np.asarray(y_valid) == pos, softmax(valid_logits)[:, pos],
                                     macro=labels.primary_metric == "macro_f1")
    decision.update(label=labels.names[pos], metric=labels.primary_metric)
    if decision["applied"]:
        offset = threshold_offset(decision["threshold"])
        decision["logit_offset"] = offset
        decision["folded_into_head"] = fold_logit_offset(model, pos, offset)
        valid_logits[:, pos] += offset
        test_logits[:, pos] += offset
    return decision


def prediction_columns(probs: np.ndarray, labels, thresholds=None,
                       min_confidence: float | None = None) -> dict[str, list]:
    """Output columns for predictions: label + score (single-label; a score below
    `min_confidence` makes the label "(abstain)") or labels (multi-label, comma-joined, those
    at/above their thresholds), then prob_<name> for every label."""
    from textclf.inference.predictor import ABSTAIN

    names = labels.names
    cols: dict[str, list] = {}
    if labels.multi_label:
        chosen = apply_thresholds(probs, thresholds)
        cols["labels"] = [",".join(n for n, c in zip(names, row) if c) for row in chosen]
    else:
        best = probs.argmax(axis=1)
        top = probs[np.arange(len(probs)), best]
        low = top < min_confidence if min_confidence is not None else np.zeros(len(top), bool)
        cols["label"] = [ABSTAIN if a else names[j] for j, a in zip(best, low)]
        cols["score"] = [round(float(v), 6) for v in top]
    for j, n in enumerate(names):
        cols[f"prob_{n}"] = [round(float(v), 6) for v in probs[:, j]]
    return cols


def _true_label(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else value


def _write_predictions(path, texts, true, probs, labels, thresholds=None, pairs=None) -> None:
    import pandas as pd

    df = pd.DataFrame({"text": texts})
    if pairs is not None:
        df["text_pair"] = pairs
    if true is not None:
        df["true_label"] = [_true_label(v) for v in true]
    for k, v in prediction_columns(probs, labels, thresholds).items():
        df[k] = v
    df.to_csv(path, index=False)


def evaluate(model_path: str, data_cfg: DataConfig, *, quiet: bool = False,
             threshold: float | None = None) -> dict:
    """Score a saved model on every row of a labelled file."""
    from textclf.data.load import load_labelled
    from textclf.inference.predictor import Predictor

    predictor = Predictor.load(model_path)
    space = predictor.labels
    d = load_labelled(data_cfg.train, text_col=data_cfg.text_col, label_col=data_cfg.label_col,
                      no_header=data_cfg.no_header, columns=data_cfg.columns, sep=data_cfg.sep,
                      text_pair_col=data_cfg.text_pair_col, label_cols=data_cfg.label_cols,
                      label_sep=data_cfg.label_sep,
                      label_names=list(space.names) if space.multi_label else None,
                      task="multilabel" if space.multi_label else "single")
    if predictor.text_pair and d.pairs is None:
        raise DataError(f"The model classifies text pairs but {data_cfg.train} has no second text "
                        "column; pass --text-pair-col.")
    if data_cfg.label_map:
        from textclf.data.labels import remap_labels
        d.labels = remap_labels(d.labels, data_cfg.label_map, source=str(data_cfg.train))
    if data_cfg.normalize_labels and not space.multi_label:   # map variants onto the model's spelling
        from textclf.data.labels import match_labels
        d.labels = match_labels(d.labels, space.names)
    y = np.asarray(space.encode(d.labels, source=str(data_cfg.train)))
    probs = predictor.predict_proba(d.texts, d.pairs, progress=not quiet)
    m = score(y, probs, space, predictor.thresholds_for(threshold))
    if not quiet:
        print_metrics(console, m, title=f"Evaluation on {Path(data_cfg.train).name}")
    return m


def predict_file(model_path: str, input_path: str, output_path: str, *, overwrite: bool = False,
                 resume: bool = False, progress: bool = True, **options) -> str:
    """Predict every row of a CSV/TSV/JSONL/Parquet file into a CSV/TSV/JSONL/Parquet file (the
    rows plus label/score or labels, prob_<class>, and uncertainty with MC dropout), streamed in
    chunks; see textclf.inference.stream. Returns a one-line summary."""
    from textclf.inference.stream import predict_stream

    return predict_stream(model_path, input_path, output_path, overwrite=overwrite, resume=resume,
                          progress=progress, **options).summary()
