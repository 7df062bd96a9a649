"""The phases of `textclf.api.train`, each a function over the previous ones' results:

    prepare_data -> fit -> calibrate_and_decide -> fit_baseline -> combine -> score_test -> write_run

with `refit` (textclf.training.refit, TrainConfig.refit) training again on train + validation
after `fit` and its model taking the first one's place before `score_test`. `fit` and the refit's
training are the only phases that run on every process of a multi-process launch; the others run
on rank 0. Both keep their progress in the work dir (the run's `.<name>.partial`), so a killed run
continues where its last complete checkpoint left it.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textclf import runs
from textclf.model_settings import Decision, ModelSettings
from textclf.training import distributed

RESTARTS = "restarts.json"     # the work dir's record of finished restarts
CHECKPOINTS = "checkpoints"


@dataclass
class TrainingData:
    """The prepared splits, their targets and the encoded datasets the Trainer sees."""
    data: object                 # textclf.data.prepare.PreparedData
    report: dict
    tokenizer: object
    y: dict
    weights: list | None
    train_ds: object
    valid_ds: object
    valid_doc: list
    strata: list | None
    encoding: dict

    @property
    def labels(self):
        return self.data.labels

    def split(self, name: str):
        return self.data.splits[name]


@dataclass
class Fitted:
    """The model kept (the best restart on validation) and how its training went."""
    model: object
    seed: int
    best_valid: float | None
    best_epoch: int | None
    epochs_run: float | None
    log_history: list
    epoch_lines: list
    seconds: float
    kept: int = 0
    restarts: list = field(default_factory=list)   # per restart: seed, best_valid, best_epoch
    refit: dict | None = None    # set when `model` was trained again on train + validation


@dataclass
class Decided:
    """Calibration and decision rules fitted on validation; the calibrated logits."""
    calibration: dict
    thresholds: list | None
    decision: dict | None
    valid_logits: np.ndarray
    test_logits: np.ndarray
    settings: ModelSettings
    tfidf: object | None = None            # the TF-IDF model of an applied ensemble (saved with the model)
    combined_test: np.ndarray | None = None   # the ensemble's test probabilities (applied only)

    @property
    def ensemble(self):
        e = self.settings.ensemble
        return e if e is not None and e.applied else None

    @property
    def final_thresholds(self):
        """Multi-label thresholds of what predict gives: the ensemble's where it is applied."""
        return self.ensemble.thresholds if self.ensemble is not None and self.thresholds else self.thresholds


def targets(labels, split, name: str) -> np.ndarray:
    return np.asarray(labels.encode(split.labels, source=f"The {name} split"))


# ---- prepare data ------------------------------------------------------------------------

def read_data(cfg):
    """Read and split the data and describe it (rank 0's job): (PreparedData, data report)."""
    from textclf.data.checks import data_report
    from textclf.data.prepare import prepare
    from textclf.models.base import load_tokenizer

    data = prepare(cfg.data, seed=cfg.seed)
    if cfg.refit is True and data.test_is_validation:
        from textclf.errors import DataError
        raise DataError(f"--refit trains on the validation split, and the test file {cfg.data.test} has "
                        "no labels, so the test metrics would be computed on rows the model learnt; "
                        "give a labelled --test file or drop --refit.")
    return data, data_report(data, load_tokenizer(cfg.model), cfg.max_length, long_text=cfg.long_text,
                             stride=cfg.stride, max_windows=cfg.max_windows)


def prepare_data(cfg, data, report) -> TrainingData:
    """Targets, class weights and the encoded train/validation sets for the Trainer."""
    from textclf.data.features import encode
    from textclf.models.base import load_tokenizer
    from textclf.training.trainer import strata_of, to_dataset

    labels = data.labels
    tokenizer = load_tokenizer(cfg.model)
    tr, va = data.splits["train"], data.splits["validation"]
    y = {s: targets(labels, data.splits[s], s) for s in data.splits}
    weights = loss_weights(labels, y["train"], cfg.class_weights)
    enc = dict(max_length=cfg.max_length, long_text=cfg.long_text, stride=cfg.stride,
               max_windows=cfg.max_windows)
    train_ds, _ = to_dataset(encode(tokenizer, tr.texts, tr.pairs, **enc), y["train"])
    valid_ds, valid_doc = to_dataset(encode(tokenizer, va.texts, va.pairs, **enc), y["validation"],
                                     sort_by_length=True)
    strata = strata_of(np.asarray(train_ds["labels"])) if labels.multi_label else None
    return TrainingData(data, report, tokenizer, y, weights, train_ds, valid_ds, valid_doc, strata, enc)


