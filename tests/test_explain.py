"""Explanations: on a tiny SMS model that has learned spam, spam words carry the spam attribution."""
import re
import sys

import numpy as np
import pytest

from conftest import HAM, SPAM
from test_cli import run_cli

pytest.importorskip("captum", reason="captum is in the test extra (pip install -e '.[test]')")

SPAM_WORDS = {w for t in SPAM for w in t.split()} - {w for t in HAM for w in t.split()}
HAM_WORDS = {w for t in HAM for w in t.split()} - {w for t in SPAM for w in t.split()}
# unseen mixes of both vocabularies: the spam words must carry the spam label
MIXED_SPAM = "thanks for dinner, claim your free prize"
MIXED_HAM = "happy birthday lets meet at the station"


@pytest.fixture(scope="module")
def spam_run(tiny_model_dir, tmp_path_factory):
    """The tiny model trained until it separates the conftest SMS rows (test F1 on spam = 1)."""
    import textclf
    from conftest import write_sms_csv
    from textclf.config import DataConfig, TrainConfig

    root = tmp_path_factory.mktemp("explain")
    cfg = TrainConfig(data=DataConfig(train=str(write_sms_csv(root / "sms.csv"))),
                      model=str(tiny_model_dir), output=str(root / "run"), epochs=10, batch_size=8,
                      learning_rate=3e-3, max_length=32, freeze="none", early_stopping_patience=0,
                      baseline=False)
    run = textclf.train(cfg, quiet=True)
    assert run.metrics["test"]["f1_positive"] == 1.0, "the tiny model did not learn spam"
    return run.path


@pytest.fixture(scope="module")
def explainer(spam_run):
    import textclf
    from textclf.inference.explain import Explainer

    return Explainer(textclf.load(spam_run, backend="torch"))


def test_spam_words_carry_the_spam_attribution(explainer):
    e = explainer.explain(MIXED_SPAM)
    assert e["label"] == "spam" and e["target"] == "spam" and e["unit"] == "log-odds"
    by_word = {w["word"]: w["attribution"] for w in e["words"]}
    ranked = sorted((w for w in by_word if w.isalnum()), key=lambda w: -by_word[w])
    assert set(ranked[:3]) <= SPAM_WORDS, ranked
    present_spam = [w for w in by_word if w in SPAM_WORDS]
    present_ham = [w for w in by_word if w in HAM_WORDS]
    assert present_spam and present_ham
    assert min(by_word[w] for w in present_spam) > max(by_word[w] for w in present_ham)


def test_ham_words_carry_the_ham_attribution(explainer):
    e = explainer.explain(MIXED_HAM)
    assert e["label"] == "ham"
    pro = [w["word"] for w in sorted(e["words"], key=lambda w: -w["attribution"])][:3]
    assert set(pro) <= HAM_WORDS, pro


def test_attributions_add_up_and_mirror_between_two_labels(explainer):
    spam = explainer.explain(MIXED_SPAM, target="spam", steps=100)
    ham = explainer.explain(MIXED_SPAM, target="ham", steps=100)
    a = np.array([t["attribution"] for t in spam["tokens"]])
    b = np.array([t["attribution"] for t in ham["tokens"]])
    # binary softmax: log-odds(ham) = -log-odds(spam), so every token's share flips sign
    assert np.allclose(a, -b, atol=1e-4 * max(1.0, np.abs(a).max()))
    assert spam["convergence_delta"] < 0.05 * max(1.0, abs(a.sum()))   # completeness holds
    # words are the merged pieces: their sum is the tokens' sum, their spans cut the text
    assert sum(w["attribution"] for w in spam["words"]) == pytest.approx(a.sum(), rel=1e-5, abs=1e-6)
    assert "".join(p["text"] for p in spam["segments"][0]) == MIXED_SPAM
    assert all(MIXED_SPAM[w["start"]:w["end"]] == w["word"] for w in spam["words"])


def test_word_pieces_are_merged_into_words(explainer):
    text = "unbelievably wonderful congratulations"
    e = explainer.explain(text)
    assert len(e["tokens"]) > 3                           # the tokenizer split some words
    assert [w["word"] for w in e["words"]] == text.split()


@pytest.mark.parametrize("kw,message", [
    ({"target": "eggs"}, "Unknown label 'eggs'"),
    ({"steps": 1}, "steps must be between"),
])
def test_bad_requests(explainer, kw, message):
    from textclf.inference.explain import ExplainError

    with pytest.raises(ExplainError, match=message):
        explainer.explain("win a prize", **kw)
    with pytest.raises(ExplainError, match="non-empty"):
        explainer.explain("   ")




def test_predict_explain_prints_the_top_words(spam_run, capsys, monkeypatch):
    code, out, err = run_cli(["predict", str(spam_run), "--explain", MIXED_SPAM, MIXED_HAM],
                             capsys, monkeypatch)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("spam\t") and lines[2].startswith("ham\t")
    why = lines[1].split("why spam:")[1].split(" | ")[0]
    top = re.findall(r"(\S+) [+-]\d+\.\d+", why)
    assert top and set(top[:3]) <= SPAM_WORDS, lines[1]
    assert "why ham:" in lines[3]


def test_missing_captum_is_one_sentence(spam_run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum.attr", None)   # import fails as if not installed
    code, out, err = run_cli(["predict", str(spam_run), "--explain", "hi"], capsys, monkeypatch)
    assert code == 2 and "pip install 'textclf[explain]'" in err and "Traceback" not in err


def test_multilabel_and_pair_models_are_explained(tiny_model_dir, tmp_path):
    """Multi-label: the chosen label's sigmoid log-odds; pairs: words of both texts, by segment."""
    import pandas as pd

    import textclf
    from conftest import EMOTIONS, multilabel_frame
    from textclf.config import DataConfig, TrainConfig
    from textclf.inference.explain import Explainer

    p = tmp_path / "ml.csv"
    multilabel_frame(120).to_csv(p, index=False)
    base = dict(model=str(tiny_model_dir), epochs=1, batch_size=16, max_length=32,
                early_stopping_patience=0, baseline=False)
    ml = textclf.train(TrainConfig(data=DataConfig(train=str(p), label_names=",".join(EMOTIONS)),
                                   output=str(tmp_path / "ml"), **base), quiet=True)
    e = Explainer(textclf.load(ml.path, backend="torch")).explain("comment fearword", target="fear")
    assert e["target"] == "fear" and [w["word"] for w in e["words"]] == ["comment", "fearword"]
    assert abs(sum(w["attribution"] for w in e["words"])) > 0

    pairs = tmp_path / "pairs.csv"
    rows = [{"sentence1": f"a cat sat {i}", "sentence2": f"a cat {'sat' if i % 2 else 'ran'}",
             "label": "entailment" if i % 2 else "contradiction"} for i in range(40)]
    pd.DataFrame(rows).to_csv(pairs, index=False)
    pm = textclf.train(TrainConfig(data=DataConfig(train=str(pairs)), output=str(tmp_path / "pm"), **base),
                       quiet=True)
    ex = Explainer(textclf.load(pm.path, backend="torch"))
    e = ex.explain("a cat sat", "a cat ran")
    assert [(w["word"], w["segment"]) for w in e["words"]] == [
        ("a", 0), ("cat", 0), ("sat", 0), ("a", 1), ("cat", 1), ("ran", 1)]
    assert ["".join(p["text"] for p in seg) for seg in e["segments"]] == ["a cat sat", "a cat ran"]
    from textclf.inference.explain import ExplainError
    with pytest.raises(ExplainError, match="give the second text"):
        ex.explain("a cat sat")
