"""Backends agree, order survives length sorting, ONNX export round-trips, calibration and MC dropout."""
import json

import numpy as np
import pytest

import textclf
from textclf.errors import ModelError
from textclf.evaluation.calibration import expected_calibration_error, fit_temperature
from textclf.inference.onnx import export
from textclf.inference.predictor import ABSTAIN, Predictor

TEXTS = ["win a free prize now call", "see you at lunch", "ok", "urgent claim your cash reward now "
         "by texting win to 80082 before midnight tonight", "thanks"] * 3


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    """A tiny trained run with an ONNX export (fp32 + int8) in its model dir."""
    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("onnx"))
    report = export(run.path, say=lambda *a: None)
    return run, report


def test_export_writes_checked_files(exported):
    run, report = exported
    onnx_dir = run.model_dir / "onnx"
    assert (onnx_dir / "model.onnx").exists() and (onnx_dir / "model.int8.onnx").exists()
    assert json.loads((onnx_dir / "export.json").read_text()) == report
    assert report["fp32_max_abs_logit_diff"] < 1e-4
    assert report["bytes"]["onnx_int8"] < report["bytes"]["onnx_fp32"]
    assert set(report["test_fp32"]) >= {"accuracy", "f1_positive"}
    assert not list(run.model_dir.glob(".onnx.partial-*"))


def test_backends_agree(exported):
    run, _ = exported
    torch_p = Predictor.load(run.path, backend="torch")
    onnx_p = Predictor.load(run.path, backend="onnx-fp32")
    auto = Predictor.load(run.path)
    assert torch_p.backend.name == "torch" and onnx_p.backend.name == "onnx"
    assert auto.backend.name == "onnx" and auto.backend.path.name == "model.int8.onnx"
    a, b = torch_p.predict_proba(TEXTS), onnx_p.predict_proba(TEXTS)
    assert np.allclose(a, b, atol=1e-5)
    assert (a.argmax(1) == b.argmax(1)).all()
    assert np.allclose(auto.predict_proba(TEXTS), a, atol=0.05)   # int8: close, not equal


def test_order_is_restored_after_length_sorting(exported):
    run, _ = exported
    p = Predictor.load(run.path, backend="torch")
    batched = p.predict_proba(TEXTS, max_batch_tokens=24)   # several batches, sorted by length
    one_by_one = np.concatenate([p.predict_proba([t]) for t in TEXTS])
    assert np.allclose(batched, one_by_one, atol=1e-5)


def test_onnx_backend_refuses_mc_dropout_and_missing_export(exported, tiny_model_dir):
    run, _ = exported
    with pytest.raises(ModelError, match="torch backend"):
        Predictor.load(run.path, backend="onnx").mc_dropout(TEXTS, passes=3)
    with pytest.raises(ModelError, match="no ONNX export"):
        Predictor.load(tiny_model_dir, backend="onnx")


def test_mc_dropout_spread_and_seed(exported):
    run, _ = exported
    p = Predictor.load(run.path, backend="torch")
    mean1, ent1 = p.mc_dropout(TEXTS, passes=5, seed=3)
    mean2, ent2 = p.mc_dropout(TEXTS, passes=5, seed=3)
    assert np.array_equal(mean1, mean2) and np.array_equal(ent1, ent2)
    assert (ent1 > 0).all()
    runs = [p.to_probs(p.logits(TEXTS, dropout=True)) for _ in range(3)]
    assert np.abs(runs[0] - runs[1]).max() > 0          # dropout really is on
    assert np.allclose(p.predict_proba(TEXTS), p.predict_proba(TEXTS))   # and off again after


def test_min_confidence_abstains(exported):
    run, _ = exported
    p = Predictor.load(run.path, backend="torch")
    out = p.predict(TEXTS[:3], min_confidence=1.01)
    assert all(o["label"] == ABSTAIN and "top_label" in o for o in out)
    assert all(o["label"] != ABSTAIN for o in p.predict(TEXTS[:3], min_confidence=0.0))


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    clean = np.where(y[:, None] == np.arange(2)[None, :], 1.0, -1.0) + rng.normal(0, 1.2, (2000, 2))
    over = clean * 6                                     # same ranking, far too confident
    t = fit_temperature(over, y)
    assert 3 < t < 12
    from textclf.evaluation.metrics import softmax
    assert expected_calibration_error(softmax(over / t), y) < expected_calibration_error(softmax(over), y) / 2


def test_temperature_is_folded_into_the_head(exported, tiny_model_dir):
    from textclf.evaluation.calibration import fold_temperature
    from textclf.inference.backends import TorchBackend
    from textclf.models.base import load_classifier, load_tokenizer

    run, _ = exported
    cfg = json.loads((run.model_dir / "config.json").read_text())
    assert cfg["textclf"]["temperature"] > 0 and cfg["textclf"]["temperature_folded"] is True
    assert "ece_valid_after" in run.metrics["calibration"]
    model = load_classifier(str(tiny_model_dir))
    p = Predictor(model.config, load_tokenizer(str(tiny_model_dir)), TorchBackend(model))
    before = p.logits(TEXTS)
    assert fold_temperature(model, 2.5)
    assert np.allclose(p.logits(TEXTS), before / 2.5, atol=1e-5)


def test_predict_file_counts_abstentions(exported, tmp_path):
    import pandas as pd

    from textclf.api import predict_file

    run, _ = exported
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    summary = predict_file(str(run.path), str(src), str(out), backend="torch", min_confidence=1.01)
    df = pd.read_csv(out)
    assert (df["label"] == ABSTAIN).all() and f"{len(TEXTS)} abstained" in summary
    summary = predict_file(str(run.path), str(src), str(tmp_path / "o2.csv"), backend="torch",
                           min_confidence=0.0)
    assert "0 abstained" in summary


def _cost(batches, lengths, overhead):
    return sum(overhead + len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_batches_is_the_cheapest_split():
    import itertools
    import random

    from textclf.inference.predictor import length_batches

    rng = random.Random(0)
    for _ in range(30):
        lengths = [rng.randint(3, 128) for _ in range(rng.randint(1, 8))]
        overhead = rng.choice([1.0, 23.0, 57.0, 500.0])
        batches = list(length_batches(lengths, 4096, overhead_tokens=overhead))
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        # brute force: every way to cut the length-sorted list into contiguous batches
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        best = min(_cost([order[a:b] for a, b in zip((0, *cuts), (*cuts, len(order)))], lengths, overhead)
                   for k in range(len(order)) for cuts in itertools.combinations(range(1, len(order)), k))
        assert _cost(batches, lengths, overhead) == pytest.approx(best)


def test_length_batches_respects_budget_and_splits_mixed_lengths():
    from textclf.inference.predictor import length_batches

    lengths = [5] * 8 + [120] * 8
    assert [sorted(lengths[i] for i in b) for b in length_batches(lengths, 8192, overhead_tokens=23)] \
        == [[5] * 8, [120] * 8]                     # not all padded to 120
    assert len(list(length_batches([20] * 16, 8192, overhead_tokens=23))) == 1
    many = list(length_batches([100] * 1000, 1000, max_batch_size=256, overhead_tokens=57))
    assert all(len(b) * 100 <= 1000 for b in many) and sum(map(len, many)) == 1000
