"""Training wall time: `textclf train` against two hand-written Trainer scripts, in one run.

Same data (a fixed slice of the textclf split of ../shared/data/sms_spam_uci), same base model
(the packaged all-MiniLM-L6-v2), same epochs, batch size and learning rate; each run evaluates
on the validation split every epoch and is scored once on the same test split.

  (a) seed-style: tokenizer(padding="max_length", max_length=512) + plain Trainer
  (b) best practice: truncation at 128 + DataCollatorWithPadding (dynamic padding) + Trainer
  (c) textclf train (its defaults: label-mixed length grouping, class weights, TF-IDF baseline)

Usage: python benchmarks/train_speed.py [--train-rows 1000] [--epochs 2]
Prints wall time, samples/s and test spam-F1 of each, and the ratios (a)/(c) and (b)/(c).
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from textclf.config import DataConfig, TrainConfig

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam_uci" / "SMSSpamCollection"


def write_csv(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows(zip(labels, texts))


def hf_script(train, valid, test, *, pad_to_512: bool, epochs: float, lr: float, bs: int, out: str):
    """What people write by hand with the HF Trainer; returns (seconds, test spam F1)."""
    from datasets import Dataset
    from sklearn.metrics import f1_score
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              DataCollatorWithPadding, Trainer, TrainingArguments, set_seed)

    from textclf.models.base import default_model_dir

    start = time.perf_counter()
    set_seed(42)
    path = default_model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, id2label={0: "ham", 1: "spam"}, label2id={"ham": 0, "spam": 1})

    def ds(texts, labels):
        if pad_to_512:
            enc = tok(texts, padding="max_length", truncation=True, max_length=512)
        else:
            enc = tok(texts, truncation=True, max_length=128)
        return Dataset.from_dict({**enc, "labels": [int(lab == "spam") for lab in labels]})

    def metrics(p):
        return {"f1": f1_score(p.label_ids, p.predictions.argmax(-1))}

    args = TrainingArguments(output_dir=out, num_train_epochs=epochs, learning_rate=lr,
                             per_device_train_batch_size=bs, per_device_eval_batch_size=64,
                             eval_strategy="epoch", save_strategy="epoch", save_total_limit=1,
                             load_best_model_at_end=True, metric_for_best_model="f1",
                             report_to="none", disable_tqdm=True, warmup_steps=0.1, seed=42,
                             dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=args, train_dataset=ds(*train), eval_dataset=ds(*valid),
                      compute_metrics=metrics,
                      data_collator=None if pad_to_512 else DataCollatorWithPadding(tok))
    trainer.train()
    pred = trainer.predict(ds(*test))
    seconds = time.perf_counter() - start
    return seconds, float(f1_score(pred.label_ids, pred.predictions.argmax(-1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-rows", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--skip-512", action="store_true", help="skip the slow seed-style run")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="for all three runs (default: textclf's default batch size)")
    args = ap.parse_args()
    import textclf
    from textclf.data.prepare import prepare
    # import the libraries both sides use before any clock starts: whichever ran first would
    # otherwise pay the ~5 s of imports for the other
    import datasets  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import transformers.trainer  # noqa: F401

    data = prepare(DataConfig(train=str(SMS), no_header=True, columns=["label", "text"]))
    rng = np.random.default_rng(0)
    tr = data.splits["train"]
    pick = sorted(rng.choice(len(tr.texts), size=min(args.train_rows, len(tr.texts)), replace=False))
    defaults = TrainConfig(data=DataConfig(train="x")).for_training_rows(len(pick))
    lr, bs = defaults.learning_rate, args.batch_size or defaults.batch_size
    train = ([tr.texts[i] for i in pick], [tr.labels[i] for i in pick])
    valid = (data.splits["validation"].texts, data.splits["validation"].labels)
    test = (data.splits["test"].texts, data.splits["test"].labels)
    print(f"data: {len(train[0])} train / {len(valid[0])} validation / {len(test[0])} test rows, "
          f"{args.epochs:g} epochs, batch {bs}, lr {lr}")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for name, xs in (("train", train), ("valid", valid), ("test", test)):
            write_csv(t / f"{name}.csv", xs[0], xs[1])
        start = time.perf_counter()
        run = textclf.train(TrainConfig(
            data=DataConfig(train=str(t / "train.csv"), valid=str(t / "valid.csv"), test=str(t / "test.csv")),
            output=str(t / "run"), epochs=args.epochs, batch_size=bs, early_stopping_patience=0), quiet=True)
        results["textclf train"] = (time.perf_counter() - start, run.metrics["test"]["f1_positive"])
        print(f"textclf train: {results['textclf train'][0]:.1f} s", flush=True)
        results["(b) Trainer + DataCollatorWithPadding"] = hf_script(
            train, valid, test, pad_to_512=False, epochs=args.epochs, lr=lr, bs=bs, out=str(t / "b"))
        print(f"(b): {results['(b) Trainer + DataCollatorWithPadding'][0]:.1f} s", flush=True)
        if not args.skip_512:
            results["(a) seed-style, padding to 512"] = hf_script(
                train, valid, test, pad_to_512=True, epochs=args.epochs, lr=lr, bs=bs, out=str(t / "a"))

    ours = results["textclf train"][0]
    n = len(train[0]) * args.epochs
    print(f"\n{'run':40s} {'wall s':>8s} {'samples/s':>10s} {'test F1(spam)':>14s} {'time / textclf':>15s}")
    for name, (secs, f1) in results.items():
        print(f"{name:40s} {secs:8.1f} {n / secs:10.1f} {f1:14.4f} {secs / ours:14.2f}x")


if __name__ == "__main__":
    main()
