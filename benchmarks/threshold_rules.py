"""Multi-label decision thresholds: which rule generalises? Compared on trained runs, offline.

  probs RUN_DIR [RUN_DIR ...]   validation probabilities of a saved run (the run's model on the
                                validation rows of its splits.json) and its test probabilities
                                (test_predictions.csv), saved as RUN_DIR/threshold_probs.npz
  compare RUN_DIR [...]         every rule, chosen test-free: fitted on part of the validation
                                split and scored on the rest (repeated), then fitted on all of
                                validation and scored once on test

Rules: 0.5        every label at 0.5
       fit        per label, the F1-maximising threshold on validation (labels with < 5
                  validation positives keep 0.5)
       heldout    per label, the fitted threshold only where it beat 0.5 on held-out halves of
                  validation (textclf.evaluation.thresholds.tune_binary_threshold)
       heldout-capped  heldout, refusing a threshold that predicts a label for more than twice
                  the validation texts that have it (0.5 stays)
       shrink-K   per label, 0.5 + n/(n+K) * (fit - 0.5), n = the label's validation positives
       global     one threshold for every label, the micro-F1-maximising one
       global-heldout  that one threshold only where it beat 0.5 on held-out halves (textclf's rule)
       global+label    global-heldout, then per label the micro-F1-maximising threshold (others
                  fixed) where it raised micro-F1 on held-out halves
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def save_probs(run: Path) -> Path:
    import pandas as pd

    from textclf.config import TrainConfig
    from textclf.data.prepare import prepare
    from textclf.inference.predictor import Predictor

    cfg = TrainConfig.from_yaml(run / "config.yaml")
    data = prepare(cfg.data, seed=cfg.seed)
    saved = json.loads((run / "splits.json").read_text())
    va, te = data.splits["validation"], data.splits["test"]
    if va.rows != saved["validation"]["rows"] or te.rows != saved["test"]["rows"]:
        raise SystemExit(f"{run}: the data no longer splits as it did for this run")
    predictor = Predictor.load(run, backend="torch")
    names = list(predictor.labels.names)
    p_valid = predictor.predict_proba(va.texts, va.pairs, progress=True)
    test = pd.read_csv(run / "test_predictions.csv")
    p_test = test[[f"prob_{n}" for n in names]].to_numpy(dtype=np.float64)
    out = run / "threshold_probs.npz"
    np.savez(out, p_valid=p_valid, p_test=p_test, names=np.array(names),
             y_valid=np.asarray(data.labels.encode(va.labels)),
             y_test=np.asarray(data.labels.encode(te.labels)))
    return out


def _micro_with(y, p, shared: float, j: int, grid: np.ndarray) -> np.ndarray:
    """Micro-F1 of the label matrix with label j at each threshold in `grid`, the rest at `shared`."""
    rest = np.delete(np.arange(y.shape[1]), j)
    pred, yr = p[:, rest] >= shared, y[:, rest].astype(bool)
    tp, fp, fn = (pred & yr).sum(), (pred & ~yr).sum(), (~pred & yr).sum()
    pj, yj = p[:, j][:, None] >= grid[None, :], y[:, j][:, None].astype(bool)
    tp = tp + (pj & yj).sum(0)
    fp, fn = fp + (pj & ~yj).sum(0), fn + (~pj & yj).sum(0)
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1)


def global_plus_label(y, p, repeats: int = 10, seed: int = 0) -> np.ndarray:
    from textclf.evaluation.thresholds import MIN_POSITIVES, _candidates, tune_binary_threshold

    shared = tune_binary_threshold(y.ravel(), p.ravel())["threshold"]
    t = np.full(y.shape[1], shared)
    rng = np.random.RandomState(seed)
    halves = [rng.permutation(len(y)) for _ in range(repeats)]

    def fitted(rows, j):
        grid = _candidates(p[rows, j])
        return grid[np.argmax(_micro_with(y[rows], p[rows], shared, j, grid))]

    for j in range(y.shape[1]):
        if y[:, j].sum() < MIN_POSITIVES:
            continue
        gains = []
        for idx in halves:
            a, b = idx[: len(idx) // 2], idx[len(idx) // 2:]
            for f, h in ((a, b), (b, a)):
                at = _micro_with(y[h], p[h], shared, j, np.array([fitted(f, j), shared]))
                gains.append(at[0] - at[1])
        if np.mean(gains) > 0:
            t[j] = fitted(np.arange(len(y)), j)
    return t


def capped_threshold(y_j, p_j, cap: float = 2.0) -> float:
    """heldout, but a threshold that predicts the label for more than `cap` times the texts that
    have it (on validation) is refused: 0.5 stays."""
    from textclf.evaluation.thresholds import tune_binary_threshold

    t = tune_binary_threshold(y_j, p_j)["threshold"]
    return t if (p_j >= t).mean() <= cap * max(y_j.mean(), 1 / len(y_j)) else 0.5


def rule_thresholds(rule: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    from textclf.evaluation.thresholds import GRID, f1_at, fit_thresholds, tune_binary_threshold

    n_labels = y.shape[1]
    if rule == "0.5":
        return np.full(n_labels, 0.5)
    if rule == "fit":
        return np.asarray(fit_thresholds(y, p))
    if rule == "heldout":
        return np.array([tune_binary_threshold(y[:, j], p[:, j])["threshold"] for j in range(n_labels)])
    if rule == "heldout-capped":
        return np.array([capped_threshold(y[:, j], p[:, j]) for j in range(n_labels)])
    if rule.startswith("shrink-"):
        k = float(rule.split("-", 1)[1])
        n = y.sum(0)
        return 0.5 + n / (n + k) * (np.asarray(fit_thresholds(y, p)) - 0.5)
    if rule == "global+label":
        return global_plus_label(y, p)
    if rule == "global-heldout":   # micro-F1 is the F1 of the flattened label matrix
        return np.full(n_labels, tune_binary_threshold(y.ravel(), p.ravel())["threshold"])
    if rule == "global":
        micro = f1_at(y.ravel(), p.ravel(), GRID)
        best = np.flatnonzero(np.isclose(micro, micro.max()))
        return np.full(n_labels, GRID[best[np.argmin(np.abs(GRID[best] - 0.5))]])
    raise ValueError(rule)


def scores(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> dict:
    from sklearn.metrics import f1_score

    pred = (p >= t[None, :]).astype(int)
    return {"micro_f1": f1_score(y, pred, average="micro", zero_division=0),
            "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
            "subset_acc": float((pred == y).all(1).mean()),
            "labels_per_text": float(pred.sum(1).mean())}


RULES = ("0.5", "fit", "heldout", "heldout-capped", "shrink-10", "shrink-30", "global", "global-heldout", "global+label")


def compare(npz: Path, fit_sizes: list[int], repeats: int, seed: int = 0) -> dict:
    z = np.load(npz)
    yv, pv, yt, pt = z["y_valid"], z["p_valid"], z["y_test"], z["p_test"]
    out = {"run": npz.parent.name, "valid_rows": int(len(yv)), "test_rows": int(len(yt)),
           "labels": int(yv.shape[1]), "true_labels_per_text_test": float(yt.sum(1).mean()),
           "validation": {}, "test": {}}
    rng = np.random.RandomState(seed)
    for m in fit_sizes:
        m = min(m, len(yv) // 2)
        acc = {r: [] for r in RULES}
        for _ in range(repeats):
            idx = rng.permutation(len(yv))
            fit, held = idx[:m], idx[m:]
            for r in RULES:
                acc[r].append(scores(yv[held], pv[held], rule_thresholds(r, yv[fit], pv[fit])))
        out["validation"][f"fit on {m}, scored on {len(yv) - m}"] = {
            r: {k: float(np.mean([a[k] for a in acc[r]])) for k in acc[r][0]} for r in RULES}
    for r in RULES:
        out["test"][r] = scores(yt, pt, rule_thresholds(r, yv, pv))
    return out


def markdown(res: dict) -> str:
    lines = []
    for part, blocks in (("validation", res["validation"]), ("test", {"fit on all validation": res["test"]})):
        for where, table in blocks.items():
            lines.append(f"\n{res['run']} — {part}, {where} (micro-F1 / macro-F1 / subset acc / labels per text)\n")
            lines.append("| rule | micro-F1 | macro-F1 | subset acc | labels/text |\n|---|---:|---:|---:|---:|")
            for r, s in table.items():
                lines.append(f"| {r} | {s['micro_f1']:.4f} | {s['macro_f1']:.4f} | {s['subset_acc']:.4f} | "
                             f"{s['labels_per_text']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probs")
    p.add_argument("runs", nargs="+")
    c = sub.add_parser("compare")
    c.add_argument("runs", nargs="+")
    c.add_argument("--fit-sizes", default="150,1000")
    c.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    for run in map(Path, args.runs):
        if args.cmd == "probs":
            print(save_probs(run))
            continue
        res = compare(run / "threshold_probs.npz", [int(s) for s in args.fit_sizes.split(",")], args.repeats)
        (run / "threshold_rules.json").write_text(json.dumps(res, indent=1))
        print(markdown(res))


if __name__ == "__main__":
    main()
