"""Long texts as windows: the per-text cap (evenly spaced windows), the window count the data
report predicts without tokenizing twice, and a huge document that can no longer take over a run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from textclf.data.features import encode, kept_windows, window_counts


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from textclf.models.base import load_tokenizer
    return load_tokenizer(str(tiny_model_dir))


WORDS = "the a movie great terrible plot actor scene unbelievably extraordinary".split()


def texts_of(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(n))) for n in lengths]


def test_capped_text_keeps_evenly_spaced_windows_first_and_last():
    doc = np.array([0] * 3 + [1] * 40 + [2])
    keep = kept_windows(doc, 5)
    assert keep[:3].all() and keep[-1]                       # short texts untouched
    kept_of_1 = np.flatnonzero(keep[3:43])
    assert kept_of_1.tolist() == [0, 10, 20, 29, 39]         # first, last, evenly between
    assert kept_windows(doc, None).all()


def test_encode_caps_windows_per_text_and_counts_what_it_left_out(tokenizer):
    texts = texts_of([5, 3000, 12])
    full = encode(tokenizer, texts, max_length=32, long_text="chunk", stride=8)
    capped = encode(tokenizer, texts, max_length=32, long_text="chunk", stride=8, max_windows=6)
    n_big = int((np.asarray(full.doc) == 1).sum())
    assert n_big > 100
    assert np.bincount(capped.doc).tolist() == [1, 6, 1]
    assert (capped.capped, capped.dropped) == (1, n_big - 6)
    big = [r["input_ids"] for r, d in zip(full.rows(range(len(full))), full.doc) if d == 1]
    kept = [r["input_ids"] for r, d in zip(capped.rows(range(len(capped))), capped.doc) if d == 1]
    assert kept[0] == big[0] and kept[-1] == big[-1]         # the text's start and end stay


@pytest.mark.parametrize("max_length,stride", [(32, 8), (64, 16), (48, 24)])
def test_window_counts_match_the_tokenizer(tokenizer, max_length, stride):
    from textclf.data.checks import token_lengths

    rng = np.random.default_rng(1)
    texts = texts_of(rng.integers(1, 400, 40))
    pairs = texts_of(rng.integers(1, 6, 40), seed=2)
    got = window_counts(token_lengths(texts, tokenizer), tokenizer, max_length=max_length, stride=stride)
    real = np.bincount(encode(tokenizer, texts, max_length=max_length, long_text="chunk", stride=stride).doc)
    assert got.tolist() == real.tolist()
    lengths = token_lengths(texts, tokenizer, pairs)
    pair_tokens = token_lengths(pairs, tokenizer) - 2
    got = window_counts(lengths, tokenizer, max_length=max_length, stride=stride, pair_lengths=pair_tokens)
    real = np.bincount(encode(tokenizer, texts, pairs, max_length=max_length, long_text="chunk",
                              stride=stride).doc)
    assert got.tolist() == real.tolist()


def huge_document_file(tmp_path, n_small=40):
    """A CSV of short labelled texts plus one of about 1 MB (some 200,000 tokens)."""
    rng = np.random.default_rng(0)
    rows = [{"text": f"{'good great fine' if i % 2 else 'bad awful poor'} item {i}",
             "label": "pos" if i % 2 else "neg"} for i in range(n_small)]
    rows.append({"text": " ".join(rng.choice(WORDS, size=170_000)), "label": "pos"})
    path = tmp_path / "huge.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_data_report_says_how_many_texts_are_capped(tokenizer, tmp_path):
    from textclf.config import DataConfig
    from textclf.data.checks import data_report, warnings
    from textclf.data.prepare import prepare

    data = prepare(DataConfig(train=str(huge_document_file(tmp_path))), seed=0, check_labels=False)
    report = data_report(data, tokenizer, 32, stride=8, max_windows=4)
    w = report["windows"]
    assert w["capped_texts"] == 1 and w["max_windows"] == 4
    assert w["dropped"] == w["total"] - 40 - 4 and w["dropped"] > 1000
    assert any("1 texts make more than 4 windows" in line for line in warnings(report))
    assert "windows" not in data_report(data, tokenizer, 32, long_text="truncate")


def test_a_huge_document_trains_as_max_windows_windows(tiny_config, tmp_path):
    import textclf

    small = pd.read_csv(huge_document_file(tmp_path)).iloc[:40]   # the huge text trains
    small.iloc[:20].to_csv(tmp_path / "valid.csv", index=False)
    small.iloc[20:].to_csv(tmp_path / "test.csv", index=False)
    data = {"valid": str(tmp_path / "valid.csv"), "test": str(tmp_path / "test.csv")}
    run = textclf.train(tiny_config(huge_document_file(tmp_path), data=data, max_windows=4, stride=8,
                                    epochs=1), quiet=True)
    log = [json.loads(line) for line in (run.path / "train_log.jsonl").read_text().splitlines()]
    steps = max(h.get("step", 0) for h in log)
    assert steps <= 6          # 40 + 4 training windows at batch 8, not thousands
    settings = json.loads((run.model_dir / "config.json").read_text())["textclf"]
    assert settings["max_windows"] == 4
    assert "windows left out" in (run.path / "report.md").read_text()


def test_cut_tokens_keeps_whole_words_from_either_end(tokenizer):
    from textclf.data.features import cut_tokens

    text = "unbelievably extraordinary plot " * 10
    start, end = cut_tokens(tokenizer, [text, text, "short"], 7)[:2], cut_tokens(tokenizer, [text], 7, keep="end")
    for cut in (*start, *end):
        ids = tokenizer(cut, add_special_tokens=False)["input_ids"]
        assert 0 < len(ids) <= 7
    assert text.startswith(start[0]) and text.endswith(end[0])
    assert tokenizer(start[0], add_special_tokens=False)["input_ids"] == \
        tokenizer(text, add_special_tokens=False)["input_ids"][:len(tokenizer(start[0], add_special_tokens=False)["input_ids"])]
    assert cut_tokens(tokenizer, ["short"], 7) == ["short"]


@pytest.mark.parametrize("max_length,stride", [(32, 8), (64, 32), (16, 8)])
def test_pairs_whose_second_text_is_long_still_make_windows(tokenizer, max_length, stride):
    """The tokenizer cannot slide windows over the first text when the second leaves it no more
    room than the stride (it panics); the second text is cut to leave the first half a window."""
    from textclf.data.checks import token_lengths
    from textclf.data.features import cut_tokens, pair_room

    texts = texts_of([300, 5, 80])
    pairs = texts_of([200, 3, 90], seed=3)
    feats = encode(tokenizer, texts, pairs, max_length=max_length, long_text="chunk", stride=stride)
    assert sorted(set(feats.doc)) == [0, 1, 2] and max(feats.lengths) <= max_length
    cut = cut_tokens(tokenizer, pairs, pair_room(tokenizer, max_length, stride))
    counts = window_counts(token_lengths(texts, tokenizer, cut), tokenizer, max_length=max_length,
                           stride=stride, pair_lengths=token_lengths(cut, tokenizer) - 2)
    assert counts.tolist() == np.bincount(feats.doc).tolist()
