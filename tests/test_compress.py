"""export --compress: pruned vocabulary + 4-bit embeddings + int8 weights, checked and chosen by auto."""
import json

import numpy as np
import pytest

from textclf.errors import ModelError
from textclf.inference import compress
from textclf.inference.onnx import export
from textclf.inference.predictor import Predictor

# words the tiny training set (conftest.make_rows) never has
UNSEEN = ["the quantum zeppelin serenaded xylophonic marmalade", "hyperbolic parallelograms "
          "bewildered the unflappable ornithologist", "zorbulated wibblefrotz", "prize"]


@pytest.fixture(scope="module")
def compressed(tiny_model_dir, tmp_path_factory):
    """A tiny trained run exported with --compress."""
    from conftest import train_tiny_sms

    run, data = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("compress"))
    report = export(run.path, compress=True, say=lambda *a: None)
    return run, report


def test_compress_writes_smaller_checked_files(compressed):
    run, report = compressed
    d = run.model_dir / "onnx"
    assert (d / "model.compressed.onnx").exists() and (d / "tokenizer.compressed" / "tokenizer.json").exists()
    assert not (d / "model.compressed.fp32.onnx").exists()          # the stage is not left behind
    assert json.loads((d / "export.json").read_text()) == report
    c = report["compressed"]
    assert c["bytes"] == (d / "model.compressed.onnx").stat().st_size + sum(
        f.stat().st_size for f in (d / "tokenizer.compressed").iterdir())
    assert c["bytes_onnx"] < report["bytes"]["onnx_int8"]
    assert c["smaller_than_safetensors"] > report["int8_smaller_than_safetensors"]
    assert c["vocabulary"]["kept"] < c["vocabulary"]["of"] == 30522
    # the remap round-trips: training texts whose tokens are all kept give the full model's logits
    assert c["kept_texts_checked"] > 0 and c["pruned_fp32_max_abs_logit_diff_on_kept_texts"] < 1e-4
    assert c["max_abs_logit_diff"] < 0.1
    assert set(c["test"]) >= {"accuracy", "f1_positive"} and set(c["delta_points_vs_torch"]) == set(c["test"])
    import pandas as pd
    assert c["test_unknown"]["texts"] == len(pd.read_csv(run.path / "test_predictions.csv"))
    assert c["speed"]["ms_per_text"]["compressed"] > 0 and c["speed"]["ms_per_text"]["int8"] > 0


def test_kept_tokens_follow_the_rule(tiny_model_dir):
    from textclf.models.base import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    vocab = tok.get_vocab()
    texts = ["win a free prize now", "win cash now", "lunch tomorrow"]
    base = set(compress.kept_ids(tok, [], size=0))                   # what is always kept
    assert {vocab[t] for t in ("a", "z", "##z", "##7", "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")} <= base
    assert not any(vocab[f"[unused{i}]"] in base for i in range(5)) and vocab["the"] not in base
    twice = {vocab[w] for w in ("win", "now")}
    kept = set(compress.kept_ids(tok, texts, size=len(base) + 2))
    assert kept == base | twice                                      # used twice: first in line
    first = set(compress.kept_ids(tok, [], size=len(base) + 1000))   # the vocabulary's first 1,000
    assert {vocab[w] for w in ("the", "of", "and", "##s")} <= first and vocab["lunch"] not in first
    kept = set(compress.kept_ids(tok, texts, size=len(first | twice)))
    assert kept == first | twice                                     # then those
    kept = set(compress.kept_ids(tok, texts, size=len(first | twice) + 5))
    assert {vocab["lunch"], vocab["tomorrow"], vocab["cash"], vocab["free"]} <= kept   # then those used once
    assert len(compress.kept_ids(tok, texts, size=9000)) == 9000     # and the vocabulary, in order


def test_pruned_tokenizer_splits_unseen_words_and_reports_unknowns(tiny_model_dir, tmp_path):
    from textclf.models.base import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    train = ["see you at lunch tomorrow", "win a free prize now call"] * 2
    kept = compress.kept_ids(tok, train, size=2020)
    small = compress.save_pruned_tokenizer(tok, kept, tmp_path / "tok")
    assert len(small.get_vocab()) == len(kept)
    for text in train:   # kept tokens: the same pieces, renumbered
        assert small.tokenize(text) == tok.tokenize(text)
        assert small(text)["input_ids"] != tok(text)["input_ids"]
    for text in UNSEEN:
        pieces = small.tokenize(text)
        assert small.unk_token not in pieces and "".join(p.removeprefix("##") for p in pieces) == text.replace(" ", "")
        assert len(pieces) >= len(tok.tokenize(text))
    enc = small(UNSEEN[:2], UNSEEN[2:], truncation=True, max_length=16)
    assert max(max(ids) for ids in enc["input_ids"]) < len(kept)
    assert enc["input_ids"][0][0] == small.cls_token_id and small.pad_token_id == kept.index(tok.pad_token_id)
    r = compress.unknown_share(tok, small, UNSEEN + ["emoji 😀 only"])
    assert r["unknown_pruned"] == r["unknown_full"] == 1             # the emoji, in both
    assert r["tokens_pruned"] > r["tokens_full"] and r["token_count_change"] > 0
    assert 0 < r["unknown_share_pruned"] < 0.1


