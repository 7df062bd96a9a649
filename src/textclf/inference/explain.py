"""Why this label: per-token attributions with captum's layer integrated gradients.

The attribution of a token is the integrated gradient of the explained label's log-odds,
log p/(1-p), along a straight path from a baseline input (every real token replaced by the pad
token, special tokens kept) to the text, taken at the word-embedding layer and summed over the
embedding dimensions. The attributions add up to the label's log-odds on the text minus those on
the baseline (up to `convergence_delta`): a word's value is the log-odds it adds, positive toward
the label. Log-odds, not probabilities: a confident model's probability is flat near 1, so its
gradients (and probability attributions) vanish, while its log-odds still move. Word pieces are
summed into words.

captum is an optional extra: pip install 'textclf[explain]'.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from textclf.errors import ModelError, TextclfError

METHOD = "integrated_gradients"
DEFAULT_STEPS = 50
MAX_STEPS = 300
TOKEN_BUDGET = 8192   # interpolation steps x tokens per internal batch


class ExplainError(TextclfError):
    """An explanation cannot be computed as asked."""


def require_captum():
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise ExplainError("Explanations need captum, which is not installed; "
                           "run: pip install 'textclf[explain]'.") from None
    return LayerIntegratedGradients


@dataclass
class _Encoded:
    feeds: dict            # input_ids, attention_mask[, token_type_ids] as (1, n) tensors
    baseline: object       # input_ids with every non-special token replaced by pad
    tokens: list[str]
    special: list[bool]
    words: list[tuple[int, int] | None]    # (segment, word index) per token, None for specials
    offsets: list[tuple[int, int]]
    truncated: bool


class Explainer:
    """Explanations for one saved model. Takes the Predictor's torch model, or loads one from
    its model dir when the Predictor runs ONNX. One explanation at a time (they are heavy)."""

    def __init__(self, predictor):
        require_captum()
        self.predictor = predictor
        self.tokenizer = predictor.tokenizer
        if not getattr(self.tokenizer, "is_fast", False):
            raise ExplainError("Explanations need a fast tokenizer (word offsets); this model has a slow one.")
        model = predictor.model
        if model is None:
            from textclf.models.base import load_classifier
            if predictor.model_dir is None:
                raise ModelError("This predictor has no model dir to load a torch model from.")
            model = load_classifier(str(predictor.model_dir)).eval()
        self.model = model
        self.lock = threading.Lock()

    # ---- the pieces ----
    def _encode(self, text: str, pair: str | None) -> _Encoded:
        import torch

        tok = self.tokenizer
        max_len = self.predictor.max_length
        enc = tok(text, pair, truncation=True, max_length=max_len, return_offsets_mapping=True,
                  return_special_tokens_mask=True)
        full = len(tok(text, pair, truncation=False)["input_ids"])
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
        feeds = {n: torch.tensor([enc[n]], dtype=torch.long) for n in names}
        special = [bool(s) for s in enc["special_tokens_mask"]]
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        baseline = torch.tensor([[t if s else pad for t, s in zip(enc["input_ids"], special)]],
                                dtype=torch.long)
        seq_ids, word_ids = enc.sequence_ids(), enc.word_ids()
        words = [None if s or w is None else (q, w) for s, q, w in zip(special, seq_ids, word_ids)]
        return _Encoded(feeds, baseline, tok.convert_ids_to_tokens(enc["input_ids"]), special, words,
                        [tuple(o) for o in enc["offset_mapping"]], full > len(enc["input_ids"]))

    def _forward(self):
        import torch

        p = self.predictor
        offsets = torch.tensor(p.offsets, dtype=torch.float32)
        multi = p.labels.multi_label
        model = self.model

        def log_odds(input_ids, attention_mask, token_type_ids=None):
            kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            z = model(input_ids=input_ids, attention_mask=attention_mask, **kw).logits.float()
            z = z / p.temperature + offsets
            if multi:   # a sigmoid's logit is its log-odds
                return z
            # softmax: log p_j - log(1 - p_j) = z_j - logsumexp(z_k, k != j), stable near p = 1
            c = z.shape[-1]
            others = z.unsqueeze(1).expand(-1, c, -1).masked_fill(torch.eye(c, dtype=torch.bool),
                                                                   float("-inf"))
            return z - torch.logsumexp(others, dim=-1)
        return log_odds

    def _target(self, probs: np.ndarray, target: str | None) -> int:
        names = list(self.predictor.labels.names)
        if target is None:
            return int(np.argmax(probs))
        if target not in names:
            raise ExplainError(f"Unknown label {target!r}; the model's labels are {', '.join(names)}.")
        return names.index(target)

    # ---- the whole thing ----
    def explain(self, text: str, pair: str | None = None, *, target: str | None = None,
                steps: int = DEFAULT_STEPS) -> dict:
        """Attributions toward `target` (default: the top label) for one text (or text pair)."""
        import torch

        if not text or not text.strip() or (pair is not None and not pair.strip()):
            raise ExplainError("Give a non-empty text to explain.")
        if not 2 <= steps <= MAX_STEPS:
            raise ExplainError(f"steps must be between 2 and {MAX_STEPS}.")
        if (pair is not None) != bool(self.predictor.text_pair):
            raise ExplainError("This model classifies text pairs; give the second text too."
                               if self.predictor.text_pair else
                               "This model classifies single texts; a second text is not used.")
        LayerIntegratedGradients = require_captum()
        e = self._encode(text, pair)
        forward = self._forward()
        inputs = e.feeds["input_ids"]
        extra = tuple(e.feeds[n] for n in ("attention_mask", "token_type_ids") if n in e.feeds)
        with self.lock, torch.enable_grad():
            self.model.eval()
            with torch.no_grad():
                odds = forward(inputs, *extra)[0].numpy()
            probs = 1 / (1 + np.exp(-odds))   # each label's probability from its log-odds
            j = self._target(probs, target)
            lig = LayerIntegratedGradients(forward, self.model.get_input_embeddings())
            attr, delta = lig.attribute(inputs, baselines=e.baseline, target=j,
                                        additional_forward_args=extra, n_steps=steps,
                                        internal_batch_size=max(1, TOKEN_BUDGET // inputs.shape[1]),
                                        return_convergence_delta=True)
        per_token = attr.sum(-1)[0].detach().float().numpy()
        names = self.predictor.labels.names
        best = int(np.argmax(probs))
        texts = [text] if pair is None else [text, pair]
        words = _words(e, per_token, texts)
        return {"label": names[best], "score": float(probs[best]),
                "target": names[j], "target_score": float(probs[j]),
                "method": METHOD, "unit": "log-odds", "steps": steps,
                "convergence_delta": float(delta.abs().max()), "truncated": e.truncated,
                "tokens": [{"token": t, "attribution": float(a)}
                           for t, a, s in zip(e.tokens, per_token, e.special) if not s],
                "words": words,
                "segments": [_segments(t, [w for w in words if w["segment"] == k])
                             for k, t in enumerate(texts)]}


def _words(e: _Encoded, per_token: np.ndarray, texts: list[str]) -> list[dict]:
    """Word pieces merged into words: the text span they cover and their summed attribution."""
    out: list[dict] = []
    key = None
    for w, (a, b), value in zip(e.words, e.offsets, per_token):
        if w is None:
            key = None
            continue
        if w != key:
            out.append({"word": "", "segment": w[0], "start": a, "end": b, "attribution": 0.0})
            key = w
        out[-1]["end"] = b
        out[-1]["attribution"] += float(value)
    for item in out:
        item["word"] = texts[item["segment"]][item["start"]:item["end"]]
    return out


def _segments(text: str, words: list[dict]) -> list[dict]:
    """The whole text as consecutive pieces, each a word (with its attribution) or the text
    between words (attribution None), so a page can rebuild the text and colour it."""
    pieces, pos = [], 0
    for w in words:
        if w["start"] > pos:
            pieces.append({"text": text[pos:w["start"]], "attribution": None})
        pieces.append({"text": text[w["start"]:w["end"]], "attribution": w["attribution"]})
        pos = w["end"]
    if pos < len(text):
        pieces.append({"text": text[pos:], "attribution": None})
    return pieces


def top_words(explanation: dict, k: int = 5) -> tuple[list[dict], list[dict]]:
    """The k words pushing hardest toward the explained label, and the k pushing against it."""
    words = explanation["words"]
    pro = sorted((w for w in words if w["attribution"] > 0), key=lambda w: -w["attribution"])[:k]
    con = sorted((w for w in words if w["attribution"] < 0), key=lambda w: w["attribution"])[:k]
    return pro, con


def why_line(explanation: dict, k: int = 5) -> str:
    """One line for the terminal: 'why spam: free +2.1, prize +1.8 ... | against: ...' (log-odds)."""
    pro, con = top_words(explanation, k)

    def fmt(ws):
        return (", ".join(f"{w['word']} {w['attribution']:+.3g}" for w in ws)
                or "(no word pushes toward it; the text scores as an empty one would)")
    line = f"  why {explanation['target']}: {fmt(pro)}"
    if con:
        line += f" | against: {fmt(con[:3])}"
    if explanation["truncated"]:
        line += " | (text cut at the model's max length; the rest is not explained)"
    return line
