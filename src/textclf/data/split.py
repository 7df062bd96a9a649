"""Dedupe-aware stratified train/validation/test splits.

Texts that are equal after case and whitespace normalisation form one group; a group never
crosses splits. Groups are stratified by their (majority) label, class by class, with a seed.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from textclf.errors import DataError

SPLITS = ("train", "validation", "test")


def dedupe_key(text: str, pair: str | None = None) -> str:
    key = " ".join(text.split()).lower()
    return key if pair is None else key + "\x1f" + " ".join(pair.split()).lower()


def dedupe_keys(texts: list[str], pairs: list[str] | None = None) -> list[str]:
    """One key per row; a sentence pair is deduplicated as a pair."""
    if pairs is None:
        return [dedupe_key(t) for t in texts]
    return [dedupe_key(t, p) for t, p in zip(texts, pairs)]


def _groups(keys: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k].append(i)
    return groups


@dataclass
class Duplicates:
    duplicate_rows: int                      # rows that repeat an earlier (normalised) text
    conflicting: list[tuple[str, list[str]]] = field(default_factory=list)  # text, its labels


def find_duplicates(texts: list[str], labels: list, pairs: list[str] | None = None) -> Duplicates:
    groups = _groups(dedupe_keys(texts, pairs))
    dup_rows = sum(len(g) - 1 for g in groups.values())
    conflicts = []
    for g in groups.values():
        labs = sorted({_as_label(labels[i]) for i in g}) if labels else []
        if len(labs) > 1:
            conflicts.append((texts[g[0]], labs))
    return Duplicates(duplicate_rows=dup_rows, conflicting=conflicts)


def _as_label(value) -> str:
    return "|".join(value) if isinstance(value, tuple) else value


def _counts(n: int, valid: float, test: float) -> tuple[int, int]:
    """How many of n groups of one class go to validation and test."""
    n_test = round(n * test)
    n_valid = round(n * valid)
    if n >= 3:   # every split sees every class when there is enough of it
        n_test, n_valid = max(n_test, 1 if test > 0 else 0), max(n_valid, 1 if valid > 0 else 0)
    elif n == 2:
        n_test, n_valid = (1 if test > 0 else 0), 0
    while n - n_test - n_valid < 1:   # train keeps at least one
        if n_valid > n_test:
            n_valid -= 1
        else:
            n_test -= 1
    return n_valid, n_test


def stratified_group_split(texts: list[str], labels: list, *, valid_size: float = 0.15,
                           test_size: float = 0.15, seed: int = 42,
                           pairs: list[str] | None = None) -> dict[str, list[int]]:
    """Row indices for train/validation/test; normalised duplicates stay together.

    Single-label rows are stratified class by class; multi-label rows (label tuples) with
    iterative stratification, so every label keeps roughly its share in every split.
    """
    groups = list(_groups(dedupe_keys(texts, pairs)).values())
    if labels and isinstance(labels[0], tuple):
        parts = _multilabel_parts(groups, labels, valid_size, test_size, seed)
    else:
        parts = _single_label_parts(groups, labels, valid_size, test_size, seed)
    return {s: sorted(i for g in parts[s] for i in g) for s in SPLITS}


def _single_label_parts(groups, labels, valid_size, test_size, seed):
    counts = Counter(labels)
    rare = sorted(k for k, c in counts.items() if c < 2)
    if rare:
        raise DataError(f"Class {rare[0]!r} has fewer than 2 examples, so it cannot be stratified "
                        "into splits; add examples, drop the class, or give --valid/--test files.")
    by_class: dict[str, list[list[int]]] = defaultdict(list)
    for rows in groups:
        majority = Counter(labels[i] for i in rows).most_common(1)[0][0]
        by_class[majority].append(rows)
    rng = random.Random(seed)
    out: dict[str, list[list[int]]] = {s: [] for s in SPLITS}
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        n_valid, n_test = _counts(len(members), valid_size, test_size)
        out["test"] += members[:n_test]
        out["validation"] += members[n_test:n_test + n_valid]
        out["train"] += members[n_test + n_valid:]
    return out


def _multilabel_parts(groups, labels, valid_size, test_size, seed):
    """Iterative stratification (Sechidis et al. 2011, via iterative-stratification) over groups."""
    import numpy as np
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    names = sorted({v for row in labels for v in row})
    col = {n: j for j, n in enumerate(names)}
    y = np.zeros((len(groups), len(names)), dtype=int)
    for g, rows in enumerate(groups):
        for i in rows:
            for v in labels[i]:
                y[g, col[v]] = 1

    def cut(idx: np.ndarray, share: float, salt: int) -> tuple[np.ndarray, np.ndarray]:
        if share <= 0 or len(idx) < 2:
            return idx, idx[:0]
        sss = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=share, random_state=seed + salt)
        keep, take = next(sss.split(np.zeros(len(idx)), y[idx]))
        return idx[keep], idx[take]

    rest, test = cut(np.arange(len(groups)), test_size, 0)
    train, valid = cut(rest, valid_size / max(1e-9, 1 - test_size), 1)
    return {"train": [groups[g] for g in train], "validation": [groups[g] for g in valid],
            "test": [groups[g] for g in test]}


def cross_split_duplicates(a: list[str], b: list[str], a_pairs: list[str] | None = None,
                           b_pairs: list[str] | None = None) -> int:
    """How many texts (or pairs) of b also occur (normalised) in a: leakage between given files."""
    seen = set(dedupe_keys(a, a_pairs))
    return sum(k in seen for k in dedupe_keys(b, b_pairs))