def test_compressed_model_is_auto_and_close_to_torch(compressed):
    from conftest import make_rows

    run, _ = compressed
    auto = Predictor.load(run.path)
    assert auto.backend.path.name == "model.compressed.onnx"
    assert Predictor.load(run.path, backend="onnx-int8").backend.path.name == "model.int8.onnx"
    assert Predictor.load(run.path, backend="onnx").backend.path.name == "model.int8.onnx"
    assert Predictor.load(run.path, backend="onnx-fp32").backend.path.name == "model.onnx"
    torch_p = Predictor.load(run.path, backend="torch")
    texts = [t for _, t in make_rows()][:30]   # training-like texts: their tokens are kept
    assert np.allclose(auto.predict_proba(texts), torch_p.predict_proba(texts), atol=0.05)


def test_unseen_words_do_not_break_the_compressed_model(compressed):
    run, _ = compressed
    small, torch_p = Predictor.load(run.path, backend="compressed"), Predictor.load(run.path, backend="torch")
    texts = UNSEEN + [" ".join(UNSEEN) * 20, "😀😀😀", ""]
    p = small.predict_proba(texts)
    assert p.shape == (len(texts), 2) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.abs(p - torch_p.predict_proba(texts)).max() < 0.5      # moved by the new pieces, not lost
    assert [o["label"] for o in small.predict(texts)]


def test_compress_refusals(compressed, tiny_model_dir):
    run, _ = compressed
    with pytest.raises(ModelError, match="not inside a run dir"):
        export(tiny_model_dir, compress=True, say=lambda *a: None)
    with pytest.raises(ModelError, match="no compressed export"):
        Predictor.load(tiny_model_dir, backend="compressed")
    with pytest.raises(ModelError, match="Unknown backend"):
        Predictor.load(run.path, backend="int4")


def test_compress_names_missing_training_data(tiny_model_dir, tmp_path):
    from conftest import train_tiny_sms

    run, data = train_tiny_sms(tiny_model_dir, tmp_path)
    data.unlink()
    with pytest.raises(ModelError, match="training data"):
        export(run.path, compress=True, say=lambda *a: None)
    assert not (run.model_dir / "onnx").exists()


def test_report_and_card_show_the_export(compressed):
    from textclf.reporting import write_reports

    run, report = compressed
    html, card = (p.read_text(encoding="utf-8") for p in write_reports(run.path))
    c = report["compressed"]
    for page in (html, card):
        assert "Exported models" in page and "compressed (pruned vocabulary" in page
        assert f"{c['smaller_than_safetensors']:.2f}x" in page
        assert f"Vocabulary {c['vocabulary']['kept']:,} of 30,522 tokens" in page
        assert "unknown tokens" in page


def test_push_onnx_takes_the_compressed_export(compressed):
    from textclf.publish import plan

    run, _ = compressed
    with_onnx = {u.path_in_repo for u in plan(run.model_dir, onnx=True)[0]}
    assert {"onnx/model.int8.onnx", "onnx/model.compressed.onnx",
            "onnx/tokenizer.compressed/tokenizer.json"} <= with_onnx
    assert not any(p.startswith("onnx/") for p in (u.path_in_repo for u in plan(run.model_dir)[0]))


def test_cli_evaluate_backend_and_compress_errors(compressed, capsys, monkeypatch, tiny_model_dir):
    from conftest import write_sms_csv
    from test_cli import run_cli

    run, report = compressed
    data = write_sms_csv(run.path.parent / "eval.csv")
    for backend, shown in (("compressed", "model.compressed.onnx"), ("onnx-int8", "model.int8.onnx"),
                           ("torch", "torch")):
        code, out, err = run_cli(["evaluate", str(run.path), str(data), "--backend", backend],
                                 capsys, monkeypatch)
        assert code == 0 and shown in out, err
    for argv, says in ((["evaluate", str(run.path), str(data), "--backend", "int4"], "Unknown backend"),
                       (["export", str(tiny_model_dir), "--compress"], "not inside a run dir"),
                       (["export", str(run.path), "--vocab-size", "3000"], "an option of --compress")):
        code, out, err = run_cli(argv, capsys, monkeypatch)
        assert code == 2 and says in err and "Traceback" not in err
