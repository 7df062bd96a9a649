"""Which validation rule picks the checkpoint that generalises? One training per data set.

Each set is trained once at textclf's defaults, except that every epoch runs (no early stopping)
and the per-text validation logits of every epoch are saved. Offline, the validation split is
halved at random many times: each rule picks an epoch on one half and is scored on the other
half, so no rule is judged on the texts it chose on (the test split is not used at all).

Rules:  task      the task's primary metric (binary: the positive class's F1), best epoch
                  (ties: the earlier epoch, as the Trainer keeps it)
        task_late the same, ties to the later epoch
        smoothed  the task's metric averaged with the neighbouring epochs', best epoch
        macro_f1  macro-F1 over the classes, best epoch
        loss      validation cross-entropy (lowest), best epoch
        patience  the task's metric with early stopping at patience 2 (today's default)
        last      the last epoch (no selection, as a plain notebook does)

Usage:
  python benchmarks/selection_rules.py train SET [--rows 2000] [--out DIR]   (heavy: run under flock)
  python benchmarks/selection_rules.py analyse DIR [DIR ...]
Sets: sms_spam, sick_entailment, mishra, trec (random slices of ../shared/data files).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

import os

SHARED = Path(os.environ.get("TEXTCLF_SHARED_DATA",
                             Path(__file__).resolve().parents[1].parent / "shared" / "data"))
RULES = ("task", "task_late", "smoothed", "macro_f1", "loss", "patience", "last")


def _slice(df, rows: int, seed: int = 0):
    idx = np.random.RandomState(seed).permutation(len(df))[:rows]
    return df.iloc[idx]


def build_set(name: str, rows: int, workdir: Path) -> dict:
    """A CSV slice of one shared data set and the DataConfig fields to read it."""
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{name}_{rows}.csv"
    extra: dict = {}
    if name == "sms_spam":
        df = pd.read_csv(SHARED / "sms_spam_uci" / "SMSSpamCollection", sep="\t", header=None,
                         names=["label", "text"], quoting=csv.QUOTE_NONE, dtype=str)
    elif name == "sick_entailment":   # pairs; ENTAILMENT (29%) against everything else
        raw = pd.read_csv(SHARED / "sick" / "SICK.txt", sep="\t", dtype=str)
        df = pd.DataFrame({"sentence1": raw.sentence_A, "sentence2": raw.sentence_B,
                           "label": np.where(raw.entailment_label == "ENTAILMENT", "entailment",
                                             "other")})
    elif name == "mishra":
        raw = pd.read_csv(SHARED / "sms_phishing_mishra" / "Dataset_5971.csv", encoding_errors="replace")
        df = pd.DataFrame({"text": raw.TEXT, "label": raw.label.str.lower()})
    elif name == "trec":
        lines = (SHARED / "trec" / "train_5500.label").read_bytes().decode("latin-1").splitlines()
        df = pd.DataFrame([{"label": ln.split(":", 1)[0], "text": ln.split(" ", 1)[1]}
                           for ln in lines if ln.strip()])
    else:
        raise SystemExit(f"unknown set {name}")
    _slice(df, rows).to_csv(out, index=False)
    return {"train": str(out), **extra}


def train_one(name: str, rows: int, out: Path, epochs: int, model: str = "default") -> None:
    import textclf
    import textclf.training.trainer as trainer_mod
    from textclf.config import DataConfig, TrainConfig

    per_epoch: list[np.ndarray] = []
    original = trainer_mod.doc_metric

    def recording_doc_metric(labels, valid_targets, valid_doc, aggregate_how="mean"):
        inner = original(labels, valid_targets, valid_doc, aggregate_how)

        def compute(pred):
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            per_epoch.append(trainer_mod.aggregate(np.asarray(logits, dtype=np.float32), valid_doc,
                                                   len(valid_targets), aggregate_how))
            return inner(pred)
        return compute

    trainer_mod.doc_metric = recording_doc_metric   # api.train imports it at call time
    try:
        cfg = TrainConfig(data=DataConfig(**build_set(name, rows, out / "data")),
                          model=model, output=str(out / name), epochs=epochs, early_stopping_patience=0,
                          baseline=False, overwrite=True)
        run = textclf.train(cfg, quiet=False)
    finally:
        trainer_mod.doc_metric = original
    from textclf.data.prepare import prepare
    data = prepare(cfg.data, seed=cfg.seed)
    y = np.asarray(data.labels.encode(data.splits["validation"].labels))
    np.savez(out / f"{name}_epochs.npz", logits=np.stack(per_epoch), y=y,
             positive=-1 if data.labels.positive_id is None else data.labels.positive_id,
             primary=data.labels.primary_metric)
    print(json.dumps({"set": name, "best_epoch": run.metrics["training"]["best_epoch"],
                      "test_primary": run.metrics["test"]["primary"]}))


def _scores(logits: np.ndarray, y: np.ndarray, positive: int) -> dict[str, np.ndarray]:
    """Per epoch: task metric, macro-F1 and cross-entropy of the given rows."""
    from sklearn.metrics import f1_score

    from textclf.evaluation.metrics import softmax

    k = logits.shape[-1]
    task, macro, loss = [], [], []
    for lg in logits:
        pred = lg.argmax(1)
        m = f1_score(y, pred, labels=list(range(k)), average="macro", zero_division=0)
        macro.append(m)
        task.append(m if positive < 0 else f1_score(y, pred, pos_label=positive, zero_division=0))
        p = softmax(lg.astype(np.float64))
        loss.append(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))
    return {"task": np.array(task), "macro_f1": np.array(macro), "loss": np.array(loss)}


def pick_epoch(rule: str, s: dict[str, np.ndarray], patience: int = 2) -> int:
    """The 0-based epoch a rule keeps, given per-epoch scores on the choosing half."""
    if rule == "last":
        return len(s["task"]) - 1
    if rule == "loss":
        return int(np.argmin(s["loss"]))
    if rule == "task_late":
        t = s["task"]
        return int(len(t) - 1 - np.argmax(t[::-1]))
    if rule == "smoothed":
        t = s["task"]
        avg = [np.mean(t[max(e - 1, 0):e + 2]) for e in range(len(t))]
        return int(len(t) - 1 - np.argmax(np.array(avg)[::-1]))
    if rule == "patience":   # the Trainer's early stopping: stop after `patience` non-improving epochs
        best, since = 0, 0
        for e in range(1, len(s["task"])):
            if s["task"][e] > s["task"][best]:
                best, since = e, 0
            else:
                since += 1
                if since >= patience:
                    break
        return best
    return int(np.argmax(s[rule]))   # ties: the first


def analyse(path: Path, repeats: int = 200, seed: int = 0) -> dict:
    z = np.load(path)
    logits, y, positive = z["logits"], z["y"], int(z["positive"])
    rng = np.random.RandomState(seed)
    held = {r: {"task": [], "macro_f1": []} for r in RULES}
    picked = {r: [] for r in RULES}
    for _ in range(repeats):
        idx = rng.permutation(len(y))
        a, b = idx[: len(y) // 2], idx[len(y) // 2:]
        sa, sb = _scores(logits[:, a], y[a], positive), _scores(logits[:, b], y[b], positive)
        for r in RULES:
            e = pick_epoch(r, sa)
            picked[r].append(e + 1)
            held[r]["task"].append(sb["task"][e])
            held[r]["macro_f1"].append(sb["macro_f1"][e])
    full = _scores(logits, y, positive)
    return {"set": path.name.removesuffix("_epochs.npz"), "valid_rows": int(len(y)),
            "primary": str(z["primary"]),
            "per_epoch_full_valid": {k: [round(float(v), 4) for v in vals] for k, vals in full.items()},
            "rules": {r: {"heldout_task": float(np.mean(held[r]["task"])),
                          "heldout_macro_f1": float(np.mean(held[r]["macro_f1"])),
                          "epochs_picked": np.bincount(picked[r], minlength=logits.shape[0] + 1)[1:].tolist()}
                      for r in RULES}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("set")
    t.add_argument("--rows", type=int, default=2000)
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--out", default="/tmp/textclf-selection")
    t.add_argument("--model", default="default")
    a = sub.add_parser("analyse")
    a.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    if args.cmd == "train":
        train_one(args.set, args.rows, Path(args.out), args.epochs, args.model)
        return
    results = [analyse(p) for d in args.dirs for p in sorted(Path(d).glob("*_epochs.npz"))]
    print(json.dumps(results, indent=1))
    print("\n| set | valid rows | metric | " + " | ".join(RULES) + " |")
    print("|---|---|---|" + "---|" * len(RULES))
    for r in results:
        for m in ("task", "macro_f1") if r["primary"] != "macro_f1" else ("task",):
            label = r["primary"] if m == "task" else "macro_f1"
            print(f"| {r['set']} | {r['valid_rows']} | held-out {label} | "
                  + " | ".join(f"{r['rules'][k][f'heldout_{m}']:.4f}" for k in RULES) + " |")


if __name__ == "__main__":
    main()
