"""One TrainConfig, built from CLI flags and/or a YAML file, saved into every run.

Defaults were chosen by measurement on this project's reference machine (2 CPU cores); see docs/experiments.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from textclf.errors import TextclfError
from textclf.model_settings import DEFAULT_MAX_WINDOWS


# TrainingArguments fields that a textclf setting controls: set those instead
OWNED = {"output_dir": "output", "num_train_epochs": "epochs",
         "per_device_train_batch_size": "batch_size", "per_device_eval_batch_size": "eval_batch_size",
         "learning_rate": "learning_rate", "weight_decay": "weight_decay",
         "warmup_steps": "warmup_ratio", "warmup_ratio": "warmup_ratio", "seed": "seed",
         "data_seed": "seed", "gradient_accumulation_steps": "grad_accum",
         "gradient_checkpointing": "gradient_checkpointing",
         "activation_checkpointing": "gradient_checkpointing", "save_steps": "save_steps",
         "save_total_limit": "save_total_limit", "metric_for_best_model": "the task's primary metric",
         "load_best_model_at_end": "early_stopping_patience"}


def trainer_arg_names() -> set[str]:
    """The fields a transformers TrainingArguments takes."""
    import dataclasses

    from transformers import TrainingArguments
    return {f.name for f in dataclasses.fields(TrainingArguments) if f.init}


def check_trainer_args(args: dict[str, Any]) -> None:
    """ValueError naming the first key that is no TrainingArguments field or is a textclf setting."""
    if not args:
        return
    known = trainer_arg_names()
    for key in args:
        if key in OWNED:
            raise ValueError(f"'{key}' is set by textclf's own setting '{OWNED[key]}'; use that instead")
        if key not in known:
            raise ValueError(f"'{key}' is not a transformers TrainingArguments option")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: str
    valid: str | None = None
    test: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    no_header: bool = False
    columns: list[str] | None = None
    sep: str | None = None
    normalize_labels: bool = False
    positive_label: str | None = None
    valid_size: float = 0.15
    test_size: float = 0.15
    text_pair_col: str | None = None          # sentence pairs: the second text
    label_cols: list[str] | None = None       # multi-label: 0/1 columns, names or globs ('Is*')
    label_sep: str | None = None              # multi-label: one column of delimited label lists
    label_names: str | None = None            # names for label ids: a file (one per line) or a,b,c
    task: Literal["auto", "single", "multilabel"] = "auto"
    split_col: str | None = None              # a column saying train/validation/test per row
    split_map: dict[str, str] | None = None   # its values -> train/validation/test
    label_map: dict[str, str] | None = None   # rename/merge labels, e.g. NEUTRAL -> not_entailment
    drop_rows: list[int] | None = None        # 0-based data rows of `train` left out (--drop-rows FILE)
    relabel: dict[int, str] | None = None     # row of `train` -> its new label (--relabel FILE)


DEFAULT_EPOCHS = 5
# training splits with fewer rows than this are small sets: refit None (the default) refits them
# (test split labelled); larger sets do not refit. freeze "auto" trains every weight at
# learning_rate None = 5e-5 on single-label tasks, for LARGE_SET_EPOCHS (epochs None) from
# SMALL_SET_BELOW rows up where every class has LARGE_SET_ROWS_PER_CLASS rows on average; larger
# sets with fewer rows per class (many classes) and multi-label tasks keep the embeddings frozen
# at 1e-4 for DEFAULT_EPOCHS. Measured with nested validation at 250, 1,000 and 4,000 training
# rows and on the full sets' validation splits, see docs/experiments.md
SMALL_SET_BELOW = 2000
LARGE_SET_EPOCHS = 3
LARGE_SET_ROWS_PER_CLASS = 500
# learning_rate None: the rate for every weight trained, or for frozen embeddings
LEARNING_RATE_ALL_WEIGHTS = 5e-5
LEARNING_RATE_FROZEN_EMBEDDINGS = 1e-4
# DEFAULT_EPOCHS and min_steps 500 (epochs None) were measured the same way

# settings that say how or where a run is carried out, not what it trains: they may change on --resume
RUN_CONTROL = {"output", "overwrite", "resume", "save_steps", "save_minutes", "save_total_limit"}


def short_schedule(rows: int, classes: int) -> bool:
    """Whether a training split of `rows` texts and `classes` labels is large enough for every
    weight to train in LARGE_SET_EPOCHS epochs: SMALL_SET_BELOW rows or more, and
    LARGE_SET_ROWS_PER_CLASS rows per class on average."""
    return rows >= SMALL_SET_BELOW and rows >= LARGE_SET_ROWS_PER_CLASS * max(classes, 1)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: DataConfig
    output: str = "runs/latest"
    model: str = "default"
    max_length: int = Field(128, ge=8, le=8192)
    epochs: float | None = Field(None, gt=0)  # None: DEFAULT_EPOCHS, or more where that is under min_steps steps; LARGE_SET_EPOCHS on large sets training every weight (for_training_rows)
    min_steps: int = Field(500, ge=0)         # epochs None: small sets train this many steps; early stopping waits for them
    batch_size: int = Field(8, ge=1)          # 8 / 16 / 32 measured on SMS + Mishra validation, see docs/experiments.md
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float | None = Field(None, gt=0)   # None: 5e-5 when every weight trains, else 1e-4
    head_lr_scale: float = Field(1.0, gt=0)   # the new classification head learns at learning_rate x this
    weight_decay: float = 0.01
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    class_weights: Literal["auto", "none", "balanced", "sqrt"] = "auto"
    loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = 2.0
    label_smoothing: float = Field(0.0, ge=0, lt=1)   # cross-entropy only
    freeze: Literal["auto", "none", "words", "embeddings", "base"] = "auto"   # auto: see TrainConfig.for_training_rows
    unfreeze_last: int = Field(0, ge=0)
    length_grouping: bool = True
    long_text: Literal["truncate", "chunk"] = "chunk"   # chosen on imdb_subset validation, see docs/experiments.md
    stride: int = Field(32, ge=0)             # chunk: tokens shared by neighbouring windows
    aggregate: Literal["mean", "max"] = "mean"  # chunk: how window logits make a document's
    max_windows: int = Field(DEFAULT_MAX_WINDOWS, ge=1)   # chunk: windows per text at most, evenly spaced
    early_stopping_patience: int = Field(2, ge=0)
    save_total_limit: int = Field(1, ge=1)   # complete checkpoints kept besides the best one
    save_steps: int | None = Field(None, ge=1)   # also checkpoint every N optimizer steps
    save_minutes: float = Field(10, ge=0)     # ... and every M minutes (0: off), whichever comes first
    grad_accum: int = Field(1, ge=1)          # gradient accumulation steps
    gradient_checkpointing: bool = False
    trainer_args: dict[str, Any] = Field(default_factory=dict)   # passed on to TrainingArguments
    tune_threshold: bool = True               # binary: a validation-tuned threshold, used only where it helps held-out data
    seed: int = 42
    restarts: int = Field(1, ge=1, le=100)   # train with seeds seed..seed+N-1 on one split, keep the best on validation
    refit: bool | None = None                 # train again on train + validation for the kept epoch count; None: when train has < SMALL_SET_BELOW rows
    baseline: bool = True
    # combine the fine-tuned model with the TF-IDF model through a stacker fitted on validation:
    # auto = where it beat the model alone on held-out halves of validation and the model was not
    # refitted; chosen with nested validation at 1,000 and 4,000 rows, see docs/experiments.md
    ensemble: Literal["auto", "always", "none"] = "auto"
    overwrite: bool = False
    resume: bool = False                      # continue the interrupted run at `output`

    @model_validator(mode="after")
    def _smoothing_needs_cross_entropy(self) -> "TrainConfig":
        if self.label_smoothing and self.loss != "ce":
            raise ValueError("label smoothing applies to the cross-entropy loss only; drop it or use --loss ce")
        return self

    @model_validator(mode="after")
    def _resume_or_start_over(self) -> "TrainConfig":
        if self.resume and self.overwrite:
            raise ValueError("resume continues an interrupted run and overwrite starts it over; "
                             "pass one of them")
        return self

    @field_validator("trainer_args")
    @classmethod
    def _known_trainer_args(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_trainer_args(value)
        return value

    def differences(self, other: "TrainConfig") -> list[str]:
        """Settings that differ from `other` and would change what is trained (empty: none)."""
        mine, theirs = (c.model_dump(mode="json", exclude=RUN_CONTROL) for c in (self, other))
        return [k for k in mine if mine[k] != theirs.get(k)]

    def for_training_rows(self, rows: int, multi_label: bool = False, classes: int = 2) -> "TrainConfig":
        """This config with the size-dependent defaults settled for a training split of `rows`
        texts and `classes` labels: freeze "auto" trains every weight on single-label tasks, except
        on large sets with few rows per class (see `short_schedule`), and freezes the embeddings on
        those and on multi-label tasks; learning_rate None follows what trains (5e-5 for every
        weight, 1e-4 with any part frozen); epochs None is LARGE_SET_EPOCHS where every weight
        trains on a `short_schedule` set (otherwise train's own rule: DEFAULT_EPOCHS, more on small sets)."""
        short = short_schedule(rows, classes)
        freeze = self.freeze
        if freeze == "auto":
            freeze = "embeddings" if multi_label or (rows >= SMALL_SET_BELOW and not short) else "none"
        rate = self.learning_rate
        if rate is None:
            rate = LEARNING_RATE_ALL_WEIGHTS if freeze == "none" else LEARNING_RATE_FROZEN_EMBEDDINGS
        epochs = self.epochs
        if epochs is None and freeze == "none" and short:
            epochs = float(LARGE_SET_EPOCHS)
        return self.model_copy(update={"freeze": freeze, "learning_rate": rate, "epochs": epochs})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TextclfError(f"Cannot read config file {path}: {exc}.") from None
        data = {**(raw.get("data") or {}), **(overrides.pop("data", None) or {})}
        if overrides.get("trainer_args"):   # --trainer-arg adds to (and wins over) the file's
            overrides["trainer_args"] = {**(raw.get("trainer_args") or {}), **overrides["trainer_args"]}
        raw.update({k: v for k, v in overrides.items() if v is not None})
        raw["data"] = data
        return cls.parse(raw)

    @classmethod
    def parse(cls, raw: dict) -> "TrainConfig":
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            msg = first["msg"].removeprefix("Value error, ")
            raise TextclfError(f"Invalid setting '{where}': {msg}." if where else f"Invalid settings: {msg}.") from None
