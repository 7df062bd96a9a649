"""Combining the fine-tuned model with the TF-IDF model every run fits: nested evidence only.

For each (set, training size, split seed) of the learning-curve suite (benchmarks/learning_curve.py,
its --nested splits: 250 validation rows A decide, 250 rows B score, the test rows never read)
textclf trains at its defaults and keeps its run; then, offline:

  transformer   the run's own probabilities on B (the refit model's where the run refits)
  tfidf         TF-IDF + logistic regression on train, C chosen on A (textclf's baseline)
  tfidf_refit   the same with the chosen C refitted on train + A
  blend rules   p = (1 - w) p_transformer + w p_tfidf, with w in 0, 0.1, ..., 1 chosen on A from
                the first model's validation probabilities (validation_predictions.csv):
      w_primary   the w with the best primary metric on A (ties: the smaller w)
      w_nll       the w with the lowest log loss on A
      w_heldout   w_primary, used only where it beats w = 0 by 0.005 on held-out halves of A
                  (25 random halvings: choose on one half, score on the other), else 0
  Multi-label blends re-tune the shared threshold on A for each w.

Every cell appends one JSON line to --results as it finishes (skipped when run again).

Usage: python benchmarks/ensemble_rules.py run [--sets mishra,trec] [--sizes 1000] [--seeds 0,1]
           [--textclf-set KEY=VALUE ...] (e.g. refit=false: the first model at 1,000 rows)
       python benchmarks/ensemble_rules.py table
       python benchmarks/ensemble_rules.py variants [--tag -ensemble=none-refit=False]   (offline, saved probabilities)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import learning_curve as lc  # noqa: E402

WEIGHTS = np.round(np.linspace(0, 1, 11), 2)
RULES = ("w_primary", "w_nll", "w_heldout")
BLEND_MIN_GAIN = 0.005   # w_heldout: the held-out gain a blend must show to be used
STACK_RULES = ("stack", "stack_heldout")   # textclf's ensemble: --ensemble always / auto
PROBS_DIR = Path(os.environ.get("ENSEMBLE_PROBS_DIR", "/work/ensemble-probs"))   # per-row probabilities, outside the repo


def read_probs(path: Path, names) -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(path)
    return table[[f"prob_{n}" for n in names]].to_numpy(float)


def decide(y, probs, space, thresholds=None):
    """Predictions: argmax, or 0/1 at the (shared) thresholds for multi-label."""
    from textclf.evaluation.thresholds import apply_thresholds
    return apply_thresholds(probs, thresholds) if space.multi_label else probs.argmax(1)


def primary(y, probs, space, thresholds=None) -> float:
    from textclf.evaluation.metrics import primary_score
    return primary_score(y, decide(y, probs, space, thresholds), space)


def log_loss(y, probs, space) -> float:
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if space.multi_label:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def blend(a, b, w):
    return (1 - w) * a + w * b


def best_weight(y, pa, pb, space, by: str = "primary") -> tuple[float, list | None]:
    """(w, thresholds) chosen on these rows."""
    from textclf.evaluation.thresholds import tune_thresholds

    best = None
    for w in WEIGHTS:
        p = blend(pa, pb, w)
        th = tune_thresholds(y, p) if space.multi_label else None
        score = -log_loss(y, p, space) if by == "nll" else primary(y, p, space, th)
        if best is None or score > best[0] + 1e-12:
            best = (score, float(w), th)
    return best[1], best[2]


def heldout_gain(y, pa, pb, space, repeats: int = 25, seed: int = 0) -> float:
    """Mean gain of the w chosen on one random half of A over w = 0, scored on the other half."""
    from textclf.evaluation.thresholds import tune_thresholds

    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(repeats):
        idx = rng.permutation(len(y))
        fit, held = idx[: len(y) // 2], idx[len(y) // 2:]
        w, th = best_weight(y[fit], pa[fit], pb[fit], space)
        th0 = tune_thresholds(y[fit], pa[fit]) if space.multi_label else None
        gains.append(primary(y[held], blend(pa[held], pb[held], w), space, th)
                     - primary(y[held], pa[held], space, th0))
    return float(np.mean(gains))


def tfidf_probs(train, valid, test, space, multi):
    """TF-IDF + LR as textclf's baseline: on train (C on A) and refitted on train + A."""
    from textclf.evaluation.baseline import join_pairs, tfidf_baseline

    def texts(df):
        return join_pairs(df["text"].tolist(), df["text_pair"].tolist() if "text_pair" in df else None)

    def y(df):
        return np.asarray(space.encode(lc._labels_of(df, multi)))

    first = tfidf_baseline(texts(train), y(train), texts(valid), y(valid), texts(test), space)
    import pandas as pd
    both = pd.concat([train, valid])
    refit = tfidf_baseline(texts(both), y(both), texts(valid), y(valid), texts(test), space)
    return first["valid_probs"], first["probs"], refit["probs"], first["C"]