def loss_weights(labels, y, how: str) -> list | None:
    """The loss's class weights (single-label) or positive weights (multi-label) for targets `y`."""
    from textclf.training.losses import class_weights, pos_weights

    if labels.multi_label:
        return pos_weights(y, how)
    return class_weights(y.tolist(), len(labels.names), how)


def describe(prep: TrainingData, counts: dict) -> str:
    """The one line on what is being trained: task, labels, trainable parameters, weights."""
    labels, weights = prep.labels, prep.weights
    return (f"task {labels.task}{' (text pairs)' if prep.data.has_pairs else ''}, "
            + (f"{len(labels.names)} labels" if labels.multi_label else f"labels {', '.join(labels.names)}")
            + (f" (positive: {labels.positive})" if labels.positive else "")
            + f"; trainable params {counts['trainable']:,}/{counts['total']:,}"
            + (f"; {'pos' if labels.multi_label else 'class'} weights "
               f"{', '.join(f'{w:.2f}' for w in weights[:8])}{' ...' if len(weights) > 8 else ''}"
               if weights else ""))


# ---- fit (with restarts) -----------------------------------------------------------------

def _new_model(cfg, labels, seed: int):
    from transformers import set_seed

    from textclf.models.base import load_classifier
    from textclf.models.freezing import apply_freezing

    set_seed(seed)
    model = load_classifier(cfg.model, labels=labels)
    return model, apply_freezing(model, cfg.freeze, cfg.unfreeze_last)


def _best_epoch(log_history: list, metric: str, best) -> int | None:
    return next((round(h["epoch"]) for h in log_history if h.get(f"eval_{metric}") == best), None)


def _kept_dir(work: Path, k: int) -> Path:
    return work / f"kept-{k}"


