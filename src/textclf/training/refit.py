"""The `refit` phase (TrainConfig.refit; by default for training splits under SMALL_SET_BELOW rows): after `fit` has chosen the epoch count on validation,
train a fresh model from the same initialisation on train + validation together for that many
epochs, with no evaluation and no early stopping, and keep its last epoch. The decisions taken on
validation by the first model (temperature, binary decision offset, multi-label thresholds) are
then carried over to the refit model, which becomes the run's model.

`refit` trains on every process of a multi-process launch, right after `fit` (so all processes
train together while rank 0 alone calibrates afterwards); `adopt` runs on rank 0 after
`calibrate_and_decide`. The refit keeps checkpoints in the work dir (checkpoints/refit), so a run
killed during it continues the refit on --resume; the first fit's kept model is not trained again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.config import SMALL_SET_BELOW
from textclf.training import distributed
from textclf.training.phases import (CHECKPOINTS, Decided, Fitted, TrainingData, _logits, _new_model,
                                     loss_weights, shift_logits, train_resumably)

FOLDER = "refit"   # <work>/checkpoints/refit
DECIDED_ON = ("the first model's validation logits: temperature, multi-label offsets, thresholds, decision threshold and "
              "validation calibration; test figures are the refit model's")


@dataclass
class Refitted:
    """The model trained on train + validation and how its training went."""
    model: object
    epochs: int
    rows: int
    windows: int
    seconds: float
    epoch_lines: list


def wants_refit(cfg, data) -> bool:
    """Whether this run refits: as set, or (refit None) when the training split has fewer than
    SMALL_SET_BELOW rows, where validation holds a large share of the labels, and the test split is
    labelled (a refit trains on validation, which then cannot stand in for test)."""
    if cfg.refit is not None:
        return cfg.refit
    return len(data.splits["train"].texts) < SMALL_SET_BELOW and not data.test_is_validation


def refit_epochs(fitted: Fitted) -> int:
    """The first fit's kept epoch (whole epochs, at least 1); the epochs it ran if none was recorded."""
    epochs = fitted.best_epoch if fitted.best_epoch is not None else fitted.epochs_run
    return max(1, round(epochs or 0))


def train_and_validation(prep: TrainingData):
    """The train and validation rows as one training set, encoded as the train split is (in row
    order, one row per long-text window): (dataset, targets per text, strata or None)."""
    from datasets import concatenate_datasets

    from textclf.data.features import encode
    from textclf.training.trainer import strata_of, to_dataset

    va = prep.split("validation")
    valid_ds, _ = to_dataset(encode(prep.tokenizer, va.texts, va.pairs, **prep.encoding),
                             prep.y["validation"])
    ds = concatenate_datasets([prep.train_ds, valid_ds])
    y = np.concatenate([prep.y["train"], prep.y["validation"]])
    strata = strata_of(np.asarray(ds["labels"])) if prep.labels.multi_label else None
    return ds, y, strata


def refit(cfg, prep: TrainingData, fitted: Fitted | None, work: Path, say) -> Refitted | None:
    """Train on train + validation for the first fit's kept epoch count (every process, when
    cfg.refit); rank 0 gets the Refitted, the others and a run without refit None."""
    from textclf.training.trainer import build_trainer

    def decide() -> dict:   # rank 0's decision, one broadcast: {} for no refit
        return {"epochs": refit_epochs(fitted), "seed": fitted.seed} if wants_refit(cfg, prep.data) else {}

    plan = distributed.broadcast(decide() if distributed.is_main() else None)
    if not plan:
        return None
    epochs, seed = plan["epochs"], plan["seed"]
    labels = prep.labels
    ds, y, strata = train_and_validation(prep)
    rows = len(prep.split("train").texts) + len(prep.split("validation").texts)
    say(f"refitting on train + validation ({rows} rows) for {epochs} epoch{'s' if epochs != 1 else ''} "
        f"(seed {seed}) ...")
    model, _ = _new_model(cfg, labels, seed)
    settings = cfg.model_copy(update={"seed": seed, "epochs": epochs, "early_stopping_patience": 0})
    folder = work / CHECKPOINTS / FOLDER
    trainer, summary = build_trainer(settings, model, prep.tokenizer, ds, None, labels, str(folder),
                                     loss_weights(labels, y, cfg.class_weights), None,
                                     strata=strata, print_fn=say)
    seconds = train_resumably(trainer, folder, say)
    if not distributed.is_main():
        return None
    return Refitted(trainer.model, epochs, rows, len(ds), seconds, summary.lines)


def _offsets_after_temperature(decided: Decided, names) -> np.ndarray:
    """Per label, what calibrate_and_decide added to the first model's logits after its
    temperature: the multi-label offsets and the binary decision threshold's shift."""
    out = np.zeros(len(names))
    taken_back = decided.calibration.get("label_offsets")
    if taken_back is not None:
        out += np.asarray(taken_back["offsets"])
    if decided.decision is not None and decided.decision["applied"]:
        out[list(names).index(decided.decision["label"])] += decided.decision["logit_offset"]
    return out


def adopt(cfg, prep: TrainingData, fitted: Fitted, decided: Decided,
          refitted: Refitted | None) -> tuple[Fitted, Decided]:
    """The refit model with the first model's validation decisions folded into its head (as
    calibrate_and_decide folds them), its calibrated test logits, and its record for metrics;
    (fitted, decided) unchanged without a refit."""
    from textclf.evaluation.calibration import expected_calibration_error, fold_temperature
    from textclf.evaluation.metrics import softmax
    from textclf.evaluation.thresholds import sigmoid

    if refitted is None:
        return fitted, decided
    labels, model = prep.labels, refitted.model
    t = decided.calibration["temperature"]
    raw = _logits(cfg, prep, model, prep.split("test"))
    fold_temperature(model, t)
    test_logits = raw / t
    shift_logits(model, _offsets_after_temperature(decided, labels.names), test_logits)
    probs = sigmoid if labels.multi_label else softmax
    calibration = {**decided.calibration,
                   "ece_test_before": expected_calibration_error(probs(raw), prep.y["test"], labels.multi_label),
                   "ece_test_after": expected_calibration_error(probs(raw / t), prep.y["test"],
                                                                labels.multi_label)}
    record = {"epochs": refitted.epochs, "rows": refitted.rows, "windows": refitted.windows,
              "seconds": refitted.seconds, "seed": fitted.seed, "epoch_lines": refitted.epoch_lines,
              "decided_on": DECIDED_ON}
    return (dataclasses.replace(fitted, model=model, refit=record),
            dataclasses.replace(decided, calibration=calibration, test_logits=test_logits))
