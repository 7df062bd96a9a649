"""One Predictor over a saved model dir: length-sorted batching, pipeline-shaped output."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from textclf.data.labels import LabelSpace
from textclf.errors import ModelError
from textclf.evaluation.metrics import softmax


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
def batched_logits(model, tokenizer, texts: list[str], *, max_length: int,
                   max_batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
    """Logits for `texts` in input order; each batch padded only to its own longest text."""
    model.eval()
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, verbose=False)
    lengths = [len(ids) for ids in enc["input_ids"]]
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    batches = list(length_batches(lengths, max_batch_tokens))
    bar = None
    if progress and len(texts) > 256:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(texts), desc="predict", unit="text", leave=False)
    device = next(model.parameters()).device
    for idx in batches:
        feats = [{k: enc[k][i] for k in enc.keys()} for i in idx]
        batch = tokenizer.pad(feats, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        out[idx] = model(**batch).logits.float().cpu().numpy()
        if bar:
            bar.update(len(idx))
    if bar:
        bar.close()
    return out


class Predictor:
    """`textclf.load(path)` returns one; `predict(texts)` gives pipeline-shaped dicts."""

    def __init__(self, model, tokenizer, max_length: int | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = LabelSpace.from_config(model.config)
        extra = getattr(model.config, "textclf", None) or {}
        self.max_length = max_length or extra.get("max_length") or min(tokenizer.model_max_length, 512)

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        from textclf.models.base import load_classifier, load_tokenizer

        path = Path(path)
        if (path / "model" / "config.json").exists():   # a run dir: use its model/
            path = path / "model"
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a textclf model dir or run dir (no config.json).")
        return cls(load_classifier(str(path)), load_tokenizer(str(path)))

    def predict_proba(self, texts: list[str], *, max_batch_tokens: int = 8192,
                      progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels.names)), dtype=np.float32)
        logits = batched_logits(self.model, self.tokenizer, texts, max_length=self.max_length,
                                max_batch_tokens=max_batch_tokens, progress=progress)
        return softmax(logits)

    def predict(self, texts: list[str] | str, *, top_k: int | None = 1, **kw) -> list:
        """Like `pipeline("text-classification")`: one {"label","score"} per text (top_k=1),
        or a list of the top_k (None = all) per text, best first."""
        single = isinstance(texts, str)
        probs = self.predict_proba([texts] if single else list(texts), **kw)
        names = self.labels.names
        out = []
        for row in probs:
            order = np.argsort(-row)
            ranked = [{"label": names[j], "score": float(row[j])} for j in order]
            out.append(ranked[0] if top_k == 1 else ranked[:top_k])
        return out[0] if single else out
