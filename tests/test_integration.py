"""Integration: the real packaged all-MiniLM-L6-v2 on a slice of real SMS data (about a minute)."""
import csv
from pathlib import Path

import pytest

import textclf
from textclf.config import DataConfig, TrainConfig

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam_uci" / "SMSSpamCollection"

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not SMS.exists(), reason=f"{SMS} not found (../shared missing)")]


def test_default_model_learns_spam_on_real_sms_slice(tmp_path):
    rows = [line.split("\t", 1) for line in SMS.read_text(encoding="utf-8").splitlines()[:1400]]
    data = tmp_path / "sms.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows(rows)
    cfg = TrainConfig(data=DataConfig(train=str(data)), output=str(tmp_path / "run"), epochs=2)
    run = textclf.train(cfg)
    test = run.metrics["test"]
    assert test["n"] > 150 and test["per_class"]["spam"]["support"] >= 15
    assert test["f1_positive"] >= 0.90, test["f1_positive"]
    assert test["accuracy"] >= 0.97
    # the saved model predicts the obvious cases
    preds = textclf.load(run.path).predict([
        "WINNER! You have won a 1000 cash prize. Call 09061701461 now to claim",
        "ok see you at home later tonight"])
    assert [p["label"] for p in preds] == ["spam", "ham"]
