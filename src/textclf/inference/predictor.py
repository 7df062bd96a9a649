"""One Predictor over a saved model dir: two backends (torch, onnx), length-sorted batching under
a token budget, window aggregation, temperature, thresholds, MC dropout; pipeline-shaped output."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from textclf.data.features import aggregate, encode
from textclf.data.labels import LabelSpace
from textclf.errors import ModelError
from textclf.evaluation.metrics import softmax
from textclf.evaluation.thresholds import sigmoid
from textclf.inference.backends import (OnnxBackend, TorchBackend, load_pruned_tokenizer,
                                        pick_backend)
from textclf.model_settings import ModelSettings

from textclf.inference.columns import ABSTAIN


def length_batches(lengths: list[int], max_batch_tokens: int, max_batch_size: int = 256,
                   overhead_tokens: float = 64.0):
    """Index batches in ascending length order, each under a padded-token budget, split where it
    is cheapest: a batch costs `overhead_tokens` (the backend's fixed cost of one call, in tokens)
    plus its padded size, and a dynamic programme over the sorted lengths minimises the total.
    So a few mixed-length texts (a server's micro-batch) are not all padded to the longest, and
    many texts still go in few large batches."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order]
    n = len(order)
    best = np.zeros(n + 1)        # best[i]: cheapest cost of the first i sorted texts
    start = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        longest = max(int(sorted_len[i - 1]), 1)
        widest = max(1, min(max_batch_size, max_batch_tokens // longest))
        lo = max(0, i - widest)
        js = np.arange(lo, i)
        cost = best[lo:i] + overhead_tokens + (i - js) * longest
        k = int(np.argmin(cost))
        best[i], start[i] = cost[k], lo + k
    cuts = []
    i = n
    while i > 0:
        cuts.append((int(start[i]), i))
        i = int(start[i])
    for a, b in reversed(cuts):
        yield order[a:b].tolist()


def pad_batch(rows: list[dict], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad one batch to its own longest row (int64 arrays, attention_mask 0 on padding)."""
    width = max(len(r["input_ids"]) for r in rows)
    out = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        arr = np.full((len(rows), width), fill, dtype=np.int64)
        for i, r in enumerate(rows):
            arr[i, :len(r[key])] = r[key]
        out[key] = arr
    return out


def batched_logits(backend, tokenizer, texts: list[str], *, max_length: int,
                   pairs: list[str] | None = None, long_text: str = "truncate", stride: int = 32,
                   max_windows: int | None = None,
                   aggregate_how: str = "mean", max_batch_tokens: int = 8192,
                   progress: bool = False, dropout: bool = False) -> np.ndarray:
    """Logits for `texts` in input order; each batch padded only to its own longest text.
    `backend` is a TorchBackend/OnnxBackend or a torch model. With long_text="chunk", window
    logits are aggregated into one row per text."""
    if not isinstance(backend, (TorchBackend, OnnxBackend)):   # a bare torch model
        backend = TorchBackend(backend)
    feats = encode(tokenizer, texts, pairs, max_length=max_length, long_text=long_text, stride=stride,
                   max_windows=max_windows)
    out = None
    bar = None
    if progress and len(feats) > 256:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(feats), desc="predict", unit="text", leave=False)
    pad_id = tokenizer.pad_token_id or 0
    for idx in length_batches(feats.lengths, max_batch_tokens, overhead_tokens=backend.overhead_tokens):
        logits = backend(pad_batch(feats.rows(idx), pad_id), dropout=dropout)
        if out is None:
            out = np.zeros((len(feats), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
        if bar:
            bar.update(len(idx))
    if bar:
        bar.close()
    return aggregate(out, feats.doc, len(texts), aggregate_how)


class Predictor:
    """`textclf.load(path)` returns one; `predict(texts)` gives pipeline-shaped dicts."""

    def __init__(self, config, tokenizer, backend, model_dir: Path | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.backend = backend
        self.model_dir = model_dir
        self.labels = LabelSpace.from_config(config)
        settings = ModelSettings.of(config)
        self.settings = settings
        self.max_length = settings.max_length or min(tokenizer.model_max_length, 512)
        self.long_text = settings.long_text
        self.stride = settings.stride
        self.max_windows = settings.max_windows
        self.aggregate = settings.aggregate
        self.text_pair = settings.text_pair
        # T is normally folded into the head's weights at training time; apply it only if not
        self.temperature = 1.0 if settings.temperature_folded else settings.temperature
        n = len(self.labels.names)
        # a tuned binary decision threshold is normally folded into the head's bias; add it if not
        self.offsets = np.asarray(settings.logit_offsets(self.labels.names))
        self.thresholds = list(settings.thresholds or [0.5] * n) if self.labels.multi_label else None
        ens = settings.ensemble
        self.ensemble = ens if ens is not None and ens.applied else None
        self.tfidf = self._load_tfidf(model_dir) if self.ensemble is not None else None
        if self.ensemble is not None and self.labels.multi_label:
            self.thresholds = list(self.ensemble.thresholds or [0.5] * n)

    def _load_tfidf(self, model_dir):
        from textclf.evaluation.ensemble import TfidfModel

        if model_dir is None:
            raise ModelError("This model combines a TF-IDF model kept in its folder; load it from its folder.")
        return TfidfModel.load(Path(model_dir) / self.ensemble.tfidf_dir, self.labels)

    def finish(self, probs: np.ndarray, texts: list[str], pairs: list[str] | None = None, *,
               tfidf_probs: np.ndarray | None = None) -> np.ndarray:
        """The model's probabilities as predictions use them: combined with the TF-IDF model's by
        the stacker where the model carries an applied ensemble, else unchanged. `tfidf_probs`:
        the TF-IDF model's probabilities for these texts, when already computed."""
        if self.tfidf is None or not len(texts):
            return probs
        from textclf.evaluation.ensemble import combine
        if tfidf_probs is None:
            tfidf_probs = self.tfidf_probs(texts, pairs)
        return combine(self.ensemble, probs, tfidf_probs, self.labels).astype(np.float32)

    def tfidf_probs(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray | None:
        """The TF-IDF model's probabilities where the model carries an applied ensemble, else None."""
        if self.tfidf is None:
            return None
        from textclf.evaluation.baseline import join_pairs
        return self.tfidf.predict_proba(join_pairs(list(texts), list(pairs) if pairs is not None else None))

    def replica(self, backend) -> "Predictor":
        """A copy that another thread can run at the same time as this one: its own tokenizer (a
        fast tokenizer's padding and truncation settings are changed on every call) and
        `backend`; settings and the TF-IDF model (read only) shared."""
        twin = copy.copy(self)
        twin.tokenizer = copy.deepcopy(self.tokenizer)
        twin.backend = backend
        return twin

    def thresholds_for(self, threshold: float | None = None) -> list[float] | None:
        """Multi-label decision thresholds: the tuned ones, or `threshold` for every label."""
        if self.thresholds is None or threshold is None:
            return self.thresholds
        return [threshold] * len(self.thresholds)

    @property
    def model(self):
        """The torch model (torch backend only)."""
        return getattr(self.backend, "model", None)

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto", warmup: bool = True) -> "Predictor":
        """backend: 'torch', 'compressed' (textclf export --compress: pruned vocab, 4-bit
        embeddings, int8 weights), 'onnx-int8', 'onnx' (the int8 export if there is one, else
        fp32), 'onnx-fp32', or 'auto' (compressed, else int8, else fp32 ONNX, else torch)."""
        from transformers import AutoConfig

        from textclf.models.base import load_classifier, load_tokenizer

        from textclf.runs import model_dir_of

        path = model_dir_of(path)
        kind, exported, pruned = pick_backend(path, backend)
        tokenizer = load_pruned_tokenizer(pruned) if pruned else load_tokenizer(str(path))
        if kind == "onnx":
            config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
            engine = OnnxBackend(exported)
        else:
            model = load_classifier(str(path))
            config, engine = model.config, TorchBackend(model)
        p = cls(config, tokenizer, engine, path)
        if warmup:   # first-call costs (allocations, kernel selection) paid at load, not per request
            p.predict_proba(["warm up"], ["warm up"] if p.text_pair else None)
        return p

    def logits(self, texts: list[str], pairs: list[str] | None = None, *, max_batch_tokens: int = 8192,
               progress: bool = False, dropout: bool = False) -> np.ndarray:
        if pairs is not None and len(pairs) != len(texts):
            raise ModelError(f"Got {len(texts)} texts but {len(pairs)} text pairs.")
        return batched_logits(self.backend, self.tokenizer, list(texts), pairs=pairs,
                              max_length=self.max_length, long_text=self.long_text,
                              stride=self.stride, max_windows=self.max_windows, aggregate_how=self.aggregate,
                              max_batch_tokens=max_batch_tokens, progress=progress, dropout=dropout)

    def to_probs(self, logits: np.ndarray, squash: str | None = None) -> np.ndarray:
        """Temperature-scaled (and decision-offset) softmax, or sigmoid for multi-label;
        `squash` ("softmax" | "sigmoid") picks the function instead of the task."""
        z = logits / self.temperature + self.offsets
        if squash is None:
            squash = "sigmoid" if self.labels.multi_label else "softmax"
        return sigmoid(z) if squash == "sigmoid" else softmax(z)

    def predict_proba(self, texts: list[str], pairs: list[str] | None = None, *,
                      max_batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
        """Class probabilities (softmax), or per-label probabilities (sigmoid) for multi-label."""
        if not len(texts):
            return np.zeros((0, len(self.labels.names)), dtype=np.float32)
        return self.finish(self.to_probs(self.logits(texts, pairs, max_batch_tokens=max_batch_tokens,
                                                     progress=progress)), texts, pairs)

    def mc_dropout(self, texts: list[str], pairs: list[str] | None = None, *, passes: int = 10,
                   seed: int = 0, max_batch_tokens: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """`passes` stochastic forward passes with dropout on (Gal & Ghahramani 2016): returns
        the mean probabilities and the per-text predictive entropy (in nats) of that mean."""
        import torch

        if passes < 2:
            raise ModelError("--mc-dropout needs at least 2 passes.")
        torch.manual_seed(seed)
        runs = np.stack([self.finish(self.to_probs(self.logits(texts, pairs, max_batch_tokens=max_batch_tokens,
                                                               dropout=True)), texts, pairs)
                         for _ in range(passes)])
        mean = runs.mean(0)
        p = np.clip(mean, 1e-12, 1)
        if self.labels.multi_label:
            q = np.clip(1 - mean, 1e-12, 1)
            entropy = -(p * np.log(p) + q * np.log(q)).sum(1)
        else:
            entropy = -(p * np.log(p)).sum(1)
        return mean, entropy

    def predict(self, texts: list[str] | str, pairs: list[str] | str | None = None, *,
                top_k: int | None = 1, threshold: float | None = None,
                min_confidence: float | None = None, **kw) -> list:
        """Like `pipeline("text-classification")`: one {"label","score"} per text (top_k=1),
        or a list of the top_k (None = all) per text, best first. With `min_confidence`, a
        top label scoring below it is replaced by the label "(abstain)".

        Multi-label: per text the list of labels at or above their thresholds (tuned on
        validation, or `threshold` for all), best first; top_k=None lists every label.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if isinstance(pairs, str):
            pairs = [pairs]
        probs = self.predict_proba(texts, pairs, **kw)
        out = self.format(probs, top_k=top_k, threshold=threshold, min_confidence=min_confidence)
        return out[0] if single else out

    def format(self, probs: np.ndarray, *, top_k: int | None = 1, threshold: float | None = None,
               min_confidence: float | None = None) -> list:
        names = self.labels.names
        cut = None
        if self.labels.multi_label and top_k is not None:
            cut = np.asarray(self.thresholds_for(threshold))
        out = []
        for row in probs:
            order = np.argsort(-row)
            ranked = [{"label": names[j], "score": float(row[j])} for j in order
                      if cut is None or row[j] >= cut[j]]
            if self.labels.multi_label:
                out.append(ranked)
            elif top_k == 1:
                best = ranked[0]
                if min_confidence is not None and best["score"] < min_confidence:
                    best = {"label": ABSTAIN, "score": best["score"], "top_label": best["label"]}
                out.append(best)
            else:
                out.append(ranked[:top_k])
        return out
