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


def dedupe_key(text: str) -> str:
    return " ".join(text.split()).lower()


@dataclass
class Duplicates:
    duplicate_rows: int                      # rows that repeat an earlier (normalised) text
    conflicting: list[tuple[str, list[str]]] = field(default_factory=list)  # text, its labels


def find_duplicates(texts: list[str], labels: list[str]) -> Duplicates:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        groups[dedupe_key(t)].append(i)
    dup_rows = sum(len(g) - 1 for g in groups.values())
    conflicts = []
    for g in groups.values():
        labs = sorted({labels[i] for i in g}) if labels else []
        if len(labs) > 1:
            conflicts.append((texts[g[0]], labs))
    return Duplicates(duplicate_rows=dup_rows, conflicting=conflicts)


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


def stratified_group_split(texts: list[str], labels: list[str], *, valid_size: float = 0.15,
                           test_size: float = 0.15, seed: int = 42) -> dict[str, list[int]]:
    """Row indices for train/validation/test; normalised duplicates stay together."""
    counts = Counter(labels)
    rare = sorted(k for k, c in counts.items() if c < 2)
    if rare:
        raise DataError(f"Class {rare[0]!r} has fewer than 2 examples, so it cannot be stratified "
                        "into splits; add examples, drop the class, or give --valid/--test files.")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        groups[dedupe_key(t)].append(i)
    by_class: dict[str, list[list[int]]] = defaultdict(list)
    for rows in groups.values():
        majority = Counter(labels[i] for i in rows).most_common(1)[0][0]
        by_class[majority].append(rows)
    rng = random.Random(seed)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        n_valid, n_test = _counts(len(members), valid_size, test_size)
        parts = {"test": members[:n_test], "validation": members[n_test:n_test + n_valid],
                 "train": members[n_test + n_valid:]}
        for split, grs in parts.items():
            out[split].extend(i for g in grs for i in g)
    return {s: sorted(v) for s, v in out.items()}


def cross_split_duplicates(a: list[str], b: list[str]) -> int:
    """How many texts of b also occur (normalised) in a: leakage between given files."""
    seen = {dedupe_key(t) for t in a}
    return sum(dedupe_key(t) in seen for t in b)
