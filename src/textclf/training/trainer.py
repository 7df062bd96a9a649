"""The HF Trainer, subclassed only for the loss (weights, focal, multi-label BCE) and the
label-mixed length sampler (one per process under torchrun/accelerate); plus the validation
metric, computed per document."""
from __future__ import annotations

import math
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, Trainer
from transformers.trainer_callback import ProgressCallback

from textclf.data.features import Features, aggregate
from textclf.evaluation.metrics import primary_score
from textclf.evaluation.thresholds import apply_thresholds, sigmoid, tune_thresholds
from textclf.training.arguments import training_arguments
from textclf.training.callbacks import EarlyStopping, EpochSummary, QuietProgress
from textclf.training.checkpoints import Checkpoints
from textclf.training.losses import classification_loss
from textclf.training.sampler import DistributedMixedLengthBatches, MixedLengthSampler


class ClassifierTrainer(Trainer):
    def __init__(self, *args, loss_kind: str = "ce", class_weight: list[float] | None = None,
                 focal_gamma: float = 2.0, length_grouping: bool = True, multi_label: bool = False,
                 strata: list[int] | None = None, label_smoothing: float = 0.0,
                 head_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_smoothing, self.head_lr_scale = label_smoothing, head_lr_scale
        self.loss_kind, self.focal_gamma, self.length_grouping = loss_kind, focal_gamma, length_grouping
        self.multi_label, self.strata = multi_label, strata
        self.class_weight = None if class_weight is None else torch.tensor(class_weight)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = classification_loss(outputs.logits, labels, kind=self.loss_kind,
                                   weight=self.class_weight, gamma=self.focal_gamma,
                                   multi_label=self.multi_label, label_smoothing=self.label_smoothing)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, with the parameters outside the pretrained base (the new
        classification head) at learning_rate x head_lr_scale."""
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if fresh and self.head_lr_scale != 1.0:
            scale_head_learning_rate(optimizer, self.model if model is None else model, self.head_lr_scale)
        return optimizer

    def _epoch(self) -> int:
        """The epoch about to start (or resumed in): the Trainer's count, not the sampler's own."""
        return math.floor((self.state.epoch or 0) + 1e-6)

    def _lengths_and_strata(self, ds):
        lengths = [len(x) for x in ds["input_ids"]]
        return lengths, self.strata if self.strata is not None else list(ds["labels"])

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if not self.length_grouping:
            return super()._get_train_sampler(train_dataset)
        lengths, strata = self._lengths_and_strata(ds)
        return MixedLengthSampler(lengths, strata,
                                  self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                  seed=self.args.seed, epoch_of=self._epoch)

    def get_train_dataloader(self) -> DataLoader:
        """Several processes: each gets its own share of the capped, length-grouped batches."""
        if self.args.world_size == 1 or not self.length_grouping:
            return super().get_train_dataloader()
        ds = self._remove_unused_columns(self.train_dataset, description="Training")
        lengths, strata = self._lengths_and_strata(self.train_dataset)
        batches = DistributedMixedLengthBatches(lengths, strata, self.args.per_device_train_batch_size,
                                                rank=self.args.process_index,
                                                world=self.args.world_size, seed=self.args.seed,
                                                epoch_of=self._epoch)
        loader = self.accelerator.prepare(DataLoader(
            ds, batch_sampler=batches, collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory))
        return pass_through(loader, batches)


def head_parameters(model) -> set[int]:
    """ids of the parameters outside the model's pretrained base (its new head)."""
    prefix = model.base_model_prefix + "."
    return {id(p) for name, p in model.named_parameters() if not name.startswith(prefix)}


def scale_head_learning_rate(optimizer, model, scale: float) -> None:
    """Split each parameter group into base and head, the head's learning rate times `scale`
    (before the first step and before the scheduler reads the groups' rates)."""
    head = head_parameters(model)
    groups = []
    for group in optimizer.param_groups:
        for in_head in (False, True):
            params = [p for p in group["params"] if (id(p) in head) == in_head]
            if params:
                groups.append({**group, "params": params,
                               "lr": group["lr"] * (scale if in_head else 1.0)})
    optimizer.param_groups.clear()
    for group in groups:
        optimizer.add_param_group(group)


def pass_through(loader, batches):
    """accelerate wraps a prepared loader's batch sampler to split it across processes, and in
    doing so yields only batches of its batch size until the last one. `batches` are already
    this process's own, of varying sizes: make the wrapper hand them on unchanged."""
    shard = getattr(loader, "batch_sampler", None)
    if shard is not None and getattr(shard, "batch_sampler", None) is batches:
        shard.num_processes, shard.process_index, shard.batch_size = 1, 0, None
    return loader


def strata_of(targets) -> list[int]:
    """A class per row for keeping batches label-mixed; multi-label: the row's rarest label."""
    t = np.asarray(targets)
    if t.ndim == 1:
        return t.astype(int).tolist()
    rarity = 1.0 / np.maximum(t.sum(0), 1)
    scored = t * rarity[None, :]
    return np.where(t.any(1), scored.argmax(1), t.shape[1]).astype(int).tolist()


def to_dataset(features: Features, targets=None, *, sort_by_length: bool = False):
    """A datasets.Dataset with one row per window; each window carries its text's target.
    Returns (dataset, doc): doc[i] is the text index of dataset row i."""
    from datasets import Dataset

    order = np.arange(len(features))
    if sort_by_length:   # evaluation order does not matter to the metric: sort so batches barely pad
        order = np.argsort(features.lengths, kind="stable")
    data = {k: [v[i] for i in order] for k, v in features.columns.items()}
    doc = [features.doc[i] for i in order]
    if targets is not None:
        t = np.asarray(targets)
        data["labels"] = [t[d].tolist() for d in doc]
    return Dataset.from_dict(data), doc


def doc_metric(labels, valid_targets, valid_doc: list[int], aggregate_how: str = "mean"):
    """compute_metrics for the Trainer: window logits -> per-text logits -> the primary metric."""
    metric = labels.primary_metric
    y = np.asarray(valid_targets)

    def compute(pred):
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        logits = aggregate(np.asarray(logits, dtype=np.float32), valid_doc, len(y), aggregate_how)
        if labels.multi_label:
            probs = sigmoid(logits)
            guess = apply_thresholds(probs, tune_thresholds(y, probs))
        else:
            guess = np.argmax(logits, axis=-1)
        return {metric: primary_score(y, guess, labels)}
    return compute


def build_trainer(cfg, model, tokenizer, train_ds, valid_ds, labels, output_dir: str,
                  class_weight, compute_metrics, strata=None, print_fn=print,
                  callbacks=None, stop_after_steps: int = 0) -> tuple[ClassifierTrainer, EpochSummary]:
    """The Trainer for one fit; `callbacks` are added to textclf's own (early stopping, which
    does not stop before `stop_after_steps` optimizer steps, checkpoints, progress). `valid_ds`
    None: no evaluation and no early stopping, the model of the last epoch is the result."""
    metric = labels.primary_metric
    evaluate = valid_ds is not None
    args = training_arguments(cfg, output_dir, metric, evaluate=evaluate, n_examples=len(train_ds))
    own = []
    if cfg.early_stopping_patience and evaluate:
        own.append(EarlyStopping(cfg.early_stopping_patience, min_steps=stop_after_steps))
    summary = EpochSummary(metric if evaluate else None, len(train_ds), print_fn=print_fn)
    trainer = ClassifierTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=valid_ds,
        data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
        compute_metrics=compute_metrics, callbacks=own + list(callbacks or []),
        loss_kind=cfg.loss, class_weight=class_weight, focal_gamma=cfg.focal_gamma,
        length_grouping=cfg.length_grouping, multi_label=labels.multi_label, strata=strata,
        label_smoothing=cfg.label_smoothing, head_lr_scale=cfg.head_lr_scale,
    )
    trainer.remove_callback(ProgressCallback)
    if sys.stderr.isatty():   # a log file gets the epoch lines alone, not a bar redrawn per step
        trainer.add_callback(QuietProgress())
    trainer.add_callback(summary)   # after the bars, so an epoch line follows a closed eval bar
    trainer.add_callback(Checkpoints(trainer, summary, save_steps=cfg.save_steps,
                                     save_minutes=cfg.save_minutes,
                                     keep=cfg.save_total_limit))
    return trainer, summary
