"""How well `textclf data issues` finds wrong labels, and whether dropping them helps.

flip: labels flipped at random (seeded) in sms_spam_uci and trec (6 coarse classes), at 3% and
  10% of rows, each flipped row given another class drawn uniformly; then the default pipeline
  (5-fold out-of-fold TF-IDF + LR, cleanlab) on the noisy labels. Prints, per set/rate/seed:
  precision@k (k = rows flipped) of the ranking `data issues --all-rows` writes, the rows cleanlab
  flags as label issues with their precision and recall, and seconds.
mishra: sms_phishing_mishra (labels lower-cased) split train/validation/test as `textclf train`
  splits it (seed 42 and further split seeds); the label issues are found on the train split alone,
  then the TF-IDF baseline (C on validation) is trained with and without the flagged rows and
  scored on test (macro-F1). --textclf also fine-tunes textclf with `drop_rows` (slow on a CPU).

Usage:
  python benchmarks/label_issues.py flip [--sets sms_spam_uci,trec] [--rates 0.03,0.1] [--seeds 0]
  python benchmarks/label_issues.py mishra [--seeds 42,0,1] [--textclf]
Data from ../shared/data (TEXTCLF_SHARED_DATA overrides).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("TEXTCLF_SHARED_DATA",
                             Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def load_pool(name: str):
    """An IssuePool of the whole set, rows numbered as in the file."""
    from textclf.config import DataConfig
    from textclf.data.labels import LabelSpace
    from textclf.data.prepare import read_files
    from textclf.evaluation.label_issues import IssuePool, pool_of

    if name == "sms_spam_uci":
        cfg = DataConfig(train=str(SHARED / "sms_spam_uci" / "SMSSpamCollection"), no_header=True,
                         columns=["label", "text"])
        return pool_of(read_files(cfg).files)
    if name == "trec":   # "COARSE:fine question ...", latin-1: not a format textclf reads
        path = SHARED / "trec" / "train_5500.label"
        lines = path.read_bytes().decode("latin-1").splitlines()
        kept = [(i, ln) for i, ln in enumerate(lines) if ln.strip()]
        labels = [ln.split(":", 1)[0] for _, ln in kept]
        return IssuePool(texts=[ln.split(" ", 1)[1] for _, ln in kept], labels=labels,
                         rows=[i for i, _ in kept], files=[str(path)] * len(kept),
                         space=LabelSpace.from_values(labels))
    raise SystemExit(f"unknown set {name}")


def flip_labels(pool, rate: float, seed: int) -> set[int]:
    """Flip round(rate * n) labels of the pool in place (each to another class, uniformly):
    the flipped rows' file row numbers."""
    rng = np.random.default_rng(seed)
    n = len(pool.labels)
    chosen = rng.choice(n, int(round(rate * n)), replace=False)
    names = list(pool.space.names)
    for i in chosen:
        others = [x for x in names if x != pool.labels[i]]
        pool.labels[i] = others[rng.integers(len(others))]
    return {pool.rows[i] for i in chosen}


def flip(args) -> None:
    from textclf.evaluation import label_issues as li

    for name in args.sets.split(","):
        for rate in map(float, args.rates.split(",")):
            for seed in map(int, args.seeds.split(",")):
                pool = load_pool(name)
                flipped = flip_labels(pool, rate, seed)
                start = time.perf_counter()
                probs, c = li.oof_tfidf(pool, li.fold_of(pool, li.DEFAULT_FOLDS, seed=42))
                table = li.find_issues(pool, probs, all_rows=True)
                seconds = time.perf_counter() - start
                k = len(flipped)
                hit = table["row"].isin(flipped).to_numpy()
                label = table["issue"].str.contains(li.LABEL, regex=False).to_numpy()
                print(json.dumps({
                    "set": name, "rate": rate, "seed": seed, "rows": len(pool.labels), "flipped": k,
                    "C": c, "precision_at_k": round(float(hit[:k].mean()), 4),
                    "flagged": int(label.sum()),
                    "flagged_precision": round(float(hit[label].mean()), 4) if label.any() else None,
                    "flagged_recall": round(float(hit[label].sum() / k), 4),
                    "seconds": round(seconds, 1)}), flush=True)


def mishra(args) -> None:
    from textclf.config import DataConfig
    from textclf.data.prepare import prepare
    from textclf.evaluation import label_issues as li
    from textclf.evaluation.baseline import tfidf_baseline
    from textclf.evaluation.metrics import classification_metrics

    path = SHARED / "sms_phishing_mishra" / "Dataset_5971.csv"
    for seed in map(int, args.seeds.split(",")):
        cfg = DataConfig(train=str(path), text_col="TEXT", label_col="label", normalize_labels=True)
        data = prepare(cfg, seed=seed)
        tr, va, te = (data.splits[s] for s in ("train", "validation", "test"))
        pool = li.pool_of([tr], space=data.labels)
        start = time.perf_counter()
        probs, c = li.oof_tfidf(pool, li.fold_of(pool, li.DEFAULT_FOLDS, seed=42))
        table = li.find_issues(pool, probs)
        flagged = table.loc[table["issue"].str.contains(li.LABEL, regex=False), "row"].tolist()
        seconds = time.perf_counter() - start
        space = data.labels
        keep = [i for i, r in enumerate(tr.rows) if r not in set(flagged)]
        results = {}
        for how, idx in (("all", list(range(len(tr.texts)))), ("without_flagged", keep)):
            base = tfidf_baseline([tr.texts[i] for i in idx], space.encode([tr.labels[i] for i in idx]),
                                  va.texts, space.encode(va.labels), te.texts, space)
            m = classification_metrics(np.asarray(space.encode(te.labels)), base["probs"], space)
            results[how] = {"macro_f1": round(m["macro_f1"], 4), "accuracy": round(m["accuracy"], 4),
                            "train_rows": len(idx)}
        changed = {}
        for r in table.loc[table["row"].isin(flagged)].itertuples():
            changed[f"{r.given}->{r.suggested}"] = changed.get(f"{r.given}->{r.suggested}", 0) + 1
        out = {"seed": seed, "train_rows": len(tr.texts), "flagged": len(flagged), "flagged_as": changed,
               "issues_seconds": round(seconds, 1), "tfidf": results}
        if args.textclf:
            out["textclf"] = textclf_runs(cfg, flagged, seed, args.workdir)
        print(json.dumps(out), flush=True)


def textclf_runs(cfg, flagged: list[int], seed: int, workdir: str) -> dict:
    """textclf at its defaults with and without the flagged training rows (DataConfig.drop_rows)."""
    import textclf
    from textclf.config import TrainConfig

    out = {}
    for how, drop in (("all", None), ("without_flagged", flagged)):
        run = textclf.train(TrainConfig(data=cfg.model_copy(update={"drop_rows": drop}), seed=seed,
                                        output=str(Path(workdir) / f"mishra-{seed}-{how}"),
                                        overwrite=True), quiet=True)
        out[how] = {"macro_f1": round(run.metrics["test"]["macro_f1"], 4),
                    "seconds": round(run.metrics["training"]["seconds"], 0)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flip")
    f.add_argument("--sets", default="sms_spam_uci,trec")
    f.add_argument("--rates", default="0.03,0.1")
    f.add_argument("--seeds", default="0")
    m = sub.add_parser("mishra")
    m.add_argument("--seeds", default="42")
    m.add_argument("--textclf", action="store_true")
    m.add_argument("--workdir", default="runs/label-issues-bench")
    args = ap.parse_args()
    {"flip": flip, "mishra": mishra}[args.cmd](args)


if __name__ == "__main__":
    main()
