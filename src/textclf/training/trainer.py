"""The HF Trainer, subclassed only for the loss (weights, focal) and the label-mixed length sampler."""
from __future__ import annotations

import numpy as np
import torch
from transformers import (DataCollatorWithPadding, EarlyStoppingCallback, Trainer,
                          TrainingArguments)
from transformers.trainer_callback import ProgressCallback

from textclf.evaluation.metrics import primary_score
from textclf.training.callbacks import EpochSummary, QuietProgress
from textclf.training.losses import classification_loss
from textclf.training.sampler import MixedLengthSampler


class ClassifierTrainer(Trainer):
    def __init__(self, *args, loss_kind: str = "ce", class_weight: list[float] | None = None,
                 focal_gamma: float = 2.0, length_grouping: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_kind, self.focal_gamma, self.length_grouping = loss_kind, focal_gamma, length_grouping
        self.class_weight = None if class_weight is None else torch.tensor(class_weight)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = classification_loss(outputs.logits, labels, kind=self.loss_kind,
                                   weight=self.class_weight, gamma=self.focal_gamma)
        return (loss, outputs) if return_outputs else loss

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if not self.length_grouping:
            return super()._get_train_sampler(train_dataset)
        lengths = [len(x) for x in ds["input_ids"]]
        return MixedLengthSampler(lengths, list(ds["labels"]),
                                  self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                  seed=self.args.seed)


def to_dataset(tokenizer, texts: list[str], label_ids: list[int] | None, max_length: int):
    from datasets import Dataset

    enc = tokenizer(texts, truncation=True, max_length=max_length, verbose=False)
    data = {k: enc[k] for k in enc.keys()}
    if label_ids is not None:
        data["labels"] = label_ids
    return Dataset.from_dict(data)


def build_trainer(cfg, model, tokenizer, train_ds, valid_ds, labels, output_dir: str,
                  class_weight, print_fn=print) -> tuple[ClassifierTrainer, EpochSummary]:
    metric = labels.primary_metric

    def compute_metrics(pred):
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        return {metric: primary_score(pred.label_ids, np.argmax(logits, axis=-1), labels)}

    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,     # a float < 1 is a ratio of total steps
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=10,
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_only_model=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    summary = EpochSummary(metric, len(train_ds), print_fn=print_fn)
    callbacks = [summary]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = ClassifierTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=valid_ds,
        data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
        compute_metrics=compute_metrics, callbacks=callbacks,
        loss_kind=cfg.loss, class_weight=class_weight, focal_gamma=cfg.focal_gamma,
        length_grouping=cfg.length_grouping,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress())
    return trainer, summary
