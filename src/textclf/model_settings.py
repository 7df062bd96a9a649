"""The settings a trained model carries in its config.json (under the `textclf` key): how to
encode its input, which label is positive, the fitted temperature and decision thresholds.

One typed object, written once at training time (`ModelSettings.attach`) and read back by
everything that loads a model (`ModelSettings.of`). Defaults here are what a model saved
without a key meant, so older model dirs keep loading the same way.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

KEY = "textclf"


class Decision(BaseModel):
    """Binary tasks: the decision threshold tuned on validation, and whether it was applied."""
    model_config = ConfigDict(extra="allow")

    threshold: float = 0.5
    tuned: float = 0.5
    heldout_gain: float = 0.0
    applied: bool = False
    label: str | None = None
    metric: str | None = None
    logit_offset: float | None = None       # added to the positive logit where applied
    folded_into_head: bool = True           # the offset lives in the head's bias


class Ensemble(BaseModel):
    """The fine-tuned model combined with a TF-IDF model (textclf.evaluation.ensemble): a stacker
    fitted on validation, applied where it beat the fine-tuned model alone on held-out halves."""
    model_config = ConfigDict(extra="allow")

    applied: bool = False
    rule: str = "auto"                        # auto | always | none
    reason: str | None = None                 # why it is not applied
    heldout_gain: float | None = None
    tfidf_dir: str | None = None              # folder of the TF-IDF model in the model dir
    tfidf_C: float | None = None
    stacker_C: float | None = None
    coef: list[list[float]] | None = None     # the stacker's weights
    intercept: list[float] | None = None
    classes: list[int] | None = None          # label ids the stacker's outputs are for
    thresholds: list[float] | None = None     # multi-label: decision thresholds of the combination
    valid_primary: float | None = None        # validation primary metric, combined / model alone
    valid_primary_model: float | None = None


# chunk: windows one text contributes at most (evenly spaced); chosen so no imdb_subset review is
# capped at max_length 256 (at most 9 windows) and 2 of 2,000 are at 128; see docs/usage.md
DEFAULT_MAX_WINDOWS = 16


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    base_model: str | None = None
    task: str | None = None
    positive_label: str | None = None
    primary_metric: str | None = None
    max_length: int | None = None            # None: the tokenizer's limit (at most 512)
    text_pair: bool = False
    long_text: Literal["truncate", "chunk"] = "truncate"
    stride: int = 32
    max_windows: int = DEFAULT_MAX_WINDOWS
    aggregate: Literal["mean", "max"] = "mean"
    temperature: float = 1.0
    temperature_folded: bool = True          # T already divides the head's weights
    thresholds: list[float] | None = None    # multi-label: one per label, tuned on validation
    label_offsets: list[float] | None = None  # multi-label: added to each label's logit after T (part of its positive weight taken back)
    label_offsets_folded: bool = True        # the offsets live in the head's bias
    decision: Decision | None = None
    ensemble: Ensemble | None = None         # applied: predictions combine the TF-IDF model's

    @classmethod
    def of(cls, config) -> "ModelSettings":
        """The settings stored in a transformers config (none stored: the defaults)."""
        raw = getattr(config, KEY, None) or {}
        if isinstance(raw, ModelSettings):
            return raw
        return cls.model_validate({k: v for k, v in raw.items() if v is not None})

    def attach(self, config) -> None:
        """Store these settings in a transformers config, to be saved with the model."""
        setattr(config, KEY, self.model_dump(mode="json", exclude_unset=True))

    def logit_offsets(self, names) -> list[float]:
        """Per label, what to add to its logit: a tuned decision threshold or multi-label offsets
        not folded into the head."""
        out = [0.0] * len(names)
        if self.label_offsets is not None and not self.label_offsets_folded:
            out = [float(o) for o in self.label_offsets]
        d = self.decision
        if d is not None and d.applied and not d.folded_into_head and d.logit_offset is not None:
            out[list(names).index(d.label)] = d.logit_offset
        return out
