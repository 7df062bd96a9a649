"""Texts (and text pairs) to model inputs: truncated, or split into overlapping windows.

With `long_text="chunk"` a text longer than max_length becomes several windows that share
`stride` tokens with their neighbours; `doc[i]` says which text window i came from, and
`aggregate` turns window logits back into one row of logits per text. A text that would make
more than `max_windows` windows keeps that many, evenly spaced from its first window to its last,
so one huge document cannot take over a training run or a server's batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Features:
    columns: dict[str, list]   # input_ids, attention_mask, token_type_ids: one entry per window
    doc: list[int]             # text index of each window (identity when truncating)
    capped: int = 0            # texts that had more than max_windows windows
    dropped: int = 0           # windows left out of those texts

    def __len__(self) -> int:
        return len(self.doc)

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.columns["input_ids"]]

    def rows(self, idx) -> list[dict]:
        return [{k: v[i] for k, v in self.columns.items()} for i in idx]


def encode(tokenizer, texts: list[str], pairs: list[str] | None = None, *, max_length: int,
           long_text: str = "truncate", stride: int = 32, max_windows: int | None = None) -> Features:
    kw = dict(max_length=max_length, verbose=False)
    if long_text != "chunk":
        enc = tokenizer(list(texts), pairs, truncation=True, **kw)
        return Features({k: list(enc[k]) for k in enc.keys()}, list(range(len(texts))))
    stride = min(stride, max_length // 2)
    if pairs is not None:   # windows slide over the first text; a long second one must leave room
        pairs = cut_tokens(tokenizer, list(pairs), pair_room(tokenizer, max_length, stride))
    enc = tokenizer(list(texts), pairs, truncation="only_first" if pairs else True,
                    return_overflowing_tokens=True, stride=stride, **kw)
    doc = np.asarray(enc.pop("overflow_to_sample_mapping"), dtype=np.int64)
    keep = kept_windows(doc, max_windows)
    capped = int((np.bincount(doc) > max_windows).sum()) if max_windows else 0
    idx = np.flatnonzero(keep)
    return Features({k: [enc[k][i] for i in idx] for k in enc.keys()}, doc[idx].tolist(),
                    capped=capped, dropped=int(len(doc) - len(idx)))


def pair_room(tokenizer, max_length: int, stride: int) -> int:
    """The tokens a second text keeps when windows slide over the first: at most half of a
    window, and few enough that the first text's share stays longer than the stride (else the
    tokenizer cannot make windows at all)."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    return max(0, min(room // 2, room - min(stride, max_length // 2) - 1))


def cut_tokens(tokenizer, texts: list[str], limit: int, keep: str = "start") -> list[str]:
    """Each text cut to at most `limit` tokens (special tokens not counted) at a word boundary,
    keeping its start (or, keep="end", its end), so that tokenizing the cut text gives the kept
    tokens again; texts within the limit are returned as they are."""
    enc = tokenizer(texts, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                    verbose=False)
    out = []
    for i, text in enumerate(texts):
        n = len(enc["input_ids"][i])
        if n <= limit:
            out.append(text)
            continue
        words, offsets = enc.word_ids(i), enc["offset_mapping"][i]

        def inside(j):   # token j continues the word token j - 1 is in
            return 0 < j < n and words[j] is not None and words[j] == words[j - 1]
        if keep == "end":
            first = n - limit
            while first < n and inside(first):
                first += 1
            out.append(text[offsets[first][0]:] if first < n else "")
        else:
            last = limit
            while last > 0 and inside(last):
                last -= 1
            out.append(text[:offsets[last][0]] if last > 0 else "")
    return out


def kept_windows(doc: np.ndarray, max_windows: int | None) -> np.ndarray:
    """Mask over windows (each text's windows consecutive, as the tokenizer returns them): all of
    a text's windows, or `max_windows` of them evenly spaced, first and last included."""
    keep = np.ones(len(doc), dtype=bool)
    if not max_windows or len(doc) == 0:
        return keep
    counts = np.bincount(doc)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for d in np.flatnonzero(counts > max_windows):
        keep[starts[d]:starts[d] + counts[d]] = False
        chosen = np.round(np.linspace(0, counts[d] - 1, max_windows)).astype(np.int64)
        keep[starts[d] + chosen] = True
    return keep


def window_counts(lengths: np.ndarray, tokenizer, *, max_length: int, stride: int = 32,
                  pair_lengths: np.ndarray | None = None) -> np.ndarray:
    """Windows that `encode(long_text="chunk")` makes of texts with these token lengths (special
    tokens included), without tokenizing again: each window holds the specials, the pair and
    max_length minus those of the text, and starts `stride` tokens before the previous one ends."""
    stride = min(stride, max_length // 2)
    specials = tokenizer.num_special_tokens_to_add(pair=pair_lengths is not None)
    content = np.asarray(lengths, dtype=np.int64) - specials
    room = max_length - specials
    if pair_lengths is not None:
        content -= np.asarray(pair_lengths, dtype=np.int64)
        room = room - np.asarray(pair_lengths, dtype=np.int64)
    room = np.maximum(room, 1)
    step = np.maximum(room - stride, 1)
    return 1 + np.ceil(np.maximum(content - room, 0) / step).astype(np.int64)


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
