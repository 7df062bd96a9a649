"""Texts (and text pairs) to model inputs: truncated, or split into overlapping windows.

With `long_text="chunk"` a text longer than max_length becomes several windows that share
`stride` tokens with their neighbours; `doc[i]` says which text window i came from, and
`aggregate` turns window logits back into one row of logits per text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Features:
    columns: dict[str, list]   # input_ids, attention_mask, token_type_ids: one entry per window
    doc: list[int]             # text index of each window (identity when truncating)

    def __len__(self) -> int:
        return len(self.doc)

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.columns["input_ids"]]

    def rows(self, idx) -> list[dict]:
        return [{k: v[i] for k, v in self.columns.items()} for i in idx]


def encode(tokenizer, texts: list[str], pairs: list[str] | None = None, *, max_length: int,
           long_text: str = "truncate", stride: int = 32) -> Features:
    kw = dict(max_length=max_length, verbose=False)
    if long_text == "chunk":
        stride = min(stride, max_length // 2)
        enc = tokenizer(list(texts), pairs, truncation="only_first" if pairs else True,
                        return_overflowing_tokens=True, stride=stride, **kw)
        doc = [int(d) for d in enc.pop("overflow_to_sample_mapping")]
    else:
        enc = tokenizer(list(texts), pairs, truncation=True, **kw)
        doc = list(range(len(texts)))
    return Features({k: list(enc[k]) for k in enc.keys()}, doc)


def aggregate(logits: np.ndarray, doc: list[int], n_docs: int, how: str = "mean") -> np.ndarray:
    """One row per text from one row per window: the mean (or max) of its windows' logits."""
    doc = np.asarray(doc)
    if len(doc) == n_docs and (doc == np.arange(n_docs)).all():
        return logits
    out = np.full((n_docs, logits.shape[1]), -np.inf if how == "max" else 0.0, dtype=logits.dtype)
    if how == "max":
        np.maximum.at(out, doc, logits)
    else:
        np.add.at(out, doc, logits)
        out /= np.bincount(doc, minlength=n_docs)[:, None]
    return out
