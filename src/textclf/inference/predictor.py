"""One Predictor over a saved model dir: length-sorted batching, pipeline-shaped output."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from textclf.data.features import aggregate, encode
from textclf.data.labels import LabelSpace
from textclf.errors import ModelError
from textclf.evaluation.metrics import softmax
from textclf.evaluation.thresholds import sigmoid


def length_batches(lengths: list[int], max_batch_tokens: int, max_batch_size: int = 256):
    """Index batches in ascending length order, each under a padded-token budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        # sorted ascending, so the newest item is the longest: padded size = len(batch)*lengths[i]
        if batch and ((len(batch) + 1) * lengths[i] > max_batch_tokens or len(batch) >= max_batch_size):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@torch.inference_mode()
def batched_logits(model, tokenizer, texts: list[str], *, max_length: int, pairs: list[str] | None = None,
                   long_text: str = "truncate", stride: int = 32, aggregate_how: str = "mean",
                   max_batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
    """Logits for `texts` in input order; each batch padded only to its own longest text.
    With long_text="chunk", window logits are aggregated into one row per text."""
    model.eval()
    feats = encode(tokenizer, texts, pairs, max_length=max_length, long_text=long_text, stride=stride)
    out = np.zeros((len(feats), model.config.num_labels), dtype=np.float32)
    bar = None
    if progress and len(feats) > 256:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(feats), desc="predict", unit="text", leave=False)
    device = next(model.parameters()).device
    for idx in length_batches(feats.lengths, max_batch_tokens):
        batch = tokenizer.pad(feats.rows(idx), return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        out[idx] = model(**batch).logits.float().cpu().numpy()
        if bar:
            bar.update(len(idx))
    if bar:
        bar.close()
    return aggregate(out, feats.doc, len(texts), aggregate_how)


class Predictor:
    """`textclf.load(path)` returns one; `predict(texts)` gives pipeline-shaped dicts."""

    def __init__(self, model, tokenizer, max_length: int | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = LabelSpace.from_config(model.config)
        extra = getattr(model.config, "textclf", None) or {}
        self.max_length = max_length or extra.get("max_length") or min(tokenizer.model_max_length, 512)
        self.long_text = extra.get("long_text", "truncate")
        self.stride = extra.get("stride", 32)
        self.aggregate = extra.get("aggregate", "mean")
        self.text_pair = bool(extra.get("text_pair", False))
        n = len(self.labels.names)
        self.thresholds = list(extra.get("thresholds") or [0.5] * n) if self.labels.multi_label else None

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        from textclf.models.base import load_classifier, load_tokenizer

        path = Path(path)
        if (path / "model" / "config.json").exists():   # a run dir: use its model/
            path = path / "model"
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a textclf model dir or run dir (no config.json).")
        return cls(load_classifier(str(path)), load_tokenizer(str(path)))

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None, *,
                      max_batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
        """Class probabilities (softmax), or per-label probabilities (sigmoid) for multi-label."""
        if not texts:
            return np.zeros((0, len(self.labels.names)), dtype=np.float32)
        if pairs is not None and len(pairs) != len(texts):
            raise ModelError(f"Got {len(texts)} texts but {len(pairs)} text pairs.")
        logits = batched_logits(self.model, self.tokenizer, texts, pairs=pairs,
                                max_length=self.max_length, long_text=self.long_text,
                                stride=self.stride, aggregate_how=self.aggregate,
                                max_batch_tokens=max_batch_tokens, progress=progress)
        return sigmoid(logits) if self.labels.multi_label else softmax(logits)

    def predict(self, texts: list[str] | str, pairs: list[str] | str | None = None, *,
                top_k: int | None = 1, threshold: float | None = None, **kw) -> list:
        """Like `pipeline("text-classification")`: one {"label","score"} per text (top_k=1),
        or a list of the top_k (None = all) per text, best first.

        Multi-label: per text the list of labels at or above their thresholds (tuned on
        validation, or `threshold` for all), best first; top_k=None lists every label.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if isinstance(pairs, str):
            pairs = [pairs]
        probs = self.predict_proba(texts, pairs, **kw)
        names = self.labels.names
        cut = None
        if self.labels.multi_label and top_k is not None:
            cut = np.full(len(names), threshold) if threshold is not None else np.asarray(self.thresholds)
        out = []
        for row in probs:
            order = np.argsort(-row)
            ranked = [{"label": names[j], "score": float(row[j])} for j in order
                      if cut is None or row[j] >= cut[j]]
            if self.labels.multi_label:
                out.append(ranked)
            else:
                out.append(ranked[0] if top_k == 1 else ranked[:top_k])
        return out[0] if single else out