def cell(name, size, seed, work: Path) -> dict:
    pool, multi, names = lc.load_pool(name)
    train, valid, test = lc.draw(pool, seed, size, multi)
    work.mkdir(parents=True, exist_ok=True)
    lc.KEEP_RUNS = str(work / "kept")   # the run with its model (run_textclf drops the model)
    out = lc.run_textclf(train, valid, test, multi, names, work)
    run = work / "kept" / work.name
    metrics = json.loads((run / "metrics.json").read_text())
    cols = [c[len("prob_"):] for c in open(run / "test_predictions.csv").readline().strip().split(",")
            if c.startswith("prob_")]
    from textclf.data.labels import LabelSpace
    space = (LabelSpace(names=tuple(cols), multi_label=True) if multi
             else LabelSpace.from_values(lc._labels_of(train, False)))
    assert list(space.names) == cols, (space.names, cols)
    ya = np.asarray(space.encode(lc._labels_of(valid, multi)))
    yb = np.asarray(space.encode(lc._labels_of(test, multi)))
    tr_a = read_probs(run / "validation_predictions.csv", cols)
    alone = run / "test_predictions_model.csv"   # written where the run used its own ensemble
    tr_b = read_probs(alone if alone.exists() else run / "test_predictions.csv", cols)
    saved = json.loads((run / "model" / "config.json").read_text()).get("textclf", {})
    th_model = saved.get("thresholds") if multi else None
    tf_a, tf_b, tf_b_refit, c = tfidf_probs(train, valid, test, space, multi)
    from textclf.evaluation.thresholds import tune_thresholds
    th_tf = tune_thresholds(ya, tf_a) if multi else None
    row = {"set": name, "size": size, "seed": seed, "metric": space.primary_metric,
           "refit": "refit" in metrics["training"], "tfidf_C": c,
           "transformer": out["textclf"]["primary"],
           "transformer_check": primary(yb, tr_b, space, th_model),
           "tfidf": primary(yb, tf_b, space, th_tf), "tfidf_refit": primary(yb, tf_b_refit, space, th_tf),
           "seconds": out["textclf"]["wall_seconds"], "settings": dict(lc.OVERRIDES)}
    for rule in RULES:
        w, th = best_weight(ya, tr_a, tf_a, space, by="nll" if rule == "w_nll" else "primary")
        if rule == "w_heldout":
            row["heldout_gain"] = heldout_gain(ya, tr_a, tf_a, space)
            if row["heldout_gain"] < BLEND_MIN_GAIN:
                w, th = 0.0, th_model
        if w == 0.0 and multi:
            th = th_model
        row[rule] = {"w": w, "primary": primary(yb, blend(tr_b, tf_b, w), space, th),
                     "primary_tfidf_refit": primary(yb, blend(tr_b, tf_b_refit, w), space, th)}
    from textclf.evaluation import ensemble as ens
    tf_saved = tf_b_refit if row["refit"] else tf_b   # a run that refits saves a TF-IDF model refitted too
    for rule in STACK_RULES:
        got = ens.decide(ya, tr_a, tf_a, space, "auto" if rule == "stack_heldout" else "always", c)
        if got.applied:
            score = primary(yb, ens.combine(got, tr_b, tf_saved, space), space, got.thresholds)
        else:
            score = row["transformer_check"]
        row[rule] = {"used": got.applied, "heldout_gain": got.heldout_gain, "C": got.stacker_C, "primary": score}
    PROBS_DIR.mkdir(parents=True, exist_ok=True)
    tag = "".join(f"-{k}={v}" for k, v in sorted(lc.OVERRIDES.items()))
    np.savez_compressed(PROBS_DIR / f"{name}-{size}-{seed}{tag}.npz", ya=ya, yb=yb, tr_a=tr_a, tr_b=tr_b,
                        tf_a=tf_a, tf_b=tf_b, tf_b_refit=tf_b_refit, names=np.asarray(cols),
                        th_model=np.asarray(th_model if th_model is not None else []), refit=row["refit"])
    shutil.rmtree(work, ignore_errors=True)
    return row


