"""The public API: train(config) -> Run, evaluate(model, data) -> metrics, predict_file(...)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from textclf import runs
from textclf.config import DataConfig, TrainConfig
from textclf.data.checks import print_report
from textclf.evaluation.metrics import score
from textclf.evaluation.report import (calibration_line, decision_line, ensemble_line, print_metrics,
                                       verdict_line)
from textclf.errors import DataError
from textclf.reporting import finish_run

console = Console(stderr=False)


@dataclass
class Run:
    path: Path
    metrics: dict

    @property
    def model_dir(self) -> Path:
        return self.path / runs.MODEL_DIR

    def predictor(self):
        from textclf.inference.predictor import Predictor
        return Predictor.load(self.model_dir)


def train(cfg: TrainConfig, *, quiet: bool = False, say=None, callbacks=None) -> Run | None:
    """Train, evaluate and save a run: prepare data -> fit -> calibrate and decide -> score test
    -> write the run. Progress goes to `say` (default: print to stdout; `quiet`: nowhere); the
    results come back in the Run. Under torchrun/accelerate every process calls this; rank 0
    alone reads the data, writes the run and gets the Run, the others get None. A run is built
    in `.<name>.partial` beside its output and renamed into place when complete; an interrupted
    one stays there and `cfg.resume` continues it."""
    from textclf.training import distributed

    distributed.start()
    try:
        return _train(cfg, say=_silent if quiet else say, callbacks=callbacks)
    finally:
        distributed.stop()   # every process, whether it ended early, failed or finished


def _train(cfg: TrainConfig, *, say, callbacks) -> Run | None:
    """train's phases, inside the process group."""
    from textclf.training import distributed, phases, refit

    main = distributed.is_main()
    if not main:
        say = _silent
    elif say is None:
        say = console.print
    final, work = distributed.on_main(runs.begin, cfg.output, overwrite=cfg.overwrite,
                                      resume=cfg.resume)
    data, report = distributed.on_main(phases.read_data, cfg)
    print_report(report, _Printer(say))
    distributed.on_main(phases.start_run, work, cfg, data)   # the settings as given (resume compares them)
    cfg = cfg.for_training_rows(len(data.splits["train"].texts), data.labels.multi_label,
                                len(data.labels.names))   # freeze, rate, epochs
    prep = phases.prepare_data(cfg, data, report)
    fitted = phases.fit(cfg, prep, work, say, callbacks=callbacks)
    refitted = refit.refit(cfg, prep, fitted, work, say)   # cfg.refit: on train + validation
    if not main:
        return None
    decided = phases.calibrate_and_decide(cfg, prep, fitted.model, say)
    fitted, decided = refit.adopt(cfg, prep, fitted, decided, refitted)
    base = phases.fit_baseline(cfg, prep, say)
    decided = phases.combine(cfg, prep, fitted, decided, base, say)
    metrics = phases.score_test(cfg, prep, fitted, decided, base, say)
    issues, metrics["label_issues"] = phases.find_label_issues(prep, decided, say)
    phases.write_run(work, final.name, cfg, prep, fitted, decided, metrics, issues)
    finish_run(work, final, say=say)   # environment.json, report.html, model card
    runs.finish(work, final)
    phases.drop_progress(final)
    return Run(final, metrics)


def _silent(*args, **kwargs) -> None:
    return None


class _Printer:
    """A console-like object over a print callback (for the report printers)."""

    def __init__(self, say):
        self.print = say


def print_run(out, run: Run) -> None:
    """The end of `textclf train`: the test table next to the baseline, verdict, calibration,
    decision, where the run is."""
    metrics = run.metrics
    print_metrics(out, metrics["test"], metrics.get("baseline"))
    if "baseline" in metrics:
        out.print(verdict_line(metrics["test"], metrics["baseline"], metrics.get("comparison")))
    out.print(calibration_line(metrics["calibration"]))
    if "decision" in metrics:
        out.print(decision_line(metrics["decision"]))
    if line := ensemble_line(metrics):
        out.print(line)
    out.print(f"run saved to [bold]{run.path}[/] (model: {run.model_dir})")


def evaluate(model_path: str, data_cfg: DataConfig, *, quiet: bool = False,
             threshold: float | None = None, backend: str = "auto") -> dict:
    """Score a saved model on every row of a labelled file (`backend`: see Predictor.load)."""
    from textclf.data.load import load_labelled
    from textclf.inference.predictor import Predictor

    predictor = Predictor.load(model_path, backend=backend)
    space = predictor.labels
    d = load_labelled(data_cfg.train, text_col=data_cfg.text_col, label_col=data_cfg.label_col,
                      no_header=data_cfg.no_header, columns=data_cfg.columns, sep=data_cfg.sep,
                      text_pair_col=data_cfg.text_pair_col, label_cols=data_cfg.label_cols,
                      label_sep=data_cfg.label_sep,
                      label_names=list(space.names) if space.multi_label else None,
                      task="multilabel" if space.multi_label else "single")
    if predictor.text_pair and d.pairs is None:
        raise DataError(f"The model classifies text pairs but {data_cfg.train} has no second text "
                        "column; pass --text-pair-col.")
    if data_cfg.label_map:
        from textclf.data.labels import remap_labels
        d.labels = remap_labels(d.labels, data_cfg.label_map, source=str(data_cfg.train))
    if data_cfg.normalize_labels and not space.multi_label:   # map variants onto the model's spelling
        from textclf.data.labels import match_labels
        d.labels = match_labels(d.labels, space.names)
    y = np.asarray(space.encode(d.labels, source=str(data_cfg.train)))
    probs = predictor.predict_proba(d.texts, d.pairs, progress=not quiet)
    m = score(y, probs, space, predictor.thresholds_for(threshold))
    if not quiet:
        shown = getattr(predictor.backend, "path", None)
        print_metrics(console, m, title=f"Evaluation on {Path(data_cfg.train).name} "
                                        f"({shown.name if shown else 'torch'})")
    return m


