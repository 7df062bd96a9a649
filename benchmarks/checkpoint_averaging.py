"""Which checkpoint, or which average of checkpoints, generalises? Nested evidence only.

For each (set, training size, split seed) of the learning-curve suite's --nested splits (250
validation rows A decide, 250 rows B score, the test rows never read) textclf trains once at its
defaults except that every epoch runs (no early stopping), no refit and no ensemble. The weights
at the end of every epoch are kept; afterwards the weights of every run of consecutive epochs
i..j are averaged (a uniform "soup" of one training's checkpoints; i = j is epoch i alone) and
scored on A and on B. Offline rules then pick one of them from A's scores alone:

  kept        the default: best epoch on A with early stopping at patience 2 (ties: the earlier)
  last        the last epoch (a plain notebook)
  avg_kept    the average of the kept epoch and the epochs after it up to where patience stops
  avg_lastK   the average of the last K epochs (K = 2, 3), avg_all: every epoch
  greedy      epochs in order of A score, each added to the average where A does not drop
  pick        kept or avg_last3, whichever scores higher on A (ties: avg_last3)

Single-label scores use argmax; multi-label tunes the shared threshold on A per candidate.
Every cell appends one JSON line to --results as it finishes (skipped when run again); the
per-range logits go to --workdir.

Usage: python benchmarks/checkpoint_averaging.py run [--sets trec,sick] [--sizes 4000] [--seeds 0,1]
           [--textclf-set KEY=VALUE ...] (one results file per setting)
       python benchmarks/checkpoint_averaging.py table [--results FILE]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curve as lc  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "checkpoint_averaging.jsonl"
RULES = ("kept", "last", "avg_kept", "avg_last2", "avg_last3", "avg_all", "greedy", "pick")


def epoch_weights():
    """A TrainerCallback keeping a CPU copy of the weights at the end of every epoch (in .states)."""
    from transformers.trainer_callback import TrainerCallback

    class EpochWeights(TrainerCallback):
        def __init__(self):
            self.states: list[dict] = []

        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            self.states.append({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    return EpochWeights()


def average(states: list[dict]) -> dict:
    """The uniform average of the floating-point tensors (others from the first state)."""
    out = {}
    for k, v in states[0].items():
        out[k] = sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
    return out


def score(y_a, y_b, logits_a, logits_b, space) -> tuple[float, float]:
    """(primary on A, primary on B); multi-label thresholds tuned on A."""
    from textclf.evaluation.metrics import primary_score
    from textclf.evaluation.thresholds import apply_thresholds, sigmoid, tune_thresholds

    if space.multi_label:
        pa, pb = sigmoid(logits_a), sigmoid(logits_b)
        th = tune_thresholds(y_a, pa)
        return (primary_score(y_a, apply_thresholds(pa, th), space),
                primary_score(y_b, apply_thresholds(pb, th), space))
    return (primary_score(y_a, logits_a.argmax(1), space), primary_score(y_b, logits_b.argmax(1), space))


def run_cell(name: str, size: int, seed: int, workdir: Path) -> dict:
    import textclf
    from textclf.config import DataConfig, TrainConfig
    from textclf.data.prepare import prepare
    from textclf.inference.predictor import Predictor

    pool, multi, names = lc.load_pool(name)
    train, valid, test = lc.draw(pool, seed, size, multi)
    work = workdir / (f"{name}-{size}-{seed}" + "".join(f"-{k}={v}" for k, v in lc.OVERRIDES.items()))
    work.mkdir(parents=True, exist_ok=True)
    for part, df in (("train", train), ("valid", valid), ("test", test)):
        df.to_csv(work / f"{part}.csv", index=False)
    extra = {"text_pair_col": "text_pair"} if "text_pair" in train else {}
    if multi:
        (work / "names.txt").write_text("\n".join(lc._present(names, train)) + "\n")
        extra.update(label_col="labels", label_sep=",", task="multilabel", label_names=str(work / "names.txt"))
    else:
        extra.update(label_col="label")
    cfg = TrainConfig(data=DataConfig(train=str(work / "train.csv"), valid=str(work / "valid.csv"),
                                      test=str(work / "test.csv"), text_col="text", **extra),
                      model=lc.base_model(), output=str(work / "run"), overwrite=True,
                      **{**lc.OVERRIDES, "early_stopping_patience": 0, "refit": False,
                         "ensemble": "none", "baseline": False})
    keep = epoch_weights()
    start = time.perf_counter()
    run = textclf.train(cfg, quiet=True, callbacks=[keep])
    seconds = time.perf_counter() - start
    pred = Predictor.load(run.model_dir, backend="torch", warmup=False)
    data = prepare(cfg.data, seed=cfg.seed)
    va, te = data.splits["validation"], data.splits["test"]
    y_a, y_b = pred.labels.encode(va.labels), pred.labels.encode(te.labels)
    n = len(keep.states)
    ranges, logits = {}, {}
    for i in range(n):
        for j in range(i, n):
            pred.model.load_state_dict(average(keep.states[i:j + 1]))
            la, lb = pred.logits(va.texts, va.pairs), pred.logits(te.texts, te.pairs)
            logits[f"a{i + 1}-{j + 1}"], logits[f"b{i + 1}-{j + 1}"] = la, lb
            ranges[f"{i + 1}-{j + 1}"] = score(y_a, y_b, la, lb, pred.labels)
    np.savez_compressed(work / "logits.npz", y_a=np.asarray(y_a), y_b=np.asarray(y_b), **logits)
    shutil.rmtree(work / "run", ignore_errors=True)
    return {"set": name, "size": size, "seed": seed, "settings": dict(lc.OVERRIDES), "epochs": n, "metric": pred.labels.primary_metric,
            "seconds": seconds, "ranges": {k: [round(a, 6), round(b, 6)] for k, (a, b) in ranges.items()}}


def _patience_pick(a: list[float], patience: int = 2) -> tuple[int, int]:
    """(kept epoch, last epoch trained) under early stopping at `patience`, 1-based."""
    best, since = 0, 0
    for e in range(1, len(a)):
        if a[e] > a[best]:
            best, since = e, 0
        else:
            since += 1
            if since >= patience:
                return best + 1, e + 1
    return best + 1, len(a)


def pick(rule: str, row: dict) -> str:
    """The range (\"i-j\") a rule keeps, from A's scores alone."""
    r, n = row["ranges"], row["epochs"]
    a = [r[f"{e}-{e}"][0] for e in range(1, n + 1)]
    kept, stop = _patience_pick(a)
    if rule == "kept":
        return f"{kept}-{kept}"
    if rule == "last":
        return f"{n}-{n}"
    if rule == "avg_kept":
        return f"{kept}-{stop}"
    if rule.startswith("avg_last"):
        return f"{max(1, n - int(rule[-1]) + 1)}-{n}"
    if rule == "avg_all":
        return f"1-{n}"
    if rule == "pick":
        tail = f"{max(1, n - 2)}-{n}"
        return tail if r[tail][0] >= r[f"{kept}-{kept}"][0] else f"{kept}-{kept}"
    if rule == "greedy":   # contiguous soups only were scored: grow the kept epoch's range greedily
        i = j = int(np.argmax(a)) + 1
        while True:
            options = [(r[f"{x}-{y}"][0], f"{x}-{y}") for x, y in ((i - 1, j), (i, j + 1))
                       if 1 <= x and y <= n]
            best = max(options, default=None)
            if best is None or best[0] < r[f"{i}-{j}"][0]:
                return f"{i}-{j}"
            i, j = map(int, best[1].split("-"))
    raise ValueError(rule)


def table(results: Path) -> str:
    rows = [json.loads(ln) for ln in results.read_text().splitlines() if ln.strip()]
    lines = ["| cell | " + " | ".join(RULES) + " |", "|---|" + "---:|" * len(RULES)]
    gains = {r: [] for r in RULES}
    for row in rows:
        kept = row["ranges"][pick("kept", row)][1]
        cells = []
        for rule in RULES:
            rng = pick(rule, row)
            b = row["ranges"][rng][1]
            gains[rule].append(b - kept)
            cells.append(f"{b:.3f} ({rng})")
        lines.append(f"| {row['set']} {row['size']} s{row['seed']} | " + " | ".join(cells) + " |")
    lines.append("| mean change vs kept (up/down) | " + " | ".join(
        f"{100 * np.mean(g):+.1f} ({sum(x > 1e-9 for x in g)}/{sum(x < -1e-9 for x in g)})"
        for g in gains.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    lc.add_grid_arguments(r, sizes="4000", seeds="0,1", results=str(RESULTS),
                          workdir="/tmp/textclf-checkpoint-averaging")
    t = sub.add_parser("table")
    t.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args()
    if args.cmd == "table":
        print(table(Path(args.results)))
        return
    lc.NESTED = True
    lc.set_overrides(args.textclf_set)
    results = Path(args.results)
    done = {(d["set"], d["size"], d["seed"]) for d in
            (json.loads(ln) for ln in (results.read_text().splitlines() if results.exists() else []) if ln.strip())}
    for name in args.sets.split(","):
        for size in map(int, args.sizes.split(",")):
            for seed in map(int, args.seeds.split(",")):
                if (name, size, seed) in done:
                    continue
                row = run_cell(name, size, seed, Path(args.workdir))
                with open(results, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{name} {size} seed {seed}: {row['seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