def _finish_restart(work: Path, book: dict, k: int, record: dict, model, better: bool) -> None:
    """Record restart k in the work dir (rank 0): its model first when it is the best so far,
    then the record saying so, then the checkpoints it no longer needs."""
    if better:
        kept = _kept_dir(work, k)
        tmp = kept.with_name(kept.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        from textclf.models.base import quiet_transformers
        with quiet_transformers(warnings=True):
            model.save_pretrained(tmp, safe_serialization=True)
        shutil.rmtree(kept, ignore_errors=True)
        tmp.rename(kept)
        old, book["kept"] = book.get("kept"), k
    book["done"].append(record)
    runs.write_json(work / RESTARTS, book)
    if better and old is not None:
        shutil.rmtree(_kept_dir(work, old), ignore_errors=True)
    shutil.rmtree(work / CHECKPOINTS / f"restart-{k}", ignore_errors=True)


def _fit_one(cfg, prep: TrainingData, model, work: Path, k: int, seed: int, say, callbacks,
             stop_after_steps: int = 0):
    """Train restart k to its end (from its last complete checkpoint, if any), early stopping not
    before `stop_after_steps` steps: (trainer, seconds)."""
    from textclf.training.trainer import build_trainer, doc_metric

    folder = work / CHECKPOINTS / f"restart-{k}"
    labels = prep.labels
    trainer, _ = build_trainer(
        cfg.model_copy(update={"seed": seed}), model, prep.tokenizer, prep.train_ds, prep.valid_ds,
        labels, str(folder), prep.weights,
        doc_metric(labels, prep.y["validation"], prep.valid_doc, cfg.aggregate),
        strata=prep.strata, print_fn=say, callbacks=callbacks, stop_after_steps=stop_after_steps)
    return trainer, train_resumably(trainer, folder, say)


def train_resumably(trainer, folder: Path, say) -> float:
    """Run `trainer` to its end, from its newest complete checkpoint in `folder` if there is one
    (every process calls this): the seconds trained, earlier processes' included."""
    from textclf.models.base import quiet_transformers
    from textclf.training.checkpoints import Checkpoints, resume_point

    ckpt, saved = distributed.on_main(resume_point, folder)
    clock = next(c for c in trainer.callback_handler.callbacks if isinstance(c, Checkpoints))
    if ckpt is not None:
        clock.restore(ckpt, saved)
        say(f"resuming from {Path(ckpt).name} (step {saved['global_step']}, "
            f"{saved['seconds']:.0f}s trained so far)")
        if saved["stopped"]:   # training had ended: only the best epoch is left to load
            trainer.args.max_steps = saved["global_step"]
    with quiet_transformers(warnings=True), clock.running():   # no 'Writing model shards' bars
        trainer.train(resume_from_checkpoint=ckpt)
    return clock.seconds()


def fit(cfg, prep: TrainingData, work: Path, say, callbacks=None) -> Fitted | None:
    """Train cfg.restarts models (init seeds seed..seed+N-1, one split) and keep the best on
    validation; restarts finished before an interruption are not trained again. Every process
    trains; rank 0 gets the Fitted, the others None."""
    from textclf.config import DEFAULT_EPOCHS
    from textclf.training.arguments import effective_batch, scheduled_epochs

    labels, metric = prep.labels, prep.labels.primary_metric
    epochs = scheduled_epochs(cfg, len(prep.train_ds))
    if cfg.epochs is None and epochs != DEFAULT_EPOCHS:
        say(f"small training set: up to {epochs:g} epochs, so that training takes at least "
            f"{cfg.min_steps} steps (--min-steps; --epochs sets them)")
    stop_after = cfg.min_steps if cfg.epochs is None else 0   # set epochs: early stopping as set
    cfg = cfg.model_copy(update={"epochs": epochs})
    book = distributed.broadcast(runs.read_json(work / RESTARTS) if (work / RESTARTS).exists()
                                 else {"done": [], "kept": None})
    kept_model = None
    for k in range(len(book["done"]), cfg.restarts):
        seed = cfg.seed + k   # the split stays the one cfg.seed drew; init and batch order vary
        model, counts = _new_model(cfg, labels, seed)
        if k == len(book["done"]):
            say(describe(prep, counts))
            batch = effective_batch(cfg)
            if batch["effective"] != cfg.batch_size:
                say(f"effective batch size {batch['effective']} = {batch['per_device']} per device x "
                    f"{batch['processes']} processes x {batch['grad_accum']} accumulation steps")
            if len(prep.train_ds) > len(prep.split("train").texts):
                say(f"long texts split into windows: {len(prep.train_ds)} training windows from "
                    f"{len(prep.split('train').texts)} texts")
        if cfg.restarts > 1:
            say(f"restart {k + 1}/{cfg.restarts} (seed {seed})")
        trainer, seconds = _fit_one(cfg, prep, model, work, k, seed, say, callbacks, stop_after)
        state = trainer.state
        summary = next(c for c in trainer.callback_handler.callbacks if hasattr(c, "lines"))
        record = {"seed": seed, "best_valid": state.best_metric,
                  "best_epoch": _best_epoch(state.log_history, metric, state.best_metric),
                  "epochs_run": state.epoch, "log_history": state.log_history,
                  "epoch_lines": summary.lines, "seconds": seconds}
        kept = book.get("kept")
        # BERT's recipe for small sets: several restarts, keep the best on validation (ties: the first)
        better = kept is None or state.best_metric > book["done"][kept]["best_valid"]
        if better:
            kept_model = trainer.model
        if distributed.is_main():
            _finish_restart(work, book, k, record, trainer.model, better)
        else:
            book["done"].append(record)
            book["kept"] = k if better else kept
    if not distributed.is_main():
        return None
    kept = book["kept"]
    if kept_model is None:   # kept by a restart that finished before this process started
        from textclf.models.base import load_classifier
        kept_model = load_classifier(str(_kept_dir(work, kept)))
    best = book["done"][kept]
    if cfg.restarts > 1:
        say(f"kept restart {kept + 1} (seed {best['seed']}): validation {metric} " + ", ".join(
            f"{'[bold]' if i == kept else ''}{r['best_valid']:.4f}{'[/]' if i == kept else ''}"
            for i, r in enumerate(book["done"])))
    return Fitted(model=kept_model, seed=best["seed"], best_valid=best["best_valid"],
                  best_epoch=best["best_epoch"], epochs_run=best["epochs_run"],
                  log_history=best["log_history"], epoch_lines=best["epoch_lines"],
                  seconds=sum(r["seconds"] for r in book["done"]), kept=kept,
                  restarts=[{k: r[k] for k in ("seed", "best_valid", "best_epoch")}
                            for r in book["done"]])


# ---- calibrate and decide thresholds -------------------------------------------------------

def _logits(cfg, prep: TrainingData, model, split):
    from textclf.inference.predictor import batched_logits
    return batched_logits(model, prep.tokenizer, split.texts, pairs=split.pairs,
                          aggregate_how=cfg.aggregate, **prep.encoding)


def shift_logits(model, offsets, *logits: np.ndarray) -> bool:
    """Add per-label `offsets` to the model's logits (in the head's bias when it has one) and to
    each of `logits` in place, so they stay what the model gives; whether the head carried them."""
    from textclf.evaluation.calibration import fold_logit_offsets

    shift = np.asarray(offsets, dtype=np.float64)
    for z in logits:
        z += shift.astype(z.dtype)
    return fold_logit_offsets(model, shift)


def _decision_threshold(model, labels, valid_logits, test_logits, y_valid) -> dict:
    """Binary tasks: tune the threshold on the positive probability on validation; where it
    beats 0.5 on held-out halves, shift the positive logit (in the head's bias when it has one)
    so argmax decides at that threshold. Shifts `valid_logits`/`test_logits` in place to match."""
    from textclf.evaluation.metrics import softmax
    from textclf.evaluation.thresholds import threshold_offset, tune_binary_threshold

    pos = labels.positive_id if labels.positive_id is not None else 1
    decision = tune_binary_threshold(np.asarray(y_valid) == pos, softmax(valid_logits)[:, pos],
                                     macro=labels.primary_metric == "macro_f1")
    decision.update(label=labels.names[pos], metric=labels.primary_metric)
    if decision["applied"]:
        offset = threshold_offset(decision["threshold"])
        decision["logit_offset"] = offset
        decision["folded_into_head"] = shift_logits(model, _one_label(len(labels.names), pos, offset),
                                                    valid_logits, test_logits)
    return decision


def _one_label(n: int, index: int, offset: float) -> np.ndarray:
    """Per-label offsets: `offset` for label `index`, 0 for the others."""
    out = np.zeros(n)
    out[index] = offset
    return out


def _take_back_pos_weights(model, weights, valid_logits, test_logits) -> dict | None:
    """Multi-label trained with positive weights: per-label logit offsets taking part of each
    weight back (calibration.pos_weight_offsets), folded into the head's bias where it has one;
    shifts `valid_logits`/`test_logits` in place to match. None without positive weights."""
    from textclf.evaluation.calibration import POS_WEIGHT_TAKEN_BACK, pos_weight_offsets

    if not weights:
        return None
    offsets = pos_weight_offsets(weights)
    return {"offsets": offsets, "share": POS_WEIGHT_TAKEN_BACK,
            "folded_into_head": shift_logits(model, offsets, valid_logits, test_logits)}


def _offset_settings(record: dict | None) -> dict:
    """The ModelSettings fields for the multi-label offsets of _take_back_pos_weights."""
    if record is None:
        return {}
    return {"label_offsets": record["offsets"], "label_offsets_folded": record["folded_into_head"]}


def calibrate_and_decide(cfg, prep: TrainingData, model, say) -> Decided:
    """Temperature scaling on validation, folded into the head (so plain pipeline() and ONNX see
    calibrated logits too); multi-label: the positive weights' offsets and the shared threshold;
    binary: the decision threshold; and the settings the model will carry."""
    from textclf.evaluation.calibration import calibrate, fold_temperature
    from textclf.evaluation.thresholds import sigmoid, tune_thresholds

    labels, y = prep.labels, prep.y
    say("calibrating on the validation split and scoring the test split ...")
    valid_logits, test_logits = (_logits(cfg, prep, model, prep.split(s)) for s in ("validation", "test"))
    # one T fitted on validation NLL; argmax (accuracy) is unchanged
    calibration = calibrate(valid_logits, y["validation"], test_logits, y["test"], labels.multi_label)
    t = calibration["temperature"]
    folded = fold_temperature(model, t)
    calibration["folded_into_head"] = folded
    valid_logits, test_logits = valid_logits / t, test_logits / t
    thresholds = None
    if labels.multi_label:   # per-label thresholds, tuned on validation, saved with the model
        calibration["label_offsets"] = _take_back_pos_weights(model, prep.weights, valid_logits, test_logits)
        thresholds = tune_thresholds(y["validation"], sigmoid(valid_logits))
    decision = None
    if labels.task == "binary" and cfg.tune_threshold:
        decision = _decision_threshold(model, labels, valid_logits, test_logits, y["validation"])
    settings = ModelSettings(
        positive_label=labels.positive, primary_metric=labels.primary_metric,
        max_length=cfg.max_length, base_model=cfg.model, task=labels.task,
        text_pair=prep.data.has_pairs, long_text=cfg.long_text, stride=cfg.stride,
        max_windows=cfg.max_windows,
        aggregate=cfg.aggregate, temperature=t, temperature_folded=folded, thresholds=thresholds,
        **_offset_settings(calibration.get("label_offsets")),
        decision=Decision.model_validate(decision) if decision is not None else None)
    return Decided(calibration, thresholds, decision, valid_logits, test_logits, settings)


# ---- score test and baseline ---------------------------------------------------------------

def test_probs(prep: TrainingData, decided: Decided) -> np.ndarray:
    """What the saved model predicts for the test split: the ensemble's where it is applied."""
    if decided.combined_test is not None:
        return decided.combined_test
    return logit_probs(prep, decided.test_logits)


def logit_probs(prep: TrainingData, logits: np.ndarray) -> np.ndarray:
    """Probabilities from calibrated logits: sigmoid (multi-label) or softmax."""
    from textclf.evaluation.metrics import softmax
    from textclf.evaluation.thresholds import sigmoid
    return sigmoid(logits) if prep.labels.multi_label else softmax(logits)


def fit_baseline(cfg, prep: TrainingData, say) -> dict | None:
    """The TF-IDF + logistic regression baseline on train, C chosen on validation (None when
    cfg.baseline is off): its test and validation probabilities, C, thresholds, seconds."""
    from textclf.evaluation.baseline import join_pairs, tfidf_baseline

    if not cfg.baseline:
        return None
    say("fitting the TF-IDF baseline ...")
    tr, va, te = (prep.split(s) for s in ("train", "validation", "test"))
    return tfidf_baseline(join_pairs(tr.texts, tr.pairs), prep.y["train"],
                          join_pairs(va.texts, va.pairs), prep.y["validation"],
                          join_pairs(te.texts, te.pairs), prep.labels)


def combine(cfg, prep: TrainingData, fitted: Fitted, decided: Decided, base: dict | None, say) -> Decided:
    """The ensemble (textclf.evaluation.ensemble): a stacker of the fine-tuned model and the
    TF-IDF model, decided on validation (cfg.ensemble: auto = where it beat the model alone on
    held-out halves). Where applied, the TF-IDF model is fitted for saving (on train + validation
    when the fine-tuned model was refitted there) and the test probabilities become the stacker's."""
    import dataclasses

    from textclf.evaluation import ensemble as ens
    from textclf.evaluation.baseline import join_pairs
    from textclf.model_settings import Ensemble

    labels = prep.labels
    if base is None or prep.data.test_is_validation:
        reason = "no TF-IDF baseline (--no-baseline)" if base is None else "the test file has no labels"
        chosen = Ensemble(applied=False, rule=cfg.ensemble, reason=reason)
    else:
        chosen = ens.decide(prep.y["validation"], logit_probs(prep, decided.valid_logits),
                            base["valid_probs"], labels, cfg.ensemble, base["C"],
                            refitted=fitted.refit is not None)
    settings = decided.settings.model_copy(update={"ensemble": chosen})
    if not chosen.applied:
        if cfg.ensemble != "none":
            say(f"ensemble with the TF-IDF model not used: {chosen.reason}")
        return dataclasses.replace(decided, settings=settings)
    parts = [prep.split("train")] + ([prep.split("validation")] if fitted.refit is not None else [])
    texts = [t for p in parts for t in join_pairs(p.texts, p.pairs)]
    y = np.concatenate([prep.y["train"]] + ([prep.y["validation"]] if fitted.refit is not None else []))
    tfidf = ens.TfidfModel.fit(texts, y, labels, base["C"])
    te = prep.split("test")
    combined = ens.combine(chosen, logit_probs(prep, decided.test_logits),
                           tfidf.predict_proba(join_pairs(te.texts, te.pairs)), labels)
    say(f"ensemble with the TF-IDF model: validation {labels.primary_metric} "
        f"{chosen.valid_primary:.4f} (model alone {chosen.valid_primary_model:.4f}; "
        f"held-out gain {chosen.heldout_gain:+.4f})")
    return dataclasses.replace(decided, settings=settings, tfidf=tfidf, combined_test=combined)


def score_test(cfg, prep: TrainingData, fitted: Fitted, decided: Decided, base: dict | None, say) -> dict:
    """The run's metrics: test (what the saved model predicts, next to the TF-IDF baseline; with
    an ensemble applied also the fine-tuned model alone), calibration, decision, ensemble, training."""
    from textclf.evaluation.metrics import paired_comparison, score
    from textclf.training.arguments import effective_batch

    labels, y = prep.labels, prep.y
    tr = prep.split("train")
    probs = test_probs(prep, decided)
    train_counts = y["train"].sum(0) if labels.multi_label else None
    metrics = {"test": score(y["test"], probs, labels, decided.final_thresholds, train_counts),
               "calibration": decided.calibration}
    if decided.decision is not None:
        metrics["decision"] = decided.decision
    if decided.settings.ensemble is not None:
        metrics["ensemble"] = decided.settings.ensemble.model_dump(
            mode="json", exclude={"coef", "intercept", "classes", "thresholds"})
    if decided.ensemble is not None:
        metrics["transformer"] = score(y["test"], logit_probs(prep, decided.test_logits), labels,
                                       decided.thresholds, train_counts)
    if prep.data.test_is_validation:
        metrics["test"]["scored_on"] = "validation (the test file has no labels)"
    if base is not None:
        metrics["baseline"] = score(y["test"], base["probs"], labels, base["thresholds"], train_counts)
        metrics["baseline"]["C"] = base["C"]
        metrics["baseline"]["seconds"] = base["seconds"]
        metrics["comparison"] = paired_comparison(y["test"], probs, base["probs"],
                                                  decided.final_thresholds, base["thresholds"])
    metrics["training"] = {"seconds": fitted.seconds, "epochs_run": fitted.epochs_run,
                           "best_epoch": fitted.best_epoch, "best_valid": fitted.best_valid,
                           "seed": fitted.seed, "train_rows": len(tr.texts),
                           "train_windows": len(prep.train_ds), "epochs": fitted.epoch_lines,
                           "batch_size": effective_batch(cfg), "freeze": cfg.freeze,
                           "learning_rate": cfg.learning_rate}
    if cfg.restarts > 1:
        metrics["training"]["restarts"] = fitted.restarts
    if fitted.refit is not None:
        metrics["training"]["refit"] = fitted.refit
    metrics["data"] = prep.report
    return metrics


# ---- label issues among the rows the model did not learn from --------------------------------

ISSUES_FILE = "label_issues.csv"


def find_label_issues(prep: TrainingData, decided: Decided, say):
    """cleanlab on the predictions the run already has for rows it did not learn from: the
    validation split (the first model's calibrated predictions) and the test split, so no extra
    training. (table with a `split` column, most suspect first; summary for metrics.json), or
    (None, a note) where cleanlab is not installed."""
    from textclf.errors import TextclfError
    from textclf.evaluation import label_issues as li

    try:
        li.require_cleanlab()
    except TextclfError as exc:
        say(f"[yellow]! label issues not listed in report.html: {exc}")
        return None, {"skipped": str(exc)}
    names = ["validation"] + ([] if prep.data.test_is_validation else ["test"])
    probs = np.vstack([logit_probs(prep, decided.valid_logits)]
                      + ([test_probs(prep, decided)] if len(names) > 1 else []))
    pool = li.pool_of([prep.split(s) for s in names], space=prep.labels)
    try:
        table = li.find_issues(pool, probs, with_outliers=False)
    except ValueError as exc:   # cleanlab refusing these rows must not cost the trained run
        say(f"[yellow]! label issues not listed in report.html (cleanlab: {exc})")
        return None, {"skipped": f"Label issues were not computed (cleanlab: {exc})."}
    where = {(sp.source, r): s for s in names for sp in [prep.split(s)] for r in sp.rows}
    table.insert(0, "split", [where[(f, r)] for f, r in zip(table["file"], table["row"])])
    counts = {k: int(table["issue"].str.contains(k, regex=False).sum()) for k in (li.LABEL, li.DUPLICATE)}
    return table, {"rows_examined": len(pool.texts), "splits": names, "flagged": len(table),
                   "label": counts[li.LABEL], "conflicting_duplicate": counts[li.DUPLICATE],
                   "file": ISSUES_FILE}


# ---- write the run -------------------------------------------------------------------------

def start_run(work: Path, cfg, data) -> None:
    """The run's settings and splits, first thing in the work dir; a resumed run must match them."""
    from textclf.config import TrainConfig
    from textclf.errors import TextclfError

    runs.open_partial(work, resume=cfg.resume)
    splits = {"seed": cfg.seed, **data.split_ids()}
    if (work / "config.yaml").exists():
        before = TrainConfig.from_yaml(work / "config.yaml")
        changed = cfg.differences(before)
        if changed:
            raise TextclfError(f"The interrupted run in {work} was started with other settings "
                               f"({', '.join(changed)}); resume it with the same ones or pass "
                               "--overwrite to start over.")
        if runs.read_json(work / "splits.json") != json.loads(json.dumps(splits)):
            raise TextclfError(f"The data changed since the interrupted run in {work} started; "
                               "pass --overwrite to start over.")
        return
    (work / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    runs.write_json(work / "splits.json", splits)


def write_run(work: Path, name: str, cfg, prep: TrainingData, fitted: Fitted, decided: Decided,
              metrics: dict, issues=None) -> None:
    """Everything a finished run holds, written into the work dir (renamed into place after);
    `issues`: the label-issue table of find_label_issues, written as label_issues.csv."""
    from textclf.evaluation.report import run_report
    from textclf.models.base import quiet_transformers

    model = fitted.model
    decided.settings.attach(model.config)
    with quiet_transformers(warnings=True):
        model.save_pretrained(work / runs.MODEL_DIR, safe_serialization=True)
    prep.tokenizer.save_pretrained(work / runs.MODEL_DIR)
    if decided.tfidf is not None:
        decided.tfidf.save(work / runs.MODEL_DIR / decided.ensemble.tfidf_dir)
    runs.write_json(work / "metrics.json", metrics)
    with open(work / "train_log.jsonl", "w", encoding="utf-8") as f:
        for h in fitted.log_history:
            f.write(json.dumps(h) + "\n")
    te, va = prep.split("test"), prep.split("validation")
    write_predictions(work / "test_predictions.csv", te.texts, te.labels, test_probs(prep, decided),
                      prep.labels, decided.final_thresholds, te.pairs)
    if decided.combined_test is not None:   # the fine-tuned model alone, for the report's calibration plots
        write_predictions(work / "test_predictions_model.csv", te.texts, te.labels,
                          logit_probs(prep, decided.test_logits), prep.labels, decided.thresholds, te.pairs)
    write_predictions(work / "validation_predictions.csv", va.texts, va.labels,
                      logit_probs(prep, decided.valid_logits), prep.labels, decided.thresholds, va.pairs)
    if issues is not None:
        issues.to_csv(work / ISSUES_FILE, index=False)
    (work / "report.md").write_text(run_report(name, cfg, metrics, prep.report), encoding="utf-8")


def drop_progress(run_dir: Path) -> None:
    """Delete the checkpoints and restart records of a finished run. Done after the rename into
    place: a process killed before it leaves a complete run with extra files, never a run that
    trains again."""
    for leftover in [run_dir / CHECKPOINTS, run_dir / RESTARTS, *run_dir.glob("kept-*")]:
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)


def _true_label(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else value


def write_predictions(path, texts, true, probs, labels, thresholds=None, pairs=None) -> None:
    import pandas as pd

    from textclf.inference.columns import prediction_columns

    df = pd.DataFrame({"text": texts})
    if pairs is not None:
        df["text_pair"] = pairs
    if true is not None:
        df["true_label"] = [_true_label(v) for v in true]
    for k, v in prediction_columns(probs, labels, thresholds).items():
        df[k] = v
    df.to_csv(path, index=False)