def predict_file(model_path: str, input_path: str, output_path: str, *, overwrite: bool = False,
                 resume: bool = False, progress: bool = True, **options) -> str:
    """Predict every row of a CSV/TSV/JSONL/Parquet file into a CSV/TSV/JSONL/Parquet file (the
    rows plus label/score or labels, prob_<class>, and uncertainty with MC dropout), streamed in
    chunks; see textclf.inference.stream. Returns a one-line summary."""
    from textclf.inference.stream import predict_stream

    return predict_stream(model_path, input_path, output_path, overwrite=overwrite, resume=resume,
                          progress=progress, **options).summary()


@dataclass
class Issues:
    """What `label_issues` found: the table (most suspect first), the rows examined, and how the
    out-of-sample probabilities were made."""
    table: object          # pandas DataFrame: row, file, given, suggested, score, issue, text[, text_pair]
    rows: int
    files: list[str]
    method: str

    def summary(self) -> str:
        from textclf.evaluation.label_issues import summary_line
        return summary_line(self.table, self.rows)


def label_issues(data_cfg: DataConfig, *, folds: int = 5, seed: int = 42, model: str | None = None,
                 train_settings: dict | None = None, all_rows: bool = False, say=None) -> Issues:
    """Rows of the data files (the training file and any --valid/--test file) whose label looks
    wrong: out-of-fold probabilities from `folds` folds (the TF-IDF baseline, or fine-tuning
    `model` once per fold with `train_settings`), then cleanlab, conflicting duplicates and
    outliers (textclf.evaluation.label_issues)."""
    from textclf.data.prepare import read_files
    from textclf.evaluation import label_issues as li

    say = say or _silent
    li.require_cleanlab()
    read = read_files(data_cfg)
    pool = li.pool_of(read.files)
    li.check_folds(pool, folds)
    fold = li.fold_of(pool, folds, seed)
    start = time.perf_counter()
    if model is None:
        say(f"out-of-fold predictions of the TF-IDF + LR baseline, {folds} folds ...")
        probs, c = li.oof_tfidf(pool, fold)
        method = f"TF-IDF + logistic regression (C = {c:g}), {folds}-fold out-of-fold"
    else:
        probs = oof_finetuned(pool, fold, model, train_settings or {}, seed=seed, say=say)
        method = f"fine-tuned {model}, {folds}-fold out-of-fold"
    method += f", {time.perf_counter() - start:.0f} s"
    table = li.find_issues(pool, probs, all_rows=all_rows)
    return Issues(table=table, rows=len(pool.texts), files=sorted(set(pool.files)), method=method)


def oof_finetuned(pool, fold: np.ndarray, model: str, settings: dict, *, seed: int = 42,
                  say=None) -> np.ndarray:
    """Out-of-fold probabilities from fine-tuning: one textclf training run per fold (at train's
    defaults, with `settings` over them) on the other folds, predicting the held-out fold as its
    test split."""
    import tempfile

    import pandas as pd

    say = say or _silent
    names = list(pool.space.names)
    frame = pd.DataFrame({"text": pool.texts})
    if pool.pairs is not None:
        frame["text_pair"] = pool.pairs
    if pool.space.multi_label:
        for j, n in enumerate(names):
            frame[n] = pool.y[:, j].astype(int)
        data = dict(label_cols=names, task="multilabel")
    else:
        frame["label"] = pool.labels
        data = dict(label_col="label", task="single")
    probs = np.zeros((len(frame), len(names)))
    with tempfile.TemporaryDirectory(prefix="textclf-oof-") as tmp:
        for f in np.unique(fold):
            held = np.flatnonzero(fold == f)
            train_csv, held_csv = Path(tmp) / f"train-{f}.csv", Path(tmp) / f"held-{f}.csv"
            frame.iloc[np.flatnonzero(fold != f)].to_csv(train_csv, index=False)
            frame.iloc[held].to_csv(held_csv, index=False)
            say(f"fold {f + 1}/{len(np.unique(fold))}: fine-tuning on {len(frame) - len(held):,} rows ...")
            cfg = TrainConfig.parse({
                **settings, "model": model, "seed": seed, "output": str(Path(tmp) / f"run-{f}"),
                "data": dict(train=str(train_csv), test=str(held_csv), text_col="text",
                             text_pair_col="text_pair" if pool.pairs is not None else None, **data)})
            run = train(cfg, quiet=True)
            preds = pd.read_csv(run.path / "test_predictions.csv")
            for j, n in enumerate(names):
                if f"prob_{n}" in preds.columns:
                    probs[held, j] = preds[f"prob_{n}"].to_numpy()
    return probs


def write_issues(issues: Issues, path: str | Path, *, overwrite: bool = False) -> Path:
    """The issues table as CSV (the `file` column only where several files were examined)."""
    from textclf.errors import OutputExistsError

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it or choose "
                                "another --output.")
    table = issues.table if len(issues.files) > 1 else issues.table.drop(columns="file")
    runs.atomic_write(path, table.to_csv(index=False))
    return path
