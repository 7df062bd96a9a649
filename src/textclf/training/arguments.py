"""TrainingArguments for a TrainConfig: textclf's choices, the precision for the device, and the
user's `trainer_args` passthrough (any TrainingArguments field textclf has no setting for)."""
from __future__ import annotations

import math
from typing import Any

from textclf.config import DEFAULT_EPOCHS, trainer_arg_names
from textclf.training.distributed import world_size

def parse_trainer_args(items: list[str] | None) -> dict[str, Any]:
    """['key=value', ...] -> {key: value}, values read as YAML (true, 0.1, [a, b], {k: v})."""
    import yaml

    from textclf.errors import TextclfError
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TextclfError(f"--trainer-arg {item!r} must look like key=value, e.g. "
                               "--trainer-arg lr_scheduler_type=cosine.")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def precision_args(cuda: bool, bf16_supported: bool, tf32_supported: bool) -> dict[str, bool]:
    """Mixed precision for the device: bf16 where the GPU has it, else fp16; TF32 matmuls on
    where the GPU has them (Ampere and newer). Nothing on CPU: fp32 there is the fast path."""
    if not cuda:
        return {}
    out = {"bf16": True} if bf16_supported else {"fp16": True}
    if tf32_supported:
        out["tf32"] = True
    return out


def device_precision() -> dict[str, bool]:
    import torch

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tf32 = cuda and torch.cuda.get_device_capability()[0] >= 8
    return precision_args(cuda, bf16, tf32)


def effective_batch(cfg) -> dict:
    """Examples per optimizer step: per device x processes x accumulation steps."""
    world = world_size()
    return {"per_device": cfg.batch_size, "processes": world, "grad_accum": cfg.grad_accum,
            "effective": cfg.batch_size * world * cfg.grad_accum}


def scheduled_epochs(cfg, n_examples: int) -> float:
    """The epochs to train: cfg.epochs where set; otherwise DEFAULT_EPOCHS, raised to whole epochs
    where an epoch of `n_examples` is so short that training would take fewer than cfg.min_steps
    optimizer steps (small training sets)."""
    if cfg.epochs is not None:
        return cfg.epochs
    steps_per_epoch = max(1, math.ceil(n_examples / effective_batch(cfg)["effective"]))
    if DEFAULT_EPOCHS * steps_per_epoch < cfg.min_steps:
        return float(math.ceil(cfg.min_steps / steps_per_epoch))
    return float(DEFAULT_EPOCHS)


def logging_steps(cfg, n_examples: int | None) -> int:
    """Log the loss every 10 optimizer steps, or every step when an epoch has fewer (so every
    epoch's line has a loss)."""
    if not n_examples:
        return 10
    return max(1, min(10, math.ceil(n_examples / effective_batch(cfg)["effective"])))


def training_arguments(cfg, output_dir: str, metric: str, evaluate: bool = True,
                       n_examples: int | None = None):
    """textclf's TrainingArguments: evaluation and a checkpoint every epoch (more checkpoints
    come from the Checkpoints callback), the best epoch on validation restored at the end;
    then the device's precision; then the user's trainer_args, which win. `evaluate` False:
    no evaluation at all, the last epoch's model is the result."""
    import torch
    from transformers import TrainingArguments

    args = dict(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,     # a float < 1 is a ratio of total steps
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=None,             # the Checkpoints callback keeps the last complete + best
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        restore_callback_states_from_checkpoint=True,   # early stopping's count survives a resume
        logging_strategy="steps",
        logging_steps=logging_steps(cfg, n_examples),
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_only_model=False,
        ddp_find_unused_parameters=False,   # every trainable weight is used; a model where not: trainer_args
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        **device_precision(),
    )
    if world_size() > 1 and not torch.cuda.is_available():
        args["use_cpu"] = True   # several CPU processes: DDP over gloo
    if cfg.gradient_checkpointing:   # renamed activation_checkpointing in transformers 5
        names = trainer_arg_names()
        args["activation_checkpointing" if "activation_checkpointing" in names
             else "gradient_checkpointing"] = True
    args.update(cfg.trainer_args)
    if not evaluate:
        args.update(eval_strategy="no", load_best_model_at_end=False, metric_for_best_model=None)
    try:
        return TrainingArguments(**args)
    except (ValueError, TypeError) as exc:   # e.g. a trainer_args value the Trainer refuses
        from textclf.errors import TextclfError
        raise TextclfError(f"TrainingArguments refused these settings (trainer_args: "
                           f"{cfg.trainer_args or 'none'}): {str(exc).splitlines()[0]}") from None
