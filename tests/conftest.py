"""Shared fixtures: a tiny random BERT (built in-process, seconds) and small data files."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

HAM = ["see you at lunch tomorrow", "ok i will call you later", "are we still on for tonight",
       "thanks for the lovely dinner", "running a bit late sorry", "what time is the game",
       "can you pick up some milk", "happy birthday have a great day", "i am at home now",
       "lets meet at the station"]
SPAM = ["win a free prize now call 0800 claim your cash reward",
        "urgent your account won 1000 pounds text claim to 80082 now",
        "free entry to win cash prize txt win to 87121 now",
        "congratulations you won a free holiday call now to claim"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with the default model's uncased vocab."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from textclf.models.base import default_model_dir

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(default_model_dir())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def make_rows(n_ham=60, n_spam=30, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n_ham):
        rows.append(("ham", f"{rng.choice(HAM)} {i}"))
    for i in range(n_spam):
        rows.append(("spam", f"{rng.choice(SPAM)} {i}"))
    rng.shuffle(rows)
    return rows


def write_sms_csv(p: Path) -> Path:
    import csv
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "message"])
        w.writerows(make_rows())
    return p


def train_tiny_sms(model_dir: Path, workdir: Path, **overrides):
    """A tiny model trained for 2 epochs on make_rows(): (Run, data path)."""
    import textclf
    from textclf.config import DataConfig, TrainConfig

    p = write_sms_csv(workdir / "sms.csv")
    settings = dict(epochs=2, batch_size=8, learning_rate=5e-4, max_length=32, early_stopping_patience=0,
                    refit=False)   # the default refit of small sets: tests/training/test_refit.py
    cfg = TrainConfig(data=DataConfig(train=str(p)), model=str(model_dir), output=str(workdir / "run"),
                      **{**settings, **overrides})
    return textclf.train(cfg, quiet=True), p


def train_tiny_multilabel(model_dir: Path, workdir: Path):
    """A tiny model trained for 2 epochs on multilabel_frame(300) with EMOTIONS as label names:
    (Run, data path)."""
    import textclf
    from textclf.config import DataConfig, TrainConfig

    p = workdir / "ml.csv"
    multilabel_frame(300).to_csv(p, index=False)
    names = workdir / "names.txt"
    names.write_text("\n".join(EMOTIONS))
    cfg = TrainConfig(data=DataConfig(train=str(p), label_names=str(names)), model=str(model_dir),
                      output=str(workdir / "run"), epochs=2, batch_size=16, learning_rate=5e-4,
                      max_length=32, early_stopping_patience=0, refit=False,
                      ensemble="none")   # the fine-tuned model's own outputs; the ensemble: test_ensemble.py
    return textclf.train(cfg, quiet=True), p


@pytest.fixture
def sms_csv(tmp_path) -> Path:
    return write_sms_csv(tmp_path / "sms.csv")


@pytest.fixture
def tiny_config(tiny_model_dir, tmp_path):
    """A TrainConfig factory for fast runs on the tiny model."""
    from textclf.config import DataConfig, TrainConfig

    def make(train, **kw):
        data = DataConfig(train=str(train), **kw.pop("data", {}))
        base = dict(model=str(tiny_model_dir), output=str(tmp_path / "run"), epochs=2,
                    batch_size=8, learning_rate=5e-4, max_length=32, early_stopping_patience=0,
                    refit=False)   # the default refit of small sets: tests/training/test_refit.py
        base.update(kw)
        return TrainConfig(data=data, **base)
    return make


EMOTIONS = ["joy", "anger", "fear", "love"]


def multilabel_frame(n=240, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = rng.choice([1, 1, 2])
        ids = sorted(rng.choice(4, size=k, replace=False).tolist())
        words = " ".join(EMOTIONS[j] + "word" for j in ids)
        rows.append({"text": f"comment {i} {words}", "labels": ",".join(map(str, ids))})
    return pd.DataFrame(rows)