def _settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def run(sets, sizes, seeds, results: Path, workdir: Path) -> None:
    lc.NESTED = True
    done = set()
    if results.exists():
        done = {(r["set"], r["size"], r["seed"], _settings_key(r.get("settings", {})))
                for r in map(json.loads, results.read_text().splitlines())}
    for size in sizes:
        for name in sets:
            for seed in seeds:
                if (name, size, seed, _settings_key(lc.OVERRIDES)) in done:
                    continue
                print(f"{name} {size} rows seed {seed} ...", flush=True)
                row = cell(name, size, seed, workdir / f"{name}-{size}-{seed}")
                with open(results, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


def table(results: Path) -> str:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    rules = (*RULES, *STACK_RULES)
    head = ["transformer", "tfidf", "tfidf_refit", *rules]
    lines = ["| set | rows | seed | " + " | ".join(head) + " | w chosen (primary / nll / heldout) |",
             "|---|---:|---:|" + "---:|" * len(head) + "---|"]

    def val(r, k):
        return r[k]["primary"] if k in r and isinstance(r[k], dict) else r.get(k, float("nan"))
    for r in sorted(rows, key=lambda r: (r["size"], lc.SETS.index(r["set"]), r["seed"])):
        vals = [val(r, k) for k in head]
        ws = " / ".join(f"{r[k]['w']:.1f}" for k in RULES)
        lines.append(f"| {r['set']} ({r['metric']}) | {r['size']} | {r['seed']} | "
                     + " | ".join("–" if np.isnan(v) else f"{v:.3f}" for v in vals) + f" | {ws} |")
    for size in sorted({r["size"] for r in rows}):
        for k in rules:
            got = [r for r in rows if r["size"] == size and k in r]
            if not got:
                continue
            gain = np.mean([val(r, k) - r["transformer"] for r in got])
            wins = sum(val(r, k) > r["transformer"] + 1e-9 for r in got)
            losses = sum(val(r, k) < r["transformer"] - 1e-9 for r in got)
            lines.append(f"\n{size} rows, {k}: mean {100 * gain:+.2f} points over the transformer alone, "
                         f"up in {wins}, down in {losses} of {len(got)} cells")
    return "\n".join(lines)


VARIANT_SPLITS = 10   # re-partitions of A + B per cell in `variants`


def _variant_scores(y, tr, tf, space, fit, held) -> dict:
    """Each combination rule decided on the `fit` rows, scored on the `held` rows (the model
    alone with its multi-label threshold tuned on `fit` too)."""
    from textclf.evaluation import ensemble as ens
    from textclf.evaluation.thresholds import tune_thresholds

    def score(probs, fit_probs):
        th = tune_thresholds(y[fit], fit_probs) if space.multi_label else None
        return primary(y[held], probs, space, th)

    out = {"model": score(tr[held], tr[fit]), "tfidf": score(tf[held], tf[fit])}
    got = ens.decide(y[fit], tr[fit], tf[fit], space, "always", 1.0)   # the held-out rule: its gain
    out["stack"] = primary(y[held], ens.combine(got, tr[held], tf[held], space), space, got.thresholds)
    out["stack_heldout"] = out["stack"] if ens.gain_suffices(got.heldout_gain) else out["model"]
    w, th = best_weight(y[fit], tr[fit], tf[fit], space)
    gain = heldout_gain(y[fit], tr[fit], tf[fit], space, repeats=10)
    out["blend_heldout"] = primary(y[held], blend(tr[held], tf[held], w), space, th) if gain >= BLEND_MIN_GAIN else out["model"]
    return out


def variants(tag: str, splits: int = VARIANT_SPLITS, size: int | None = None) -> str:
    """Combination rules re-scored offline from the saved probabilities of every cell whose file
    name ends in `tag`. A cell's 500 nested validation rows (A + B, never trained on where the run
    did not refit) are split into two halves `splits` times: each rule decides on one half and is
    scored on the other. Rules: TF-IDF alone, textclf's stacker always or by its held-out rule,
    and the linear blend by its held-out rule. The TF-IDF model's C was chosen on A (a three-value
    choice)."""
    from textclf.data.labels import LabelSpace

    names_seen, rows = None, []
    for f in sorted(PROBS_DIR.glob(f"*-{size or '*'}-*{tag}.npz")):
        d = np.load(f)
        multi = d["ya"].ndim == 2
        names = tuple(str(n) for n in d["names"])
        space = LabelSpace(names=names, multi_label=True) if multi else LabelSpace.from_values(list(names))
        y = np.concatenate([d["ya"], d["yb"]])
        tr, tf = np.concatenate([d["tr_a"], d["tr_b"]]), np.concatenate([d["tf_a"], d["tf_b"]])
        rng = np.random.default_rng(0)
        got = []
        for _ in range(splits):
            idx = rng.permutation(len(y))
            got.append(_variant_scores(y, tr, tf, space, idx[: len(y) // 2], idx[len(y) // 2:]))
        names_seen = list(got[0])
        rows.append((f.stem[: len(f.stem) - len(tag)], {k: float(np.mean([g[k] for g in got])) for k in names_seen}))
    if not rows:
        return f"no probability files ending in {tag}.npz in {PROBS_DIR}"
    lines = ["| cell | " + " | ".join(names_seen) + " |", "|---|" + "---:|" * len(names_seen)]
    lines += [f"| {cell} | " + " | ".join(f"{r[k]:.3f}" for k in names_seen) + " |" for cell, r in rows]
    for k in names_seen[1:]:
        g = np.array([r[k] - r["model"] for _, r in rows])
        lines.append(f"\n{k}: mean {100 * g.mean():+.2f} points over the model alone, "
                     f"up in {(g > 1e-9).sum()}, down in {(g < -1e-9).sum()} of {len(g)} cells")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    lc.add_grid_arguments(r, sizes="1000", seeds="0,1", results="benchmarks/ensemble_rules.jsonl",
                          workdir="/tmp/textclf-ensemble-rules")
    t = sub.add_parser("table")
    t.add_argument("--results", default="benchmarks/ensemble_rules.jsonl")
    v = sub.add_parser("variants", help="re-score combination rules on re-partitions of the saved validation probabilities")
    v.add_argument("--tag", default="", help="the end of the probability files' names, e.g. -ensemble=none-refit=False")
    v.add_argument("--size", type=int, help="only the cells of this training size")
    args = ap.parse_args()
    if args.cmd == "variants":
        print(variants(args.tag, size=args.size))
        return
    if args.cmd == "run":
        lc.set_overrides(args.textclf_set)
        run(args.sets.split(","), [int(x) for x in args.sizes.split(",")],
            [int(x) for x in args.seeds.split(",")], Path(args.results), Path(args.workdir))
    print(table(Path(args.results)))


if __name__ == "__main__":
    main()
