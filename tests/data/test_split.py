import random
from collections import Counter

import pytest

from textclf.data.split import dedupe_key, find_duplicates, stratified_group_split
from textclf.errors import DataError


def _data(seed=0):
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(300):
        lab = "spam" if i % 7 == 0 else "ham"
        texts.append(f"message number {i} {lab}")
        labels.append(lab)
    # normalised duplicates: different case and spacing of earlier texts
    for i in rng.sample(range(300), 60):
        texts.append("  " + texts[i].upper().replace(" ", "   ") + " ")
        labels.append(labels[i])
    return texts, labels


def test_no_normalised_duplicate_crosses_splits():
    texts, labels = _data()
    idx = stratified_group_split(texts, labels, seed=1)
    owner = {}
    for split, rows in idx.items():
        for i in rows:
            assert owner.setdefault(dedupe_key(texts[i]), split) == split
    assert sorted(i for rows in idx.values() for i in rows) == list(range(len(texts)))


def test_split_is_stratified_and_about_70_15_15():
    texts, labels = _data()
    idx = stratified_group_split(texts, labels, seed=1)
    n = len(texts)
    for split, share in (("train", 0.70), ("validation", 0.15), ("test", 0.15)):
        assert abs(len(idx[split]) / n - share) < 0.04
        spam_share = Counter(labels[i] for i in idx[split])["spam"] / len(idx[split])
        assert abs(spam_share - 1 / 7) < 0.04


def test_seed_reproduces_and_changes_split():
    texts, labels = _data()
    assert stratified_group_split(texts, labels, seed=3) == stratified_group_split(texts, labels, seed=3)
    assert stratified_group_split(texts, labels, seed=3) != stratified_group_split(texts, labels, seed=4)


def test_class_with_one_example_cannot_be_stratified():
    with pytest.raises(DataError, match="fewer than 2 examples"):
        stratified_group_split(["a", "b", "c", "d"], ["x", "x", "x", "y"])


def test_conflicting_duplicates_are_reported():
    d = find_duplicates(["Hi there", "hi  there", "other"], ["ham", "spam", "ham"])
    assert d.duplicate_rows == 1
    assert d.conflicting == [("Hi there", ["ham", "spam"])]
